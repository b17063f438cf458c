# The storage module applied to LocalStack: what `./dev` runs to create the buckets.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {
    s3 = var.endpoint
  }
}

module "storage" {
  source            = "../../modules/storage"
  name_prefix       = var.name_prefix
  allowed_origins   = var.allowed_origins
  raw_lifecycle     = var.raw_lifecycle
  media_public_read = true
  force_destroy     = true
}
