output "domain_name" {
  value = aws_cloudfront_distribution.media.domain_name
}

output "distribution_arn" {
  value = aws_cloudfront_distribution.media.arn
}

output "distribution_id" {
  value = aws_cloudfront_distribution.media.id
}

output "key_pair_id" {
  description = "CLOUDFRONT_KEY_PAIR_ID: the id of the public key the API's signatures name (Key-Pair-Id)."
  value       = aws_cloudfront_public_key.signing.id
}

output "key_group_id" {
  value = aws_cloudfront_key_group.signing.id
}
