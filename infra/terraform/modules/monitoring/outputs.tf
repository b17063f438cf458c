# The queue metric the API publishes (CLOUDWATCH_METRICS=emf): the processor autoscaling reads
# the same namespace, names and dimensions. Several API tasks publish the same value for a
# minute, so read it with the Maximum statistic.

output "queue_metric_namespace" {
  value = local.namespace
}

output "queue_metric_dimensions" {
  value = local.dimensions
}

output "queue_metric_names" {
  description = "QueueDepth (jobs queued for the processors and due), OldestQueuedJobAge (seconds the oldest due one has waited), JobsFailed (processor jobs failed in the minute before each data point)."
  value       = local.metric_names
}

output "queue_metric_statistic" {
  value = "Maximum"
}

output "alarm_topic_arn" {
  description = "SNS topic of every alarm: subscribe a pager, chat hook or mailbox to it."
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  value = [for alarm in local.alarms : alarm.alarm_name]
}

output "dashboard_name" {
  value = aws_cloudwatch_dashboard.main.dashboard_name
}
