# The processor's task count follows the queue: Application Auto Scaling moves the service's
# desired count between processor_min_count and processor_max_count (ecs.tf leaves
# desired_count to it after creation).
#
# Why step scaling on two alarms of the API's queue metric, not target tracking: the signal is
# "work is waiting" (QueueDepth: jobs due now that no processor has taken), which says more
# tasks are needed but not how many, and does not fall in proportion as tasks are added the way
# a per-task utilisation does. Target tracking wants such a proportional metric (a backlog per
# task would need the running task count, i.e. Container Insights and its custom metrics, and
# means nothing at zero tasks), and removes tasks on its own schedule. The API publishes the
# metric whatever the processors do, so the scale-out alarm works from zero tasks. Both alarms
# read the Maximum of each minute, as every API task prints the same numbers.
#
# - Scale out: any minute with a job waiting adds tasks, more for a deeper queue (a long video
#   cut into chunks queues hundreds at once). The alarm keeps invoking the policy while work
#   waits; within the cooldown only a larger step adds more, so the fleet grows by about a step
#   every cooldown until no job waits or processor_max_count is reached.
# - Scale in: after processor_scale_in_idle_minutes without a job waiting, one task at a time,
#   each after the previous one has had its stopTimeout to drain. ECS picks which task stops;
#   a busy one gets SIGTERM, finishes its job within SHUTDOWN_GRACE_SECS (chunks are sized to
#   about a minute of encoding, so they fit) or hands it back to the queue, where another
#   processor redoes it.
# No data (no API task publishing) triggers neither.

locals {
  processor_resource_id = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.processor.name}"
  queue_depth_metric = {
    namespace   = var.queue_metric.namespace
    metric_name = var.queue_metric.names.queue_depth
    dimensions  = var.queue_metric.dimensions
    statistic   = var.queue_metric.statistic
  }
  # Tasks added while from (inclusive) to to (exclusive) jobs wait. The alarm fires from 1
  # job waiting, its threshold, to which the policy's step bounds are relative.
  scale_out_threshold = 1
  scale_out_steps = [
    { from = 1, to = 5, add = 1 },
    { from = 5, to = 20, add = 2 },
    { from = 20, to = null, add = 4 },
  ]
  # A new task is pulling its image and starting for about this long: a scale-out within it
  # counts the tasks already on their way.
  scale_out_cooldown_seconds = 120
}

resource "aws_appautoscaling_target" "processor" {
  service_namespace  = "ecs"
  resource_id        = local.processor_resource_id
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.processor_min_count
  max_capacity       = var.processor_max_count
  lifecycle {
    precondition {
      condition     = var.processor_max_count >= max(var.processor_min_count, 1)
      error_message = "processor_max_count must be at least 1 and at least processor_min_count."
    }
  }
}

resource "aws_appautoscaling_policy" "processor_scale_out" {
  name               = "${var.name_prefix}-processor-scale-out"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.processor.service_namespace
  resource_id        = aws_appautoscaling_target.processor.resource_id
  scalable_dimension = aws_appautoscaling_target.processor.scalable_dimension
  step_scaling_policy_configuration {
    adjustment_type         = "ChangeInCapacity"
    cooldown                = local.scale_out_cooldown_seconds
    metric_aggregation_type = "Maximum"
    dynamic "step_adjustment" {
      for_each = local.scale_out_steps
      content {
        metric_interval_lower_bound = step_adjustment.value.from - local.scale_out_threshold
        metric_interval_upper_bound = step_adjustment.value.to == null ? null : step_adjustment.value.to - local.scale_out_threshold
        scaling_adjustment          = step_adjustment.value.add
      }
    }
  }
}

resource "aws_appautoscaling_policy" "processor_scale_in" {
  name               = "${var.name_prefix}-processor-scale-in"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.processor.service_namespace
  resource_id        = aws_appautoscaling_target.processor.resource_id
  scalable_dimension = aws_appautoscaling_target.processor.scalable_dimension
  step_scaling_policy_configuration {
    adjustment_type = "ChangeInCapacity"
    # One task at a time, each once the previous one has had its whole stopTimeout to drain.
    cooldown                = local.task_settings.processor.stop_timeout
    metric_aggregation_type = "Maximum"
    step_adjustment {
      metric_interval_upper_bound = 0
      scaling_adjustment          = -1
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "processor_queue_waiting" {
  alarm_name          = "${var.name_prefix}-processor-scale-out"
  alarm_description   = "Jobs are due and waiting: add processor tasks (up to ${var.processor_max_count}). Scaling, not paging: no notification."
  namespace           = local.queue_depth_metric.namespace
  metric_name         = local.queue_depth_metric.metric_name
  dimensions          = local.queue_depth_metric.dimensions
  statistic           = local.queue_depth_metric.statistic
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = local.scale_out_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.processor_scale_out.arn]
}

resource "aws_cloudwatch_metric_alarm" "processor_queue_empty" {
  alarm_name          = "${var.name_prefix}-processor-scale-in"
  alarm_description   = "No job has waited for ${var.processor_scale_in_idle_minutes} minutes: remove a processor task (down to ${var.processor_min_count}). Scaling, not paging: no notification."
  namespace           = local.queue_depth_metric.namespace
  metric_name         = local.queue_depth_metric.metric_name
  dimensions          = local.queue_depth_metric.dimensions
  statistic           = local.queue_depth_metric.statistic
  period              = 60
  evaluation_periods  = var.processor_scale_in_idle_minutes
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.processor_scale_in.arn]
}
