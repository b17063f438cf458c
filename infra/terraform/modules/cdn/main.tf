# CloudFront in front of the media bucket. The bucket stays private: CloudFront signs its
# requests with an origin access control, and the bucket policy admits that one distribution.
# A public video's objects (videos/{id}/public/{n}/…) are plain, cacheable URLs; an unlisted or
# private video's (videos/{id}/signed/{n}/…) are served only with a signature the API makes
# with the private half of the key below (CloudFront signed URLs, a custom policy per version).

# The operator makes the key pair (`openssl genrsa`; the offline provider mirror has no `tls`
# provider, and a key made by Terraform would sit in its state anyway) and hands over the public
# half here; the private half goes to the API through Secrets Manager (services module).
resource "aws_cloudfront_public_key" "signing" {
  name        = "${var.name_prefix}-playback"
  comment     = "vodnest: signs unlisted and private playback URLs"
  encoded_key = var.signing_public_key_pem
}

resource "aws_cloudfront_key_group" "signing" {
  name    = "${var.name_prefix}-playback"
  comment = "vodnest: keys trusted for videos/*/signed/*"
  items   = [aws_cloudfront_public_key.signing.id]
}

resource "aws_cloudfront_origin_access_control" "media" {
  name                              = "${var.name_prefix}-media"
  description                       = "vodnest media bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

# hls.js fetches playlists and segments with XHR from the app's origin.
resource "aws_cloudfront_response_headers_policy" "cors" {
  count = var.cors_headers_policy ? 1 : 0
  name  = "${var.name_prefix}-hls-cors"
  cors_config {
    access_control_allow_credentials = false
    access_control_allow_headers {
      items = ["*"]
    }
    access_control_allow_methods {
      items = ["GET", "HEAD", "OPTIONS"]
    }
    access_control_allow_origins {
      items = var.allowed_origins
    }
    access_control_expose_headers {
      items = ["Content-Length", "Content-Range", "ETag"]
    }
    access_control_max_age_sec = 3000
    origin_override            = true
  }
}

locals {
  headers_policy_id = var.cors_headers_policy ? aws_cloudfront_response_headers_policy.cors[0].id : null
  origin_id         = "media-bucket"
}

resource "aws_cloudfront_distribution" "media" {
  enabled         = true
  is_ipv6_enabled = true
  comment         = "${var.name_prefix} HLS"
  price_class     = var.price_class

  origin {
    origin_id                = local.origin_id
    domain_name              = var.media_bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.media.id
  }

  # Segments, init segments, posters, sprites: written once, cached long. The TTLs bound what
  # the processor's Cache-Control headers ask for; the Origin header is forwarded so that the
  # bucket's own CORS rules answer too when no response-headers policy is attached.
  default_cache_behavior {
    target_origin_id           = local.origin_id
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD", "OPTIONS"]
    compress                   = true
    response_headers_policy_id = local.headers_policy_id
    min_ttl                    = 0
    default_ttl                = var.segment_ttl_seconds
    max_ttl                    = 31536000
    forwarded_values {
      query_string = false
      headers      = ["Origin"]
      cookies {
        forward = "none"
      }
    }
  }

  # Unlisted and private videos: nothing is served without a valid signature from the key
  # group (CloudFront answers 403 first, before its cache). The signature's query parameters
  # are not part of the cache key (query_string = false), so every viewer's signed request for
  # a segment hits the same cached object. First among the ordered behaviors, so a signed
  # playlist (*.m3u8) matches this one, not the public playlists' below; signed playlists get
  # the playlists' short TTL here too.
  ordered_cache_behavior {
    path_pattern               = "videos/*/signed/*"
    target_origin_id           = local.origin_id
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD", "OPTIONS"]
    compress                   = true
    response_headers_policy_id = local.headers_policy_id
    trusted_key_groups         = [aws_cloudfront_key_group.signing.id]
    min_ttl                    = 0
    default_ttl                = var.playlist_ttl_seconds
    max_ttl                    = 31536000
    forwarded_values {
      query_string = false
      headers      = ["Origin"]
      cookies {
        forward = "none"
      }
    }
  }

  # Playlists change while a video is processing (EVENT playlists): cached seconds, not days,
  # until the processor marks them final with a long Cache-Control of its own.
  ordered_cache_behavior {
    path_pattern               = "*.m3u8"
    target_origin_id           = local.origin_id
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD", "OPTIONS"]
    compress                   = true
    response_headers_policy_id = local.headers_policy_id
    min_ttl                    = 0
    default_ttl                = var.playlist_ttl_seconds
    max_ttl                    = 86400
    forwarded_values {
      query_string = false
      headers      = ["Origin"]
      cookies {
        forward = "none"
      }
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }
}

# Only the distribution reads, and only videos/*: nobody else, signed or not, public or not.
# Which objects need a signature is CloudFront's business (the behavior above).
resource "aws_s3_bucket_policy" "media" {
  bucket = var.media_bucket_id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "CloudFrontReadsMedia"
      Effect    = "Allow"
      Principal = { Service = "cloudfront.amazonaws.com" }
      Action    = "s3:GetObject"
      Resource  = "${var.media_bucket_arn}/videos/*"
      Condition = {
        StringEquals = { "AWS:SourceArn" = aws_cloudfront_distribution.media.arn }
      }
    }]
  })
}
