# The two services on Fargate. Each task's environment is the contract's variables (plus any
# extras the operator adds); the secrets come from Secrets Manager.

locals {
  api_port  = 3000
  grpc_port = 50051

  # PUBLIC_URL, the origin browsers use: the API refuses sign-in, sign-out, cookie writes and
  # websockets from any other. The load balancer's own name unless a domain is given.
  public_url = var.public_url != null ? var.public_url : "${var.certificate_arn == null ? "http" : "https"}://${aws_lb.api.dns_name}"

  # What both services read.
  shared_environment = {
    AWS_REGION     = var.region
    RAW_BUCKET     = var.raw_bucket
    MEDIA_BUCKET   = var.media_bucket
    MEDIA_BASE_URL = var.media_base_url
  }

  api_environment = merge(local.shared_environment, {
    API_ADDR         = "0.0.0.0:${local.api_port}"
    MAX_UPLOAD_BYTES = tostring(var.max_upload_bytes)
    PUBLIC_URL       = local.public_url
    # Unlisted and private videos play through CloudFront URLs the API signs with this key
    # (CLOUDFRONT_PRIVATE_KEY, a secret).
    CLOUDFRONT_KEY_PAIR_ID = var.cloudfront_key_pair_id
    # Deleted videos and versions that stopped being public are invalidated there.
    CLOUDFRONT_DISTRIBUTION_ID = var.cloudfront_distribution_id
    # The queue's CloudWatch metrics (the monitoring module's alarms and dashboard, and the
    # processor autoscaling), as Embedded Metric Format lines in the API's log stream: the API
    # alone publishes them, as it always runs.
    CLOUDWATCH_METRICS = "emf"
    CLOUDWATCH_STACK   = var.name_prefix
    },
    # Over HTTPS the session cookie is `__Host-` and `Secure`, and responses carry HSTS.
    var.certificate_arn == null ? {} : { SECURE_COOKIES = "true" },
  var.api_extra_environment)

  # On SIGTERM (a scale-in, a deployment) the processor stops claiming, lets its running jobs
  # finish for SHUTDOWN_GRACE_SECS, then releases what still runs to the queue; ECS sends
  # SIGKILL stopTimeout after SIGTERM (120 s, Fargate's ceiling). The 20 s between them are
  # for the release (stop ffmpeg, one UPDATE) and the exit.
  processor_stop_timeout        = 120
  processor_shutdown_grace_secs = local.processor_stop_timeout - 20

  processor_environment = merge(local.shared_environment, {
    GRPC_ADDR             = "0.0.0.0:${local.grpc_port}"
    PROCESSOR_CONCURRENCY = tostring(var.processor_concurrency)
    SHUTDOWN_GRACE_SECS   = tostring(local.processor_shutdown_grace_secs)
  }, var.processor_extra_environment)

  task_settings = {
    api = {
      image       = var.api_image
      cpu         = var.api_cpu
      memory      = var.api_memory
      port        = local.api_port
      environment = local.api_environment
      secrets = {
        for name in local.service_secrets.api : name => aws_secretsmanager_secret.environment[name].arn
      }
      stop_timeout = 30
    }
    processor = {
      image       = var.processor_image
      cpu         = var.processor_cpu
      memory      = var.processor_memory
      port        = local.grpc_port
      environment = local.processor_environment
      secrets = {
        for name in local.service_secrets.processor : name => aws_secretsmanager_secret.environment[name].arn
      }
      stop_timeout = local.processor_stop_timeout
    }
  }
}

resource "aws_ecs_cluster" "main" {
  name = var.name_prefix
}

resource "aws_cloudwatch_log_group" "service" {
  for_each          = local.task_settings
  name              = "/vodnest/${var.name_prefix}/${each.key}"
  retention_in_days = var.log_retention_days
}

resource "aws_ecs_task_definition" "service" {
  for_each                 = local.task_settings
  family                   = "${var.name_prefix}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task[each.key].arn
  container_definitions = jsonencode([{
    name         = each.key
    image        = each.value.image
    command      = ["vodnest-${each.key}"]
    essential    = true
    portMappings = [{ containerPort = each.value.port, protocol = "tcp" }]
    environment  = [for name, value in each.value.environment : { name = name, value = value }]
    secrets      = [for name, secret in each.value.secrets : { name = name, valueFrom = secret }]
    stopTimeout  = each.value.stop_timeout
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service[each.key].name
        awslogs-region        = var.region
        awslogs-stream-prefix = each.key
      }
    }
  }])
}

resource "aws_ecs_service" "api" {
  name                              = "api"
  cluster                           = aws_ecs_cluster.main.id
  task_definition                   = aws_ecs_task_definition.service["api"].arn
  desired_count                     = var.api_count
  launch_type                       = "FARGATE"
  health_check_grace_period_seconds = 60
  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.api.id]
    assign_public_ip = true
  }
  load_balancer {
    target_group_arn = aws_lb_target_group.api.arn
    container_name   = "api"
    container_port   = local.api_port
  }
  depends_on = [aws_lb_listener.http]
}

resource "aws_ecs_service" "processor" {
  name            = "processor"
  cluster         = aws_ecs_cluster.main.id
  task_definition = aws_ecs_task_definition.service["processor"].arn
  # The count it starts with; from then on autoscaling owns it (autoscaling.tf), and an apply
  # leaves it where autoscaling put it.
  desired_count = var.processor_min_count
  launch_type   = "FARGATE"
  # Private subnets, no public IP: the processor is reached only through its security group
  # and reaches only AWS's endpoints and the database (security_groups.tf).
  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.processor.id]
    assign_public_ip = false
  }
  lifecycle {
    ignore_changes = [desired_count]
  }
}
