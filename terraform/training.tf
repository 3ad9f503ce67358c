# Task definitions the DAG runs: the papermill training runner and the Kaniko image builder.
# Both log to the `pipeline` group; stream names are <prefix>/<container>/<task id>.
locals {
  data_uri      = "s3://${aws_s3_bucket.main["data"].id}/tweets/train.csv"
  eval_data_uri = var.eval_data_key == "" ? "" : "s3://${aws_s3_bucket.main["data"].id}/${var.eval_data_key}"
  store_uri     = "s3://${aws_s3_bucket.main["artifacts"].id}/${local.store_prefix}"
  pipeline_log = {
    logDriver = "awslogs"
    options = {
      awslogs-group  = aws_cloudwatch_log_group.pipeline.name
      awslogs-region = local.region
    }
  }
}

resource "aws_ecs_task_definition" "training" {
  family                   = local.families.training
  tags                     = local.pipeline_task_tag # propagated to its tasks: what Airflow may watch and stop
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.training_cpu
  memory                   = var.training_memory
  execution_role_arn       = aws_iam_role.execution["pipeline"].arn
  task_role_arn            = aws_iam_role.task["training"].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  ephemeral_storage {
    size_in_gib = 30
  }

  # The root filesystem is read-only; everything the run writes locally goes to this scratch volume.
  volume {
    name = "scratch"
  }

  container_definitions = jsonencode([{
    name                   = "training"
    image                  = "${aws_ecr_repository.main["training"].repository_url}:${var.image_tag}"
    essential              = true
    memory                 = var.training_memory
    readonlyRootFilesystem = true
    user                   = "10001:10001"
    command                = ["sentiment-pipeline", "--help"] # the DAG overrides it: run / package ...
    mountPoints            = [{ sourceVolume = "scratch", containerPath = "/tmp", readOnly = false }]
    environment = [
      { name = "SENTIMENT_PIPELINE_DATA", value = local.data_uri },
      { name = "SENTIMENT_PIPELINE_STORE", value = local.store_uri },
      { name = "AWS_REGION", value = local.region },
      { name = "HOME", value = "/tmp" },
      { name = "BENTOML_HOME", value = "/tmp/bentoml" },
      { name = "MPLCONFIGDIR", value = "/tmp/matplotlib" },
      { name = "JUPYTER_RUNTIME_DIR", value = "/tmp/jupyter-runtime" },
      { name = "IPYTHONDIR", value = "/tmp/ipython" },
    ]
    logConfiguration = merge(local.pipeline_log, {
      options = merge(local.pipeline_log.options, { awslogs-stream-prefix = "training" })
    })
  }])
}

resource "aws_ecs_task_definition" "image_builder" {
  #checkov:skip=CKV_AWS_336:Kaniko unpacks the base image into its own root filesystem to build, so it cannot be read-only.
  family                   = local.families.image_builder
  tags                     = local.pipeline_task_tag
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.image_builder_cpu
  memory                   = var.image_builder_memory
  execution_role_arn       = aws_iam_role.execution["pipeline"].arn
  task_role_arn            = aws_iam_role.task["image-builder"].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  ephemeral_storage {
    size_in_gib = 50
  }

  # The DAG passes the whole argument list, e.g.
  #   --context s3://<artifacts>/pipeline/runs/<run id>/bento/context.tar.gz --dockerfile env/docker/Dockerfile
  #   --destination <bento repository url>:<tag>
  container_definitions = jsonencode([{
    name                   = "kaniko"
    image                  = var.image_builder_image
    essential              = true
    memory                 = var.image_builder_memory
    readonlyRootFilesystem = false
    environment = [
      { name = "AWS_REGION", value = local.region },
      { name = "AWS_SDK_LOAD_CONFIG", value = "true" },
    ]
    logConfiguration = merge(local.pipeline_log, {
      options = merge(local.pipeline_log.options, { awslogs-stream-prefix = "image-builder" })
    })
  }])
}
