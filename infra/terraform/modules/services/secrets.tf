# The two secrets of the contract's environment live in Secrets Manager; ECS injects them into
# the containers as DATABASE_URL and ADMIN_TOKEN. Generated names: a torn-down stack's secrets
# wait out their recovery window without blocking a new stack of the same name.

resource "aws_secretsmanager_secret" "database_url" {
  name_prefix             = "${var.name_prefix}-database-url-"
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "database_url" {
  secret_id     = aws_secretsmanager_secret.database_url.id
  secret_string = var.database_url
}

resource "aws_secretsmanager_secret" "admin_token" {
  name_prefix             = "${var.name_prefix}-admin-token-"
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "admin_token" {
  secret_id     = aws_secretsmanager_secret.admin_token.id
  secret_string = var.admin_token
}
