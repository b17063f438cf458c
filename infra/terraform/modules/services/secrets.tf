# The two secrets of the contract's environment live in Secrets Manager; ECS injects them into
# the containers under their variable names. Generated names: a torn-down stack's secrets wait
# out their recovery window without blocking a new stack of the same name.

locals {
  # Keyed by environment variable. The keys drive for_each; the values stay sensitive.
  secret_values = {
    DATABASE_URL = var.database_url
    ADMIN_TOKEN  = var.admin_token
  }
}

resource "aws_secretsmanager_secret" "environment" {
  for_each                = toset(keys(local.secret_values))
  name_prefix             = "${var.name_prefix}-${lower(replace(each.key, "_", "-"))}-"
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "environment" {
  for_each      = aws_secretsmanager_secret.environment
  secret_id     = each.value.id
  secret_string = local.secret_values[each.key]
}
