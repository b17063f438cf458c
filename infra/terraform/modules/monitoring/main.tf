# Alarms and a dashboard for one vodnest stack. The queue's metrics are published by the API
# (CLOUDWATCH_METRICS=emf: Embedded Metric Format lines in its log stream, which CloudWatch Logs
# turns into metrics; see services/core/src/cloudwatch.rs); the HTTP ones are the load
# balancer's; API task restarts are ECS's task events, counted by an EventBridge rule. Every
# alarm notifies one SNS topic.

locals {
  namespace  = "vodnest"
  dimensions = { Stack = var.name_prefix }
  metric_names = {
    queue_depth           = "QueueDepth"
    oldest_queued_job_age = "OldestQueuedJobAge"
    jobs_failed           = "JobsFailed"
  }
  load_balancer = { LoadBalancer = var.load_balancer_arn_suffix }
  alarms = [
    aws_cloudwatch_metric_alarm.failed_jobs,
    aws_cloudwatch_metric_alarm.oldest_queued_job,
    aws_cloudwatch_metric_alarm.http_5xx_rate,
    aws_cloudwatch_metric_alarm.api_task_restarts,
  ]
}

resource "aws_sns_topic" "alarms" {
  name = "${var.name_prefix}-alarms"
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}
