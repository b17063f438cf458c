# Each alarm tells the topic when it fires and when it is OK again. What each one means and
# what to do: "Alarms" in the README.

resource "aws_cloudwatch_metric_alarm" "failed_jobs" {
  alarm_name        = "${var.name_prefix}-failed-jobs"
  alarm_description = "${var.failed_jobs_threshold} or more jobs failed within ${var.failed_jobs_window_minutes} minutes: read last_error of the failed jobs (vodnest jobs list) and the processor's log."
  # JobsFailed is per minute, and every API task publishes the same value for the same minute:
  # the Average over the window times its minutes is the window's count, however many tasks.
  metric_query {
    id          = "failed"
    expression  = "per_minute * ${var.failed_jobs_window_minutes}"
    label       = "Jobs failed in ${var.failed_jobs_window_minutes} minutes"
    return_data = true
  }
  metric_query {
    id = "per_minute"
    metric {
      namespace   = local.namespace
      metric_name = local.metric_names.jobs_failed
      dimensions  = local.dimensions
      stat        = "Average"
      period      = var.failed_jobs_window_minutes * 60
    }
  }
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.failed_jobs_threshold
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "oldest_queued_job" {
  alarm_name          = "${var.name_prefix}-oldest-queued-job"
  alarm_description   = "A job has waited over ${var.oldest_queued_job_age_threshold_seconds} s in the queue: are processors running (ECS), healthy (their log), and enough for the load?"
  namespace           = local.namespace
  metric_name         = local.metric_names.oldest_queued_job_age
  dimensions          = local.dimensions
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = var.oldest_queued_job_age_minutes
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.oldest_queued_job_age_threshold_seconds
  # No data: no API task publishes (the 5xx and restart alarms speak for that case).
  treat_missing_data = "missing"
  alarm_actions      = [aws_sns_topic.alarms.arn]
  ok_actions         = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "http_5xx_rate" {
  alarm_name        = "${var.name_prefix}-http-5xx-rate"
  alarm_description = "Over ${var.http_5xx_rate_threshold_percent}% of answers in 5 minutes were 5xx: read the API's log; ELB 5xx without target 5xx means no healthy API task."
  # RequestCount counts requests a target was chosen for; the load balancer's own 503s (no
  # healthy target) are added to both sides.
  metric_query {
    id          = "rate"
    expression  = "IF(total >= ${var.http_5xx_min_requests}, 100 * (FILL(target_5xx, 0) + FILL(elb_5xx, 0)) / total, 0)"
    label       = "5xx answers (%)"
    return_data = true
  }
  metric_query {
    id         = "total"
    expression = "FILL(requests, 0) + FILL(elb_5xx, 0)"
  }
  dynamic "metric_query" {
    for_each = {
      requests   = "RequestCount"
      target_5xx = "HTTPCode_Target_5XX_Count"
      elb_5xx    = "HTTPCode_ELB_5XX_Count"
    }
    content {
      id = metric_query.key
      metric {
        namespace   = "AWS/ApplicationELB"
        metric_name = metric_query.value
        dimensions  = local.load_balancer
        stat        = "Sum"
        period      = 300
      }
    }
  }
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.http_5xx_rate_threshold_percent
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "api_task_restarts" {
  alarm_name          = "${var.name_prefix}-api-task-restarts"
  alarm_description   = "API tasks keep stopping (${var.api_task_restarts_threshold} or more in 15 minutes): the stopped tasks' reasons are in the ECS console (or aws ecs describe-tasks), their last words in the API's log."
  namespace           = "AWS/Events"
  metric_name         = "MatchedEvents"
  dimensions          = { RuleName = aws_cloudwatch_event_rule.api_task_stopped.name }
  statistic           = "Sum"
  period              = 900
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.api_task_restarts_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}
