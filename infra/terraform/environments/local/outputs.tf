# One output per service environment variable.

output "raw_bucket" {
  description = "RAW_BUCKET"
  value       = module.storage.raw_bucket
}

output "media_bucket" {
  description = "MEDIA_BUCKET"
  value       = module.storage.media_bucket
}

output "media_base_url" {
  description = "MEDIA_BASE_URL: the bucket itself, path-style, since there is no CDN locally."
  value       = "${trimsuffix(var.endpoint, "/")}/${module.storage.media_bucket}"
}
