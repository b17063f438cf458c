# Least privilege. The execution role (ECS itself) pulls images, writes logs and reads the two
# secrets. The task roles are what the services' code may do in S3:
# - API: the multipart upload of raw/{id} (create, presigned part PUTs, list, complete, abort),
#   the size check and deletes of raw/{id}, and deleting videos/{id}/ when a video is deleted;
# - processor: read raw/{id}, write and delete videos/{id}/….
# Both may HeadBucket/List their buckets (readiness, listing a video's prefix to delete it).
# Job state is in Postgres, not IAM.

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name_prefix}-ecs-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "PullImages"
    actions   = ["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = ["*"]
  }
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for group in aws_cloudwatch_log_group.service : "${group.arn}:*"]
  }
  statement {
    sid       = "ReadSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [for secret in aws_secretsmanager_secret.environment : secret.arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-log-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# Both services: HeadBucket (readiness) and listing a video's prefix (to delete it).
data "aws_iam_policy_document" "list_buckets" {
  statement {
    sid       = "Buckets"
    actions   = ["s3:ListBucket"]
    resources = [var.raw_bucket_arn, var.media_bucket_arn]
  }
}

data "aws_iam_policy_document" "api" {
  source_policy_documents = [data.aws_iam_policy_document.list_buckets.json]
  statement {
    sid       = "RawUploads"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${var.raw_bucket_arn}/raw/*"]
  }
  # Reads playlists to sign them and presigns GETs of unlisted and private videos' objects;
  # deletes deleted videos and retired versions.
  statement {
    sid       = "VideoMedia"
    actions   = ["s3:GetObject", "s3:DeleteObject"]
    resources = ["${var.media_bucket_arn}/videos/*"]
  }
  # Deleted videos and versions that stopped being public leave the CDN's edges too.
  statement {
    sid       = "InvalidateMedia"
    actions   = ["cloudfront:CreateInvalidation"]
    resources = [var.cloudfront_distribution_arn]
  }
}

data "aws_iam_policy_document" "processor" {
  source_policy_documents = [data.aws_iam_policy_document.list_buckets.json]
  statement {
    sid       = "ReadRaw"
    actions   = ["s3:GetObject"]
    resources = ["${var.raw_bucket_arn}/raw/*"]
  }
  # Writes each run's version; reads the current one to copy it into another class (a
  # visibility change).
  statement {
    sid       = "WriteMedia"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.media_bucket_arn}/videos/*"]
  }
}

resource "aws_iam_role" "task" {
  for_each           = toset(["api", "processor"])
  name               = "${var.name_prefix}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "task" {
  for_each = {
    api       = data.aws_iam_policy_document.api.json
    processor = data.aws_iam_policy_document.processor.json
  }
  name   = "s3"
  role   = aws_iam_role.task[each.key].id
  policy = each.value
}
