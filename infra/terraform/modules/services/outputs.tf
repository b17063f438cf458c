output "load_balancer_dns_name" {
  value = aws_lb.api.dns_name
}

output "app_url" {
  description = "Where the pages and the API answer."
  value       = local.public_url
}

output "cluster_name" {
  value = aws_ecs_cluster.main.name
}

output "cluster_arn" {
  value = aws_ecs_cluster.main.arn
}

output "load_balancer_arn_suffix" {
  description = "The LoadBalancer dimension of the load balancer's CloudWatch metrics."
  value       = aws_lb.api.arn_suffix
}

output "api_service_name" {
  value = aws_ecs_service.api.name
}

output "processor_service_name" {
  value = aws_ecs_service.processor.name
}

output "api_security_group_id" {
  value = aws_security_group.api.id
}

output "processor_security_group_id" {
  value = aws_security_group.processor.id
}

output "api_log_group" {
  value = aws_cloudwatch_log_group.service["api"].name
}

output "processor_log_group" {
  value = aws_cloudwatch_log_group.service["processor"].name
}

output "processor_autoscaling" {
  description = "The processor's scalable target (for aws application-autoscaling describe-scaling-activities) and the alarms that scale it."
  value = {
    resource_id     = aws_appautoscaling_target.processor.resource_id
    min_count       = aws_appautoscaling_target.processor.min_capacity
    max_count       = aws_appautoscaling_target.processor.max_capacity
    scale_out_alarm = aws_cloudwatch_metric_alarm.processor_queue_waiting.alarm_name
    scale_in_alarm  = aws_cloudwatch_metric_alarm.processor_queue_empty.alarm_name
  }
}
