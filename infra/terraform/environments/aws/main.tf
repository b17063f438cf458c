# The whole production stack: buckets, CloudFront, RDS Postgres, the API and the processor on
# ECS Fargate behind a load balancer. See "Deploy to AWS" in the README.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}

locals {
  # `aws_endpoint` points every service at an emulator (the test suite uses moto); real
  # deployments leave it null and the provider talks to AWS with the usual credentials.
  emulated = var.aws_endpoint != null
}

provider "aws" {
  region                      = var.region
  s3_use_path_style           = local.emulated
  skip_credentials_validation = local.emulated
  skip_requesting_account_id  = local.emulated
  skip_metadata_api_check     = local.emulated
  dynamic "endpoints" {
    for_each = local.emulated ? [var.aws_endpoint] : []
    content {
      cloudfront     = endpoints.value
      cloudwatch     = endpoints.value
      cloudwatchlogs = endpoints.value
      ec2            = endpoints.value
      ecs            = endpoints.value
      elbv2          = endpoints.value
      events         = endpoints.value
      iam            = endpoints.value
      rds            = endpoints.value
      s3             = endpoints.value
      secretsmanager = endpoints.value
      sns            = endpoints.value
      sts            = endpoints.value

      # The processor's scalable target and scaling policies.
      applicationautoscaling = endpoints.value
    }
  }
  default_tags {
    tags = { Application = "vodnest", Stack = var.name_prefix }
  }
}

module "network" {
  source      = "../../modules/network"
  name_prefix = var.name_prefix
  region      = var.region
}

module "storage" {
  source              = "../../modules/storage"
  name_prefix         = var.name_prefix
  allowed_origins     = local.app_origins
  raw_lifecycle       = true
  raw_archive_days    = var.raw_archive_days
  raw_expiration_days = var.raw_expiration_days
  force_destroy       = var.force_destroy_buckets
}

module "cdn" {
  source                            = "../../modules/cdn"
  name_prefix                       = var.name_prefix
  media_bucket_id                   = module.storage.media_bucket
  media_bucket_arn                  = module.storage.media_bucket_arn
  media_bucket_regional_domain_name = module.storage.media_bucket_regional_domain_name
  allowed_origins                   = local.app_origins
  cors_headers_policy               = var.cdn_cors_headers_policy
  price_class                       = var.cdn_price_class
  signing_public_key_pem            = var.cloudfront_public_key_pem
}

module "database" {
  source                    = "../../modules/database"
  name_prefix               = var.name_prefix
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  client_security_group_ids = [module.services.api_security_group_id, module.services.processor_security_group_id]
  password                  = var.database_password
  instance_class            = var.database_instance_class
  deletion_protection       = var.database_deletion_protection
  final_snapshot            = var.database_final_snapshot
}

module "services" {
  source                      = "../../modules/services"
  name_prefix                 = var.name_prefix
  region                      = var.region
  vpc_id                      = module.network.vpc_id
  subnet_ids                  = module.network.public_subnet_ids
  private_subnet_ids          = module.network.private_subnet_ids
  s3_prefix_list_id           = module.network.s3_prefix_list_id
  endpoints_security_group_id = module.network.endpoints_security_group_id
  database_security_group_id  = module.database.security_group_id
  grpc_admin_cidr             = var.grpc_admin_cidr
  cloudfront_key_pair_id      = module.cdn.key_pair_id
  cloudfront_distribution_id  = module.cdn.distribution_id
  cloudfront_distribution_arn = module.cdn.distribution_arn
  cloudfront_private_key_pem  = var.cloudfront_private_key_pem
  raw_bucket                  = module.storage.raw_bucket
  raw_bucket_arn              = module.storage.raw_bucket_arn
  media_bucket                = module.storage.media_bucket
  media_bucket_arn            = module.storage.media_bucket_arn
  media_base_url              = local.media_base_url
  database_url                = module.database.url
  admin_token                 = var.admin_token
  api_image                   = var.api_image
  processor_image             = var.processor_image
  api_count                   = var.api_count
  processor_cpu               = var.processor_cpu
  processor_memory            = var.processor_memory
  processor_concurrency       = var.processor_concurrency
  certificate_arn             = var.certificate_arn
  public_url                  = var.app_origin

  processor_min_count             = var.processor_min_count
  processor_max_count             = var.processor_max_count
  processor_scale_in_idle_minutes = var.processor_scale_in_idle_minutes
  # The processor scales on the queue metric the API publishes.
  queue_metric = {
    namespace  = module.monitoring.queue_metric_namespace
    names      = module.monitoring.queue_metric_names
    dimensions = module.monitoring.queue_metric_dimensions
    statistic  = module.monitoring.queue_metric_statistic
  }
}

module "monitoring" {
  source                                  = "../../modules/monitoring"
  name_prefix                             = var.name_prefix
  region                                  = var.region
  cluster_arn                             = module.services.cluster_arn
  cluster_name                            = module.services.cluster_name
  api_service_name                        = module.services.api_service_name
  processor_service_name                  = module.services.processor_service_name
  load_balancer_arn_suffix                = module.services.load_balancer_arn_suffix
  alarm_email                             = var.alarm_email
  failed_jobs_threshold                   = var.failed_jobs_threshold
  oldest_queued_job_age_threshold_seconds = var.oldest_queued_job_age_threshold_seconds
  http_5xx_rate_threshold_percent         = var.http_5xx_rate_threshold_percent
  api_task_restarts_threshold             = var.api_task_restarts_threshold
}

locals {
  media_base_url = "https://${module.cdn.domain_name}"
  # The pages' origin: the custom domain when there is one, the load balancer's name otherwise.
  app_origins = var.app_origin != null ? [var.app_origin] : [module.services.app_url]
}
