# Roles of the ECS tasks. Execution roles (ECS agent: pull the image, write the log stream, read secrets)
# are separate from task roles (what the code in the container may do). Every statement names the
# narrowest ARN that exists; "*" appears only for actions that have no resource-level permissions. The KMS
# key is usable only through the service that holds the data (kms:ViaService: S3, Secrets Manager).
locals {
  families = {
    training      = "${var.name}-training"
    image_builder = "${var.name}-image-builder"
    inference     = "${var.name}-inference"
    airflow       = "${var.name}-airflow"
  }
  arn_prefix      = "arn:${local.partition}"
  artifacts_arn   = aws_s3_bucket.main["artifacts"].arn
  data_arn        = aws_s3_bucket.main["data"].arn
  task_def_arn    = { for k, f in local.families : k => "${local.arn_prefix}:ecs:${local.region}:${local.account_id}:task-definition/${f}:*" }
  cluster_tasks   = "${local.arn_prefix}:ecs:${local.region}:${local.account_id}:task/${aws_ecs_cluster.main.name}/*"
  pipeline_groups = "${aws_cloudwatch_log_group.pipeline.arn}:*"
  # Tag of the pipeline's own task definitions, copied onto their tasks (the DAG runs them with
  # propagate_tags=TASK_DEFINITION): Airflow may describe and stop those tasks and no other task in the cluster.
  pipeline_task_tag = { "sentiment-pipeline-task" = "pipeline" }
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  for_each           = toset(["pipeline", "inference", "airflow"])
  name               = "${var.name}-${each.key}-execution"
  description        = "ECS agent for the ${each.key} tasks: pull the image, write logs"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role" "task" {
  for_each           = toset(["training", "image-builder", "inference", "airflow"])
  name               = "${var.name}-${each.key}-task"
  description        = "What the ${each.key} container may do"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

# ---- execution roles ------------------------------------------------------------------------------------
locals {
  execution_repos = {
    pipeline  = [aws_ecr_repository.main["training"].arn]
    inference = [aws_ecr_repository.main["bento"].arn]
    airflow   = [aws_ecr_repository.main["airflow"].arn]
  }
  execution_log_groups = {
    pipeline  = aws_cloudwatch_log_group.pipeline.arn
    inference = module.inference.log_group_arn
    airflow   = module.airflow.log_group_arn
  }
}

data "aws_iam_policy_document" "execution" {
  for_each = local.execution_repos

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource-level permissions
  }
  statement {
    sid       = "PullOwnImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = each.value
  }
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.execution_log_groups[each.key]}:*"]
  }
  dynamic "statement" {
    for_each = each.key == "airflow" ? [1] : []
    content {
      sid       = "ReadAirflowSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [aws_db_instance.airflow.master_user_secret[0].secret_arn, aws_secretsmanager_secret.airflow.arn]
    }
  }
  dynamic "statement" {
    for_each = each.key == "airflow" ? [1] : []
    content {
      sid       = "ReadAirflowAdminPassword"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [aws_secretsmanager_secret.airflow_admin.arn]
    }
  }
  dynamic "statement" {
    for_each = each.key == "airflow" ? [1] : []
    content {
      sid       = "DecryptAirflowSecrets"
      actions   = ["kms:Decrypt"]
      resources = [aws_kms_key.main.arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  for_each = data.aws_iam_policy_document.execution
  name     = "ecs-execution"
  role     = aws_iam_role.execution[each.key].id
  policy   = each.value.json
}

# ---- training task: read the data bucket and the captures, read/write the run store (artifacts, pipeline/) ----
data "aws_iam_policy_document" "training" {
  statement {
    sid       = "ListData"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [local.data_arn]
  }
  statement {
    sid       = "ReadData"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${local.data_arn}/*"]
  }
  statement {
    sid       = "ListRunStore"
    actions   = ["s3:ListBucket"]
    resources = [local.artifacts_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.store_prefix}/*", local.store_prefix]
    }
  }
  statement {
    sid = "ReadWriteRunStore"
    actions = [
      "s3:GetObject", "s3:PutObject", # no DeleteObject: a run only ever adds or replaces files
      "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
    ]
    resources = ["${local.artifacts_arn}/${local.store_prefix}/*"]
  }
  # `sentiment-pipeline monitor` (the monitoring DAG runs it in this task definition) reads the service's captures.
  statement {
    sid       = "ListCaptures"
    actions   = ["s3:ListBucket"]
    resources = [local.artifacts_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.capture_prefix}*", trimsuffix(var.capture_prefix, "/")]
    }
  }
  statement {
    sid       = "ReadCaptures"
    actions   = ["s3:GetObject"]
    resources = ["${local.artifacts_arn}/${var.capture_prefix}*"]
  }
  statement {
    sid       = "UseBucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.pipeline_groups]
  }
}

resource "aws_iam_role_policy" "training" {
  name   = "training"
  role   = aws_iam_role.task["training"].id
  policy = data.aws_iam_policy_document.training.json
}

# ---- image builder (Kaniko): read bento build contexts, push only to the bento repository ---------------
data "aws_iam_policy_document" "image_builder" {
  statement {
    sid       = "ReadBentoContexts"
    actions   = ["s3:GetObject"]
    resources = ["${local.artifacts_arn}/${local.store_prefix}/runs/*/bento/*"]
  }
  statement {
    sid       = "DecryptBentoContexts"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource-level permissions
  }
  statement {
    sid = "PushBento"
    actions = [
      "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage",
      "ecr:DescribeImages", "ecr:DescribeRepositories",
    ]
    resources = [aws_ecr_repository.main["bento"].arn]
  }
}

resource "aws_iam_role_policy" "image_builder" {
  name   = "image-builder"
  role   = aws_iam_role.task["image-builder"].id
  policy = data.aws_iam_policy_document.image_builder.json
}

# ---- inference task: write its captures, nothing else ---------------------------------------------------
# The model is inside the bento image. The one AWS call the service makes is the capture's write of a finished
# segment (records/store.py, S3Store.write_bytes): a plain PutObject under capture_prefix, with no condition
# header, no multipart upload, no read, list or delete. Without capture_enabled the role has no policy.
data "aws_iam_policy_document" "inference" {
  count = var.capture_enabled ? 1 : 0

  statement {
    sid       = "WriteCaptures"
    actions   = ["s3:PutObject"]
    resources = ["${local.artifacts_arn}/${var.capture_prefix}*"]
  }
  # SSE-KMS: S3 asks the key for a data key on the writer's behalf (a single PUT needs no kms:Decrypt), only
  # through S3 and only for this bucket. The encryption context is the bucket's ARN with the bucket key on
  # (s3.tf), an object's ARN without it.
  statement {
    sid       = "EncryptCaptures"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = [local.artifacts_arn, "${local.artifacts_arn}/${var.capture_prefix}*"]
    }
  }
}

resource "aws_iam_role_policy" "inference" {
  count  = var.capture_enabled ? 1 : 0
  name   = "inference-capture"
  role   = aws_iam_role.task["inference"].id
  policy = data.aws_iam_policy_document.inference[0].json
}

# ---- Airflow: exactly what the DAG does ----------------------------------------------------------------
data "aws_iam_policy_document" "airflow" {
  statement {
    sid     = "RunPipelineTasks"
    actions = ["ecs:RunTask"]
    resources = [
      local.task_def_arn["training"],
      local.task_def_arn["image_builder"],
    ]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.main.arn]
    }
  }
  statement {
    sid       = "WatchPipelineTasks"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = [local.cluster_tasks]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.main.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${one(keys(local.pipeline_task_tag))}"
      values   = values(local.pipeline_task_tag)
    }
  }
  # RunTask copies the task definition's tags onto the task, which ECS authorizes as TagResource on create.
  statement {
    sid       = "TagPipelineTasksOnRun"
    actions   = ["ecs:TagResource"]
    resources = [local.cluster_tasks]
    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RunTask"]
    }
  }
  # reattach=True: a retried task looks for its still-running Fargate task (ListTasks is scoped by cluster
  # condition; its only resource type is container-instance, which Fargate does not have).
  statement {
    #checkov:skip=CKV_AWS_356:ListTasks on Fargate has no resource ARN to name; the ecs:cluster condition scopes it.
    sid       = "FindRunningPipelineTask"
    actions   = ["ecs:ListTasks"]
    resources = ["*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.main.arn]
    }
  }
  statement {
    #checkov:skip=CKV_AWS_356:RegisterTaskDefinition/DescribeTaskDefinition have no resource-level permissions.
    sid       = "DeployInferenceRevision"
    actions   = ["ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition"]
    resources = ["*"] # these two actions have no resource-level permissions
  }
  # The deploy step copies the previous revision's tags (describe_task_definition include=TAGS) onto the new one.
  statement {
    sid       = "TagInferenceRevision"
    actions   = ["ecs:TagResource"]
    resources = [local.task_def_arn["inference"]]
    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RegisterTaskDefinition"]
    }
  }
  statement {
    sid       = "ReadInferenceRevisionTags"
    actions   = ["ecs:ListTagsForResource"]
    resources = [local.task_def_arn["inference"]]
  }
  statement {
    sid       = "UpdateInferenceService"
    actions   = ["ecs:UpdateService", "ecs:DescribeServices"]
    resources = [module.inference.service_arn]
  }
  statement {
    sid     = "PassPipelineAndInferenceRoles"
    actions = ["iam:PassRole"]
    resources = [
      aws_iam_role.task["training"].arn,
      aws_iam_role.task["image-builder"].arn,
      aws_iam_role.task["inference"].arn,
      aws_iam_role.execution["pipeline"].arn,
      aws_iam_role.execution["inference"].arn,
    ]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    sid       = "ReadTaskLogs"
    actions   = ["logs:GetLogEvents"]
    resources = [local.pipeline_groups]
  }
  statement {
    sid       = "ListRunStore"
    actions   = ["s3:ListBucket"]
    resources = [local.artifacts_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.store_prefix}/*", local.store_prefix]
    }
  }
  statement {
    sid       = "ReadRunStore"
    actions   = ["s3:GetObject"]
    resources = ["${local.artifacts_arn}/${local.store_prefix}/*"]
  }
  statement {
    sid       = "RecordDeployment"
    actions   = ["s3:PutObject"]
    resources = ["${local.artifacts_arn}/${local.store_prefix}/deployed.json"]
  }
  statement {
    sid       = "UseRunStoreKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
  # ECS Exec into the Airflow task (port forwarding to the UI, `airflow` CLI): these actions have no
  # resource-level permissions.
  statement {
    #checkov:skip=CKV_AWS_356:ssmmessages channel actions have no resource-level permissions.
    sid       = "EcsExecChannel"
    actions   = ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "airflow" {
  name   = "airflow-dag"
  role   = aws_iam_role.task["airflow"].id
  policy = data.aws_iam_policy_document.airflow.json
}
