# Who may talk to whom: the world → load balancer → API tasks; the API (and an optional admin
# range) → processor gRPC. The API reaches out freely (S3, the database, and later webhook
# deliveries); the processor only to what it needs (see processor_out below).

resource "aws_security_group" "alb" {
  name        = "${var.name_prefix}-alb"
  description = "vodnest load balancer: HTTP and HTTPS from anywhere"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "alb" {
  for_each          = toset(["80", "443"])
  security_group_id = aws_security_group.alb.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.key)
  to_port           = tonumber(each.key)
}

resource "aws_vpc_security_group_egress_rule" "alb_to_api" {
  security_group_id            = aws_security_group.alb.id
  referenced_security_group_id = aws_security_group.api.id
  ip_protocol                  = "tcp"
  from_port                    = local.api_port
  to_port                      = local.api_port
}

resource "aws_security_group" "api" {
  name        = "${var.name_prefix}-api"
  description = "vodnest API tasks: only the load balancer comes in"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "api_from_alb" {
  security_group_id            = aws_security_group.api.id
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = local.api_port
  to_port                      = local.api_port
}

resource "aws_vpc_security_group_egress_rule" "api_out" {
  security_group_id = aws_security_group.api.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

resource "aws_security_group" "processor" {
  name        = "${var.name_prefix}-processor"
  description = "vodnest processor tasks: gRPC control plane from the API (and an admin range)"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "processor_grpc_from_api" {
  security_group_id            = aws_security_group.processor.id
  referenced_security_group_id = aws_security_group.api.id
  ip_protocol                  = "tcp"
  from_port                    = local.grpc_port
  to_port                      = local.grpc_port
  description                  = "gRPC control plane from the API tasks"
}

resource "aws_vpc_security_group_ingress_rule" "processor_grpc_from_admin" {
  count             = var.grpc_admin_cidr == null ? 0 : 1
  security_group_id = aws_security_group.processor.id
  cidr_ipv4         = var.grpc_admin_cidr
  ip_protocol       = "tcp"
  from_port         = local.grpc_port
  to_port           = local.grpc_port
  description       = "gRPC control plane from the operators' range (VPN, bastion)"
}

# The processor's only ways out. It has no public IP and its subnets no route to the internet;
# these rules say the same at the task's own interface, so an ffmpeg talked into fetching a
# URL (or anything else running in the task) reaches nothing but:
# - HTTPS to S3 through the gateway endpoint (raw reads, media writes, and the ECR image layers,
#   which ECR serves from S3),
# - HTTPS to the interface endpoints (ECR's API and registry for the image, CloudWatch Logs,
#   Secrets Manager for the task's secrets),
# - Postgres on the database's security group.
# DNS goes to the VPC's resolver, which security groups do not filter; the task's credentials
# come from Fargate's link-local endpoint, which they do not filter either.
locals {
  processor_egress = {
    s3 = {
      port = 443, prefix_list_id = var.s3_prefix_list_id, security_group_id = null
    }
    aws_endpoints = {
      port = 443, prefix_list_id = null, security_group_id = var.endpoints_security_group_id
    }
    postgres = {
      port = 5432, prefix_list_id = null, security_group_id = var.database_security_group_id
    }
  }
}

resource "aws_vpc_security_group_egress_rule" "processor_out" {
  for_each                     = local.processor_egress
  security_group_id            = aws_security_group.processor.id
  prefix_list_id               = each.value.prefix_list_id
  referenced_security_group_id = each.value.security_group_id
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  description                  = "processor to ${each.key}"
}
