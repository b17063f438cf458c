# Who may talk to whom: the world → load balancer → API tasks; the VPC → processor gRPC.
# Both services reach out (S3, ECR, CloudWatch, the database) without restriction.

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

resource "aws_security_group" "processor" {
  name        = "${var.name_prefix}-processor"
  description = "vodnest processor tasks: gRPC control plane from inside the VPC only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "processor_grpc" {
  for_each          = toset(concat([var.vpc_cidr_block], var.grpc_allowed_cidrs))
  security_group_id = aws_security_group.processor.id
  cidr_ipv4         = each.key
  ip_protocol       = "tcp"
  from_port         = local.grpc_port
  to_port           = local.grpc_port
}

resource "aws_vpc_security_group_egress_rule" "out" {
  for_each = {
    api       = aws_security_group.api.id
    processor = aws_security_group.processor.id
  }
  security_group_id = each.value
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}
