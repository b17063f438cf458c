variable "name_prefix" {
  type = string
}

variable "media_bucket_id" {
  type = string
}

variable "media_bucket_arn" {
  type = string
}

variable "media_bucket_regional_domain_name" {
  type = string
}

variable "allowed_origins" {
  description = "Origins whose pages may fetch playlists and segments (the app's origin)."
  type        = list(string)
}

variable "cors_headers_policy" {
  description = "Attach a response-headers policy with CORS (off only where the API lacks it, as in moto); the bucket's CORS rules answer otherwise."
  type        = bool
  default     = true
}

variable "price_class" {
  description = "PriceClass_100 (North America and Europe) is the cheapest."
  type        = string
  default     = "PriceClass_100"
}

variable "playlist_ttl_seconds" {
  description = "Default TTL of playlists when the origin sends no Cache-Control."
  type        = number
  default     = 2
}

variable "segment_ttl_seconds" {
  description = "Default TTL of segments and images when the origin sends no Cache-Control."
  type        = number
  default     = 86400
}

variable "signing_public_key_pem" {
  description = "PEM public key (`openssl rsa -pubout`) of the RSA key pair the API signs unlisted and private playback URLs with."
  type        = string
  validation {
    condition     = startswith(trimspace(var.signing_public_key_pem), "-----BEGIN PUBLIC KEY-----")
    error_message = "signing_public_key_pem must be a PEM public key (-----BEGIN PUBLIC KEY-----), e.g. from `openssl rsa -in key.pem -pubout`."
  }
}
