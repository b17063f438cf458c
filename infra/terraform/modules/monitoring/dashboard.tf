# One dashboard: the alarms' states, then the HTTP side (requests, latency, 5xx), the queue
# (depth, oldest job's age, failures) and the tasks (restarts, CPU and memory).

locals {
  queue_metric = { for key, name in local.metric_names : key => concat([local.namespace, name], flatten([for k, v in local.dimensions : [k, v]])) }
  load_balancer_metric = { for name in ["RequestCount", "HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count", "TargetResponseTime"] :
    name => ["AWS/ApplicationELB", name, "LoadBalancer", var.load_balancer_arn_suffix]
  }

  widgets = [
    {
      type       = "alarm"
      properties = { title = "Alarms", alarms = [for alarm in local.alarms : alarm.arn] }
    },
    {
      type = "metric"
      properties = {
        title = "Requests per minute", stat = "Sum", period = 60
        metrics = [
          concat(local.load_balancer_metric.RequestCount, [{ label = "requests" }]),
          concat(local.load_balancer_metric.HTTPCode_Target_5XX_Count, [{ label = "API 5xx" }]),
          concat(local.load_balancer_metric.HTTPCode_ELB_5XX_Count, [{ label = "load balancer 5xx" }]),
        ]
      }
    },
    {
      type = "metric"
      properties = {
        title = "Latency (seconds)", period = 60
        metrics = [for p in ["p50", "p95", "p99"] :
          concat(local.load_balancer_metric.TargetResponseTime, [{ stat = p, label = p }])
        ]
      }
    },
    {
      type = "metric"
      properties = {
        title = "5xx answers (%)", period = 300
        metrics = [
          [{ id = "rate", expression = "100 * (FILL(t5, 0) + FILL(e5, 0)) / (FILL(r, 0) + FILL(e5, 0))", label = "5xx %" }],
          concat(local.load_balancer_metric.RequestCount, [{ id = "r", stat = "Sum", visible = false }]),
          concat(local.load_balancer_metric.HTTPCode_Target_5XX_Count, [{ id = "t5", stat = "Sum", visible = false }]),
          concat(local.load_balancer_metric.HTTPCode_ELB_5XX_Count, [{ id = "e5", stat = "Sum", visible = false }]),
        ]
        annotations = { horizontal = [{ label = "alarm", value = var.http_5xx_rate_threshold_percent }] }
      }
    },
    {
      type = "metric"
      properties = {
        title   = "Queue depth (jobs due, waiting for a processor)", stat = "Maximum", period = 60
        metrics = [local.queue_metric.queue_depth]
      }
    },
    {
      type = "metric"
      properties = {
        title       = "Oldest queued job (seconds)", stat = "Maximum", period = 60
        metrics     = [local.queue_metric.oldest_queued_job_age]
        annotations = { horizontal = [{ label = "alarm", value = var.oldest_queued_job_age_threshold_seconds }] }
      }
    },
    {
      type = "metric"
      properties = {
        title   = "Jobs failed per minute", stat = "Maximum", period = 60
        metrics = [local.queue_metric.jobs_failed]
      }
    },
    {
      type = "metric"
      properties = {
        title   = "API task restarts", stat = "Sum", period = 300
        metrics = [["AWS/Events", "MatchedEvents", "RuleName", aws_cloudwatch_event_rule.api_task_stopped.name]]
      }
    },
    {
      type = "metric"
      properties = {
        title = "CPU and memory of the services (%)", stat = "Average", period = 300
        metrics = flatten([for service in [var.api_service_name, var.processor_service_name] : [
          for metric in ["CPUUtilization", "MemoryUtilization"] :
          ["AWS/ECS", metric, "ClusterName", var.cluster_name, "ServiceName", service, { label = "${service} ${metric}" }]
        ]])
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "main" {
  dashboard_name = var.name_prefix
  # Three widgets a row, each 8 of the 24 columns wide and 6 high.
  dashboard_body = jsonencode({
    widgets = [for index, widget in local.widgets : merge(widget, {
      x      = (index % 3) * 8
      y      = floor(index / 3) * 6
      width  = 8
      height = 6
      # Every widget's region; metric widgets are line graphs.
      properties = merge(
        { region = var.region },
        { for key, value in { view = "timeSeries" } : key => value if widget.type == "metric" },
        widget.properties,
      )
    })]
  })
}
