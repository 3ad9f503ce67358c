# Airflow 3 on ECS Fargate with an RDS PostgreSQL metadata database (why not MWAA: docs/infrastructure.md).
# One task runs the four Airflow components side by side (LocalExecutor: the DAG's tasks only start and watch
# ECS tasks, so they are light); `db-migrate` runs first. The Airflow Variable `sentiment_pipeline` comes
# from this configuration (AIRFLOW_VAR_SENTIMENT_PIPELINE); no AWS call at DAG parse time.
locals {
  airflow_image = "${aws_ecr_repository.main["airflow"].repository_url}:${var.image_tag}"
  db_name       = "airflow"
  # Airflow reads the metadata-database URL from this command (sensitive options support `_CMD`); the
  # password comes from the RDS-managed secret and is URL-quoted here, never stored in the task definition.
  sql_alchemy_conn_cmd = "python -c \"import os, urllib.parse as u; print('postgresql+psycopg2://%s:%s@%s/%s?sslmode=require' % (u.quote(os.environ['DB_USER'], safe=''), u.quote(os.environ['DB_PASSWORD'], safe=''), os.environ['DB_HOST'], os.environ['DB_NAME']))\""
  airflow_environment = [
    { name = "AIRFLOW__CORE__EXECUTOR", value = "LocalExecutor" },
    { name = "AIRFLOW__CORE__LOAD_EXAMPLES", value = "False" },
    { name = "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", value = "http://localhost:8080/execution/" },
    { name = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD", value = local.sql_alchemy_conn_cmd },
    { name = "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG", value = "False" },
    { name = "AIRFLOW_CONN_AWS_DEFAULT", value = "aws://?region_name=${local.region}" },
    { name = "AIRFLOW_VAR_SENTIMENT_PIPELINE", value = jsonencode(local.airflow_variables) },
    { name = "AWS_REGION", value = local.region },
    { name = "DB_HOST", value = aws_db_instance.airflow.endpoint },
    { name = "DB_NAME", value = local.db_name },
  ]
  airflow_secrets = [
    { name = "DB_USER", valueFrom = "${aws_db_instance.airflow.master_user_secret[0].secret_arn}:username::" },
    { name = "DB_PASSWORD", valueFrom = "${aws_db_instance.airflow.master_user_secret[0].secret_arn}:password::" },
    { name = "AIRFLOW__API_AUTH__JWT_SECRET", valueFrom = aws_secretsmanager_secret.airflow.arn },
    { name = "AIRFLOW__API__SECRET_KEY", valueFrom = aws_secretsmanager_secret.airflow.arn },
  ]
  airflow_log = {
    logDriver = "awslogs"
    options = {
      awslogs-group         = aws_cloudwatch_log_group.main["airflow"].name
      awslogs-region        = local.region
      awslogs-stream-prefix = "airflow"
    }
  }
  airflow_components = {
    api-server    = { command = ["airflow", "api-server", "--port", "8080"], health = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/api/v2/monitor/health', timeout=8)"] }
    scheduler     = { command = ["airflow", "scheduler"], health = ["CMD", "airflow", "jobs", "check", "--job-type", "SchedulerJob", "--local"] }
    dag-processor = { command = ["airflow", "dag-processor"], health = ["CMD", "airflow", "jobs", "check", "--job-type", "DagProcessorJob", "--local"] }
    triggerer     = { command = ["airflow", "triggerer"], health = ["CMD", "airflow", "jobs", "check", "--job-type", "TriggererJob", "--local"] }
  }
}

# ---- shared secret of the components (JWT signing for the task execution API) ---------------------------
ephemeral "aws_secretsmanager_random_password" "airflow" {
  password_length     = 48
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "airflow" {
  #checkov:skip=CKV2_AWS_57:Rotating the JWT secret needs all Airflow components restarted together; rotate by bumping airflow_secret_version.
  name_prefix = "${var.name}-airflow-jwt-"
  description = "Airflow api_auth.jwt_secret / api.secret_key shared by the Airflow components"
  kms_key_id  = aws_kms_key.main.arn
}

resource "aws_secretsmanager_secret_version" "airflow" {
  secret_id                = aws_secretsmanager_secret.airflow.id
  secret_string_wo         = ephemeral.aws_secretsmanager_random_password.airflow.random_password
  secret_string_wo_version = var.airflow_secret_version
}

# ---- network --------------------------------------------------------------------------------------------
resource "aws_security_group" "airflow" {
  name        = "${var.name}-airflow"
  description = "Airflow task: no inbound (ECS Exec for the UI), HTTPS and PostgreSQL out"
  vpc_id      = aws_vpc.main.id
}

resource "aws_vpc_security_group_egress_rule" "airflow_https" {
  security_group_id = aws_security_group.airflow.id
  description       = "HTTPS to AWS APIs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "airflow_db" {
  security_group_id            = aws_security_group.airflow.id
  description                  = "To the metadata database"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.db.id
}

resource "aws_security_group" "db" {
  name        = "${var.name}-airflow-db"
  description = "Airflow metadata database: PostgreSQL from the Airflow task only"
  vpc_id      = aws_vpc.main.id
}

resource "aws_vpc_security_group_ingress_rule" "db_from_airflow" {
  security_group_id            = aws_security_group.db.id
  description                  = "From the Airflow task"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.airflow.id
}

# ---- metadata database ----------------------------------------------------------------------------------
resource "aws_db_subnet_group" "airflow" {
  name       = "${var.name}-airflow"
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_db_parameter_group" "airflow" {
  name_prefix = "${var.name}-airflow-"
  family      = "postgres${var.db_engine_version}"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "airflow" {
  #checkov:skip=CKV_AWS_118:Enhanced monitoring needs another role; Performance Insights and the exported postgresql log cover this small metadata database.
  identifier                            = "${var.name}-airflow"
  engine                                = "postgres"
  engine_version                        = var.db_engine_version
  instance_class                        = var.db_instance_class
  allocated_storage                     = var.db_allocated_storage
  storage_type                          = "gp3"
  storage_encrypted                     = true
  kms_key_id                            = aws_kms_key.main.arn
  db_name                               = local.db_name
  username                              = "airflow"
  manage_master_user_password           = true
  master_user_secret_kms_key_id         = aws_kms_key.main.arn
  db_subnet_group_name                  = aws_db_subnet_group.airflow.name
  parameter_group_name                  = aws_db_parameter_group.airflow.name
  vpc_security_group_ids                = [aws_security_group.db.id]
  publicly_accessible                   = false
  multi_az                              = var.db_multi_az
  iam_database_authentication_enabled   = true
  backup_retention_period               = 7
  copy_tags_to_snapshot                 = true
  auto_minor_version_upgrade            = true
  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
  performance_insights_enabled          = var.db_performance_insights
  performance_insights_kms_key_id       = var.db_performance_insights ? aws_kms_key.main.arn : null
  performance_insights_retention_period = var.db_performance_insights ? 7 : null
  deletion_protection                   = var.deletion_protection
  skip_final_snapshot                   = !var.deletion_protection
  final_snapshot_identifier             = "${var.name}-airflow-final"
}

# ---- the Airflow task and service -----------------------------------------------------------------------
resource "aws_ecs_task_definition" "airflow" {
  #checkov:skip=CKV_AWS_336:Airflow writes task logs, pid files and the DAG bundle cache under AIRFLOW_HOME in the image.
  family                   = local.families.airflow
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.airflow_cpu
  memory                   = var.airflow_memory
  execution_role_arn       = aws_iam_role.execution["airflow"].arn
  task_role_arn            = aws_iam_role.task["airflow"].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode(concat(
    [{
      name                   = "db-migrate"
      image                  = local.airflow_image
      essential              = false
      memory                 = 1024
      readonlyRootFilesystem = false
      command                = ["airflow", "db", "migrate"]
      environment            = local.airflow_environment
      secrets                = local.airflow_secrets
      logConfiguration       = local.airflow_log
    }],
    [for name, c in local.airflow_components : {
      name                   = name
      image                  = local.airflow_image
      essential              = true
      memory                 = floor((var.airflow_memory - 1024) / length(local.airflow_components))
      readonlyRootFilesystem = false
      command                = c.command
      environment            = local.airflow_environment
      secrets                = local.airflow_secrets
      dependsOn              = [{ containerName = "db-migrate", condition = "SUCCESS" }]
      healthCheck            = { command = c.health, interval = 30, timeout = 10, retries = 5, startPeriod = 120 }
      logConfiguration       = local.airflow_log
    }],
  ))
}

resource "aws_ecs_service" "airflow" {
  name                               = "${var.name}-airflow"
  cluster                            = aws_ecs_cluster.main.id
  task_definition                    = aws_ecs_task_definition.airflow.arn
  desired_count                      = 1
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
  enable_execute_command             = true
  propagate_tags                     = "SERVICE"
  enable_ecs_managed_tags            = true

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.airflow.id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
}
