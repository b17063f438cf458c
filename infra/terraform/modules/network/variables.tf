variable "name_prefix" {
  description = "Name tag prefix."
  type        = string
}

variable "region" {
  description = "AWS region (for the S3 gateway endpoint's service name)."
  type        = string
}

variable "cidr_block" {
  description = "The VPC's address range; subnets are /20 slices of a /16."
  type        = string
  default     = "10.40.0.0/16"
}

variable "interface_endpoints" {
  description = "AWS services the private subnets reach through interface endpoints (each costs about $7.30 a month per availability zone): what a Fargate task pulling from ECR, logging to CloudWatch and reading Secrets Manager needs."
  type        = list(string)
  default     = ["ecr.api", "ecr.dkr", "logs", "secretsmanager"]
}
