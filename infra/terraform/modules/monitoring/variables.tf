variable "name_prefix" {
  description = "Prefix of every resource name, and the value of the queue metrics' Stack dimension (CLOUDWATCH_STACK of the API)."
  type        = string
}

variable "region" {
  description = "Region of the dashboard's widgets."
  type        = string
}

variable "cluster_arn" {
  description = "ECS cluster of the services."
  type        = string
}

variable "cluster_name" {
  type = string
}

variable "api_service_name" {
  type = string
}

variable "processor_service_name" {
  type = string
}

variable "load_balancer_arn_suffix" {
  description = "The API load balancer's ARN suffix (the LoadBalancer dimension of AWS/ApplicationELB)."
  type        = string
}

variable "alarm_email" {
  description = "An address subscribed to the alarm topic (it must confirm the subscription from the mail AWS sends); null: subscribe what you like to the topic yourself."
  type        = string
  default     = null
}

variable "failed_jobs_threshold" {
  description = "Alarm when this many jobs or more end failed (retries exhausted, or a file ffmpeg cannot read) within failed_jobs_window_minutes."
  type        = number
  default     = 3
}

variable "failed_jobs_window_minutes" {
  description = "The window failed_jobs_threshold counts over (minutes)."
  type        = number
  default     = 15
}

variable "oldest_queued_job_age_threshold_seconds" {
  description = "Alarm when the oldest queued, due job has waited longer than this for oldest_queued_job_age_minutes in a row: processors are missing, stuck or too few."
  type        = number
  default     = 1800
}

variable "oldest_queued_job_age_minutes" {
  description = "Consecutive minutes above the age threshold before the alarm fires."
  type        = number
  default     = 5
}

variable "http_5xx_rate_threshold_percent" {
  description = "Alarm when more than this percentage of the load balancer's answers over 5 minutes are 5xx (the API's own and the load balancer's, e.g. 503 without a healthy task)."
  type        = number
  default     = 5
}

variable "http_5xx_min_requests" {
  description = "Below this many requests in 5 minutes the 5xx rate is taken as 0: one failed request of two at night is not an outage."
  type        = number
  default     = 20
}

variable "api_task_restarts_threshold" {
  description = "Alarm when this many API tasks or more stop unexpectedly (container exit, failed start, failed load-balancer health checks; not deployments or scale-in) within 15 minutes."
  type        = number
  default     = 2
}
