# The two buckets: `raw` receives uploads straight from browsers and the CLI (multipart PUTs
# through presigned URLs); `media` holds the HLS output that players read.

resource "aws_s3_bucket" "raw" {
  bucket        = "${var.name_prefix}-raw"
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket" "media" {
  bucket        = "${var.name_prefix}-media"
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_ownership_controls" "raw" {
  bucket = aws_s3_bucket.raw.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_ownership_controls" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "raw" {
  bucket                  = aws_s3_bucket.raw.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_public_access_block" "media" {
  bucket                  = aws_s3_bucket.media.id
  block_public_acls       = true
  block_public_policy     = !var.media_public_read
  ignore_public_acls      = true
  restrict_public_buckets = !var.media_public_read
}

resource "aws_s3_bucket_server_side_encryption_configuration" "raw" {
  bucket = aws_s3_bucket.raw.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

# Browsers PUT parts cross-origin and must read each part's ETag to complete the upload.
resource "aws_s3_bucket_cors_configuration" "raw" {
  bucket = aws_s3_bucket.raw.id
  cors_rule {
    allowed_methods = ["PUT", "GET", "HEAD"]
    allowed_origins = var.allowed_origins
    allowed_headers = ["*"]
    expose_headers  = ["ETag"]
    max_age_seconds = 3000
  }
}

# hls.js fetches playlists and segments with XHR, and may use range requests.
resource "aws_s3_bucket_cors_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  cors_rule {
    allowed_methods = ["GET", "HEAD"]
    allowed_origins = var.allowed_origins
    allowed_headers = ["*"]
    expose_headers  = ["Content-Length", "Content-Range", "ETag"]
    max_age_seconds = 3000
  }
}

# Off by default locally: the provider waits about a minute after writing a lifecycle.
resource "aws_s3_bucket_lifecycle_configuration" "raw" {
  count  = var.raw_lifecycle ? 1 : 0
  bucket = aws_s3_bucket.raw.id
  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    # Counted from the upload's start, not its last part: a growing upload (a recording sent
    # while it is written) may run for a day or more (sources are capped at 24 h), and the API's
    # sweeper ends abandoned uploads long before this backstop.
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  # Raw files are only read again to re-process a video: archive them (an instant-retrieval
  # class keeps re-processing working) or expire them, when asked to.
  dynamic "rule" {
    for_each = var.raw_archive_days == null && var.raw_expiration_days == null ? [] : [1]
    content {
      id     = "age-raw-files"
      status = "Enabled"
      filter {
        prefix = "raw/"
      }
      dynamic "transition" {
        for_each = var.raw_archive_days == null ? [] : [var.raw_archive_days]
        content {
          days          = transition.value
          storage_class = var.raw_archive_storage_class
        }
      }
      dynamic "expiration" {
        for_each = var.raw_expiration_days == null ? [] : [var.raw_expiration_days]
        content {
          days = expiration.value
        }
      }
    }
  }
}

# Local development only: viewers read public videos straight from the media bucket (no CDN in
# front). Only videos/{id}/public/…: an unlisted or private video's objects
# (videos/{id}/signed/…) are read through presigned GETs the API makes. The id is matched as
# exactly 36 characters (a UUID) because a policy's `*` also matches `/`: `videos/*/public/*`
# would match videos/{id}/signed/1/public/… as well.
locals {
  public_video_objects = "videos/${join("", [for _ in range(36) : "?"])}/public/*"
}

resource "aws_s3_bucket_policy" "media_public_read" {
  count      = var.media_public_read ? 1 : 0
  bucket     = aws_s3_bucket.media.id
  depends_on = [aws_s3_bucket_public_access_block.media]
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "PublicReadForPlayback"
      Effect    = "Allow"
      Principal = "*"
      Action    = ["s3:GetObject"]
      Resource  = ["${aws_s3_bucket.media.arn}/${local.public_video_objects}"]
    }]
  })
}
