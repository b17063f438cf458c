variable "endpoint" {
  description = "LocalStack's S3 endpoint."
  type        = string
  default     = "http://127.0.0.1:4566"
}

variable "name_prefix" {
  type    = string
  default = "vodnest"
}

variable "allowed_origins" {
  description = "Any origin locally: tests serve the pages on ephemeral ports."
  type        = list(string)
  default     = ["*"]
}

variable "raw_lifecycle" {
  description = "Off locally by default: the provider waits about a minute after writing one."
  type        = bool
  default     = false
}
