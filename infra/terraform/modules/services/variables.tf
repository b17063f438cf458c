variable "name_prefix" {
  type = string
}

variable "region" {
  type = string
}

variable "vpc_id" {
  type = string
}

variable "vpc_cidr_block" {
  type = string
}

variable "subnet_ids" {
  description = "Public subnets for the load balancer and the tasks (tasks get public IPs but admit only the load balancer)."
  type        = list(string)
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

variable "processor_count" {
  type    = number
  default = 1
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

variable "grpc_allowed_cidrs" {
  description = "Where the processor's gRPC control plane may be reached from (inside the VPC by default)."
  type        = list(string)
  default     = []
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
