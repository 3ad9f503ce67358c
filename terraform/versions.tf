terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Remote state in S3 with S3-native locking (a `.tflock` object next to the state; Terraform >= 1.10).
  # Partial configuration: bucket/key/region come from a file kept per environment, e.g.
  #   terraform init -backend-config=backend.hcl      (see backend.hcl.example and docs/infrastructure.md)
  backend "s3" {}
}
