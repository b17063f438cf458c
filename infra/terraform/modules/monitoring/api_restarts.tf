# API task restarts, counted from ECS's own task events: free (AWS service events on the default
# bus cost nothing, and EventBridge publishes MatchedEvents per rule), where Container Insights'
# RunningTaskCount would bill every metric it adds for every task and service. ECS replaces a
# stopped task, so a stop that is not a deployment or a scale-in is a restart.

resource "aws_cloudwatch_event_rule" "api_task_stopped" {
  name        = "${var.name_prefix}-api-task-stopped"
  description = "An API task stopped by itself or for failing its load balancer health checks"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn = [var.cluster_arn]
      group      = ["service:${var.api_service_name}"]
      lastStatus = ["STOPPED"]
      "$or" = [
        { stopCode = ["EssentialContainerExited", "TaskFailedToStart"] },
        { stoppedReason = [{ prefix = "Task failed ELB health checks" }] },
      ]
    }
  })
}

# Each stop also reaches the topic at once, with its reason; the alarm says it keeps happening.
resource "aws_cloudwatch_event_target" "api_task_stopped" {
  rule = aws_cloudwatch_event_rule.api_task_stopped.name
  arn  = aws_sns_topic.alarms.arn
  input_transformer {
    input_paths = {
      task   = "$.detail.taskArn"
      reason = "$.detail.stoppedReason"
      code   = "$.detail.stopCode"
    }
    input_template = "\"vodnest ${var.name_prefix}: API task <task> stopped (<code>): <reason>\""
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn = aws_sns_topic.alarms.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "CloudWatchAlarms"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.alarms.arn
        Condition = { ArnLike = { "aws:SourceArn" = [for alarm in local.alarms : alarm.arn] } }
      },
      {
        Sid       = "ApiTaskStoppedEvents"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.alarms.arn
        Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.api_task_stopped.arn } }
      },
    ]
  })
}
