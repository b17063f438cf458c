variable "name_prefix" {
  type = string
}

variable "region" {
  type = string
}

variable "vpc_id" {
  type = string
}

variable "subnet_ids" {
  description = "Public subnets for the load balancer and the API tasks (which get public IPs but admit only the load balancer)."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Private subnets for the processor tasks (no public IP, no route to the internet)."
  type        = list(string)
}

variable "s3_prefix_list_id" {
  description = "Prefix list of the VPC's S3 gateway endpoint: the processor's HTTPS egress to S3."
  type        = string
}

variable "endpoints_security_group_id" {
  description = "Security group of the VPC's interface endpoints (ECR, logs, Secrets Manager): the processor's other HTTPS egress."
  type        = string
}

variable "database_security_group_id" {
  description = "The database's security group: the processor's Postgres egress."
  type        = string
}

variable "raw_bucket" {
  type = string
}

variable "raw_bucket_arn" {
  type = string
}

variable "media_bucket" {
  type = string
}

variable "media_bucket_arn" {
  type = string
}

variable "media_base_url" {
  description = "MEDIA_BASE_URL: the CDN's https origin."
  type        = string
}

variable "database_url" {
  description = "DATABASE_URL, stored in Secrets Manager and injected into the tasks."
  type        = string
  sensitive   = true
}

variable "admin_token" {
  description = "ADMIN_TOKEN, stored in Secrets Manager and injected into the API and the processor."
  type        = string
  sensitive   = true
}

variable "api_image" {
  description = "Container image of vodnest-api."
  type        = string
}

variable "processor_image" {
  description = "Container image of vodnest-processor (with ffmpeg)."
  type        = string
}

variable "api_count" {
  type    = number
  default = 1
}

variable "processor_min_count" {
  description = "Fewest processor tasks autoscaling keeps, and how many the service starts with. 0 is allowed: no processor runs while nothing is queued (jobs wait in Postgres; a queued job starts one within a few minutes), but the processor's gRPC control plane is unreachable meanwhile."
  type        = number
  default     = 1
  validation {
    condition     = var.processor_min_count >= 0 && floor(var.processor_min_count) == var.processor_min_count
    error_message = "processor_min_count must be a whole number, 0 or more."
  }
}

variable "processor_max_count" {
  description = "Most processor tasks autoscaling starts while jobs wait (at least 1 and at least processor_min_count; equal to it for a fixed fleet)."
  type        = number
  default     = 4
}

variable "processor_scale_in_idle_minutes" {
  description = "Minutes without a waiting job before autoscaling removes a processor task (then one more per stopTimeout, down to processor_min_count)."
  type        = number
  default     = 10
  validation {
    condition     = var.processor_scale_in_idle_minutes >= 1
    error_message = "processor_scale_in_idle_minutes must be at least 1."
  }
}

variable "queue_metric" {
  description = "The queue metric the API publishes, which autoscaling reads: the monitoring module's queue_metric_* outputs (names must have queue_depth)."
  type = object({
    namespace  = string
    names      = map(string)
    dimensions = map(string)
    statistic  = string
  })
}

variable "api_cpu" {
  description = "Fargate CPU units of one API task (1024 = 1 vCPU)."
  type        = number
  default     = 256
}

variable "api_memory" {
  description = "MiB of one API task."
  type        = number
  default     = 512
}

variable "processor_cpu" {
  description = "Fargate CPU units of one processor task: ffmpeg uses every core it gets."
  type        = number
  default     = 2048
}

variable "processor_memory" {
  type    = number
  default = 4096
}

variable "processor_concurrency" {
  description = "PROCESSOR_CONCURRENCY: jobs one processor task runs at once."
  type        = number
  default     = 1
}

variable "max_upload_bytes" {
  description = "MAX_UPLOAD_BYTES."
  type        = number
  default     = 107374182400
}

variable "certificate_arn" {
  description = "ACM certificate for HTTPS on the load balancer; without one the API is served over plain HTTP."
  type        = string
  default     = null
}

variable "public_url" {
  description = "PUBLIC_URL: the origin the pages are served from (https://vod.example.com); the load balancer's name when null."
  type        = string
  default     = null
}

variable "grpc_admin_cidr" {
  description = "A range (VPN, bastion) whose operators may call the processor's gRPC control plane, besides the API tasks; null: the API only."
  type        = string
  default     = null
}

variable "cloudfront_key_pair_id" {
  description = "CLOUDFRONT_KEY_PAIR_ID of the API: the CloudFront public key its signatures name."
  type        = string
}

variable "cloudfront_distribution_id" {
  description = "CLOUDFRONT_DISTRIBUTION_ID of the API: the distribution it invalidates."
  type        = string
}

variable "cloudfront_distribution_arn" {
  description = "The distribution the API may invalidate (its IAM policy)."
  type        = string
}

variable "cloudfront_private_key_pem" {
  description = "CLOUDFRONT_PRIVATE_KEY of the API (PEM), stored in Secrets Manager and injected into the API only."
  type        = string
  sensitive   = true
}

variable "log_retention_days" {
  type    = number
  default = 30
}

variable "api_extra_environment" {
  description = "Further settings of the API (see vodnest-api --help), on top of the contract's variables."
  type        = map(string)
  default     = {}
}

variable "processor_extra_environment" {
  description = "Further settings of the processor (see vodnest-processor --help)."
  type        = map(string)
  default     = {}
}
