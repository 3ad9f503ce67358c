# Buckets: `data` (training datasets, read by training), `artifacts` (the run store under pipeline/, the
# bento build contexts, the inference service's captures under var.capture_prefix), `logs` (S3 server access
# logs and ALB access logs). All versioned, encrypted, public access blocked, TLS-only
# (var.enforce_tls_bucket_policy), with lifecycle rules.
locals {
  bucket_suffix = "${local.account_id}-${local.region}"
  store_prefix  = "pipeline"
  buckets = {
    data      = "${var.name}-data-${local.bucket_suffix}"
    artifacts = "${var.name}-artifacts-${local.bucket_suffix}"
  }
}

resource "aws_s3_bucket" "main" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice per account; the run store is versioned and reproducible from data + code.
  #checkov:skip=CKV2_AWS_62:No consumer of S3 event notifications: the DAG polls the run record it started.
  #checkov:skip=CKV_AWS_18:False positive: aws_s3_bucket_logging.main covers every key of this for_each; checkov links it to one key only.
  #checkov:skip=CKV_AWS_21:False positive: aws_s3_bucket_versioning.main covers every key of this for_each; checkov links it to one key only.
  #checkov:skip=CKV_AWS_145:False positive: aws_s3_bucket_server_side_encryption_configuration.main (SSE-KMS) covers every key; checkov links it to one key only.
  #checkov:skip=CKV2_AWS_6:False positive: aws_s3_bucket_public_access_block.main covers every key of this for_each; checkov links it to one key only.
  for_each      = local.buckets
  bucket        = each.value
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_public_access_block" "main" {
  for_each                = aws_s3_bucket.main
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "main" {
  for_each = aws_s3_bucket.main
  bucket   = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "main" {
  for_each = aws_s3_bucket.main
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "main" {
  for_each = aws_s3_bucket.main
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "main" {
  for_each      = aws_s3_bucket.main
  bucket        = each.value.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/${each.key}/"
  depends_on    = [aws_s3_bucket_policy.logs]
}

resource "aws_s3_bucket_lifecycle_configuration" "data" {
  bucket = aws_s3_bucket.main["data"].id

  rule {
    id     = "old-versions-and-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.main["artifacts"].id

  # Old run records (executed notebooks, reports, models, bento contexts) get cheaper, then go.
  rule {
    id     = "old-run-records"
    status = "Enabled"
    filter {
      prefix = "${local.store_prefix}/runs/"
    }
    transition {
      days          = var.run_record_transition_days
      storage_class = "STANDARD_IA"
    }
    dynamic "expiration" {
      for_each = var.run_record_expiration_days > 0 ? [1] : []
      content {
        days = var.run_record_expiration_days
      }
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # What the inference service answered (docs/monitoring.md) goes after capture_retention_days, for good: the
  # version the expiration turns noncurrent a day later (not after noncurrent_version_expiration_days, as the
  # catch-all rule below would keep it; overlapping rules take the shorter expiration), then its delete marker.
  rule {
    id     = "expire-captures"
    status = "Enabled"
    filter {
      prefix = var.capture_prefix
    }
    expiration {
      days = var.capture_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }

  rule {
    id     = "expire-capture-delete-markers"
    status = "Enabled"
    filter {
      prefix = var.capture_prefix
    }
    expiration {
      expired_object_delete_marker = true
    }
  }

  rule {
    id     = "old-versions-and-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "tls_only" {
  for_each = aws_s3_bucket.main
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      each.value.arn,
      "${each.value.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "tls_only" {
  for_each   = var.enforce_tls_bucket_policy ? aws_s3_bucket.main : {}
  bucket     = each.value.id
  policy     = data.aws_iam_policy_document.tls_only[each.key].json
  depends_on = [aws_s3_bucket_public_access_block.main]
}

# ---- logs bucket ----------------------------------------------------------------------------------------
resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log target; logging it into itself would loop.
  #checkov:skip=CKV_AWS_144:Access logs are not replicated across regions.
  #checkov:skip=CKV_AWS_145:ALB access logs only support SSE-S3 (AES256) on the target bucket, not SSE-KMS.
  #checkov:skip=CKV2_AWS_62:No consumer of event notifications for access logs.
  bucket        = "${var.name}-logs-${local.bucket_suffix}"
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_elb_service_account" "current" {}

data "aws_iam_policy_document" "logs" {
  dynamic "statement" {
    for_each = local.buckets
    content {
      sid       = "S3ServerAccessLogs${title(statement.key)}"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.logs.arn}/s3/${statement.key}/*"]
      principals {
        type        = "Service"
        identifiers = ["logging.s3.amazonaws.com"]
      }
      condition {
        test     = "ArnLike"
        variable = "aws:SourceArn"
        values   = ["arn:${local.partition}:s3:::${statement.value}"]
      }
    }
  }
  # Regions before 2022 deliver ALB logs from the regional ELB account, newer ones from the service principal.
  statement {
    sid       = "AlbAccessLogsElbAccount"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/alb/AWSLogs/${local.account_id}/*"]
    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.current.arn]
    }
  }
  statement {
    sid       = "AlbAccessLogsDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/alb/AWSLogs/${local.account_id}/*"]
    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }
  dynamic "statement" {
    for_each = var.enforce_tls_bucket_policy ? [1] : []
    content {
      sid       = "DenyInsecureTransport"
      effect    = "Deny"
      actions   = ["s3:*"]
      resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      condition {
        test     = "Bool"
        variable = "aws:SecureTransport"
        values   = ["false"]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket     = aws_s3_bucket.logs.id
  policy     = data.aws_iam_policy_document.logs.json
  depends_on = [aws_s3_bucket_public_access_block.logs]
}
