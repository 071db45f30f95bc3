# Terraform and provider versions. State lives in a GCS bucket: copy backend.tf.example to
# backend.tf (see README.md) before `terraform init`.
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.5, < 3.0"
    }
  }
}

provider "google" {
  project = var.project
  region  = var.region

  default_labels = {
    app         = "seller-payouts"
    environment = var.environment
  }
}
