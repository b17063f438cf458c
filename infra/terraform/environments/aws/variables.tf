variable "region" {
  type    = string
  default = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name; bucket names must be globally unique, so make it yours."
  type        = string
}

variable "api_image" {
  description = "Container image of vodnest-api (see the Dockerfile)."
  type        = string
}

variable "processor_image" {
  description = "Container image of vodnest-processor (same Dockerfile, with ffmpeg)."
  type        = string
}

variable "database_password" {
  description = "Password of the RDS `vodnest` user (8 or more characters, no '/', '\"' or '@')."
  type        = string
  sensitive   = true
}

variable "admin_token" {
  description = "ADMIN_TOKEN: the bootstrap bearer token (`openssl rand -hex 32`)."
  type        = string
  sensitive   = true
}

variable "cloudfront_public_key_pem" {
  description = "Public half (PEM) of the key pair unlisted and private videos are signed with: `openssl genrsa -out playback.pem 2048 && openssl rsa -in playback.pem -pubout -out playback.pub.pem`."
  type        = string
}

variable "cloudfront_private_key_pem" {
  description = "Private half (PEM, PKCS#1 or PKCS#8) of that key pair: CLOUDFRONT_PRIVATE_KEY of the API, via Secrets Manager (and so in the state, as the database password is)."
  type        = string
  sensitive   = true
}

variable "grpc_admin_cidr" {
  description = "A range (VPN, bastion) from which operators may call the processor's gRPC control plane; null: only the API tasks may."
  type        = string
  default     = null
}

variable "app_origin" {
  description = "https origin the pages are served from (e.g. https://vod.example.com, pointed at the load balancer); the load balancer's own name when null."
  type        = string
  default     = null
}

variable "certificate_arn" {
  description = "ACM certificate of app_origin's domain, for HTTPS on the load balancer."
  type        = string
  default     = null
}

variable "api_count" {
  type    = number
  default = 1
}

variable "processor_min_count" {
  description = "Fewest processor tasks (autoscaling's floor, and the count the service starts with). 0: no processor runs while nothing is queued, and the gRPC control plane is unreachable until queued work starts one (README, Autoscaling)."
  type        = number
  default     = 1
}

variable "processor_max_count" {
  description = "Most processor tasks autoscaling runs while jobs wait (the same as processor_min_count for a fixed fleet)."
  type        = number
  default     = 4
}

variable "processor_scale_in_idle_minutes" {
  description = "Minutes without a waiting job before autoscaling starts removing processor tasks."
  type        = number
  default     = 10
}

variable "processor_cpu" {
  description = "Fargate CPU units per processor task (1024 = 1 vCPU)."
  type        = number
  default     = 2048
}

variable "processor_memory" {
  description = "MiB per processor task."
  type        = number
  default     = 4096
}

variable "processor_concurrency" {
  type    = number
  default = 1
}

variable "database_instance_class" {
  type    = string
  default = "db.t4g.micro"
}

variable "database_deletion_protection" {
  description = "Set to false before `terraform destroy`."
  type        = bool
  default     = true
}

variable "database_final_snapshot" {
  type    = bool
  default = true
}

variable "raw_archive_days" {
  description = "Move raw uploads to Glacier Instant Retrieval after this many days (null: never)."
  type        = number
  default     = 30
}

variable "raw_expiration_days" {
  description = "Delete raw uploads after this many days (null: keep; re-processing needs them)."
  type        = number
  default     = null
}

variable "force_destroy_buckets" {
  description = "Let `terraform destroy` delete buckets that still hold videos."
  type        = bool
  default     = false
}

variable "cdn_price_class" {
  type    = string
  default = "PriceClass_100"
}

variable "cdn_cors_headers_policy" {
  description = "CORS through a CloudFront response-headers policy (false only for emulators without that API)."
  type        = bool
  default     = true
}

variable "alarm_email" {
  description = "Address told of every alarm (it must confirm the subscription AWS mails it); null: subscribe to the alarm_topic_arn output yourself."
  type        = string
  default     = null
}

variable "failed_jobs_threshold" {
  description = "Alarm when this many jobs fail within 15 minutes."
  type        = number
  default     = 3
}

variable "oldest_queued_job_age_threshold_seconds" {
  description = "Alarm when the oldest queued job has waited longer than this for 5 minutes."
  type        = number
  default     = 1800
}

variable "http_5xx_rate_threshold_percent" {
  description = "Alarm when more than this share (%) of the load balancer's answers over 5 minutes are 5xx."
  type        = number
  default     = 5
}

variable "api_task_restarts_threshold" {
  description = "Alarm when this many API tasks stop unexpectedly within 15 minutes."
  type        = number
  default     = 2
}

variable "aws_endpoint" {
  description = "Send every AWS call to this endpoint (an emulator such as moto, for tests). Null for AWS."
  type        = string
  default     = null
}
