# The secrets of the services' environment live in Secrets Manager; ECS injects them into the
# containers under their variable names. Generated names: a torn-down stack's secrets wait out
# their recovery window without blocking a new stack of the same name.

locals {
  # Keyed by environment variable. The keys drive for_each; the values stay sensitive.
  secret_values = {
    DATABASE_URL = var.database_url
    ADMIN_TOKEN  = var.admin_token
    # The key the API signs CloudFront URLs with; the processor never sees it.
    CLOUDFRONT_PRIVATE_KEY = var.cloudfront_private_key_pem
  }
  # Which secrets each service's task gets. ADMIN_TOKEN: the processor's control plane
  # accepts it (and admin keys, checked in Postgres).
  service_secrets = {
    api       = ["DATABASE_URL", "ADMIN_TOKEN", "CLOUDFRONT_PRIVATE_KEY"]
    processor = ["DATABASE_URL", "ADMIN_TOKEN"]
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
