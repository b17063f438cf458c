variable "name_prefix" {
  description = "Prefix of the bucket names: {prefix}-raw and {prefix}-media."
  type        = string
}

variable "allowed_origins" {
  description = "Origins allowed to PUT parts to the raw bucket and read the media bucket from a browser."
  type        = list(string)
}

variable "raw_lifecycle" {
  description = "Abort incomplete multipart uploads in the raw bucket after a day."
  type        = bool
  default     = true
}

variable "raw_archive_days" {
  description = "Move raw files to raw_archive_storage_class this many days after upload (null: never)."
  type        = number
  default     = null
}

variable "raw_archive_storage_class" {
  description = "GLACIER_IR keeps them instantly readable for re-processing."
  type        = string
  default     = "GLACIER_IR"
}

variable "raw_expiration_days" {
  description = "Delete raw files this many days after upload (null: keep them). Re-processing needs them."
  type        = number
  default     = null
}

variable "media_public_read" {
  description = "Let anyone read public videos' objects (videos/*/public/*) in the media bucket (local development without a CDN)."
  type        = bool
  default     = false
}

variable "force_destroy" {
  description = "Allow destroying buckets that still hold objects."
  type        = bool
  default     = false
}
