# What each service reads, one output per environment variable, plus where to find things.

output "raw_bucket" {
  description = "RAW_BUCKET"
  value       = module.storage.raw_bucket
}

output "media_bucket" {
  description = "MEDIA_BUCKET"
  value       = module.storage.media_bucket
}

output "media_base_url" {
  description = "MEDIA_BASE_URL: the CloudFront distribution"
  value       = local.media_base_url
}

output "database_url" {
  description = "DATABASE_URL (also in Secrets Manager for the tasks)"
  value       = module.database.url
  sensitive   = true
}

output "app_url" {
  description = "Where the pages and the API answer (/login to sign in with admin_token)"
  value       = var.app_origin != null ? var.app_origin : module.services.app_url
}

output "load_balancer_dns_name" {
  description = "Point app_origin's DNS name here (CNAME or alias)"
  value       = module.services.load_balancer_dns_name
}

output "cloudfront_distribution_id" {
  description = "For invalidations: aws cloudfront create-invalidation --distribution-id …"
  value       = module.cdn.distribution_id
}

output "cloudfront_key_pair_id" {
  description = "CLOUDFRONT_KEY_PAIR_ID: the public key the API's playback signatures name (already in its task definition)"
  value       = module.cdn.key_pair_id
}

output "ecs_cluster" {
  value = module.services.cluster_name
}

output "log_groups" {
  description = "CloudWatch log groups of the API and the processor"
  value       = [module.services.api_log_group, module.services.processor_log_group]
}

output "processor_autoscaling" {
  description = "How the processor scales: its scalable target (aws application-autoscaling describe-scaling-activities --service-namespace ecs --resource-id …), bounds and the two scaling alarms"
  value       = module.services.processor_autoscaling
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies (and each unexpected API task stop, with its reason)"
  value       = module.monitoring.alarm_topic_arn
}

output "dashboard_url" {
  value = "https://${var.region}.console.aws.amazon.com/cloudwatch/home?region=${var.region}#dashboards/dashboard/${module.monitoring.dashboard_name}"
}

output "queue_metric" {
  description = "The queue metrics the API publishes (namespace, names, dimensions; read with the statistic given): the alarms' and the processor autoscaling's"
  value = {
    namespace  = module.monitoring.queue_metric_namespace
    names      = module.monitoring.queue_metric_names
    dimensions = module.monitoring.queue_metric_dimensions
    statistic  = module.monitoring.queue_metric_statistic
  }
}
