output "raw_bucket" {
  value = aws_s3_bucket.raw.bucket
}

output "media_bucket" {
  value = aws_s3_bucket.media.bucket
}

output "raw_bucket_arn" {
  value = aws_s3_bucket.raw.arn
}

output "media_bucket_arn" {
  value = aws_s3_bucket.media.arn
}

output "media_bucket_regional_domain_name" {
  value = aws_s3_bucket.media.bucket_regional_domain_name
}
