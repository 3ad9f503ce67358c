# Airflow 3 on ECS Fargate with an RDS PostgreSQL metadata database (why not MWAA: docs/infrastructure.md).
# One task runs the four Airflow components side by side (LocalExecutor: the DAG's tasks only start and watch
# ECS tasks, so they are light); `db-migrate` runs first. The Airflow Variable `sentiment_pipeline` comes
# from this configuration (AIRFLOW_VAR_SENTIMENT_PIPELINE); no AWS call at DAG parse time.
# Login: Airflow's SimpleAuthManager (the image has no FAB provider) with one admin user whose password is
# generated into Secrets Manager; the UI is reached through ECS Exec port forwarding (no inbound rule).
locals {
  airflow_image = "${aws_ecr_repository.main["airflow"].repository_url}:${var.image_tag}"
  db_name       = "airflow"
  airflow_port  = 8080 # the api-server, inside the task only (UI, REST API, task execution API)
  # Airflow reads the metadata-database URL from this command (sensitive options support `_CMD`); the
  # password comes from the RDS-managed secret and is URL-quoted here, never stored in the task definition.
  sql_alchemy_conn_cmd = "python -c \"import os, urllib.parse as u; print('postgresql+psycopg2://%s:%s@%s/%s?sslmode=require' % (u.quote(os.environ['DB_USER'], safe=''), u.quote(os.environ['DB_PASSWORD'], safe=''), os.environ['DB_HOST'], os.environ['DB_NAME']))\""
  airflow_environment = [
    { name = "AIRFLOW__CORE__EXECUTOR", value = "LocalExecutor" },
    { name = "AIRFLOW__CORE__AUTH_MANAGER", value = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager" },
    { name = "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", value = "${var.airflow_admin_username}:admin" },
    { name = "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", value = local.airflow_passwords_file },
    { name = "AIRFLOW__CORE__LOAD_EXAMPLES", value = "False" },
    { name = "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", value = "http://localhost:${local.airflow_port}/execution/" },
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
  # SimpleAuthManager reads its users' passwords from a JSON file. The api-server (the only component that
  # logs users in) writes it, readable by its own user only, from the admin secret just before it starts, and
  # drops the secret from its own environment.
  airflow_passwords_file = "/opt/airflow/simple_auth_manager_passwords.json"
  airflow_api_server_command = ["sh", "-c", join(" && ", [
    "umask 077",
    "python -c 'import json, os; user = os.environ[\"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS\"].split(\":\")[0]; print(json.dumps({user: os.environ[\"AIRFLOW_ADMIN_PASSWORD\"]}))' > \"$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE\"",
    "exec env -u AIRFLOW_ADMIN_PASSWORD airflow api-server --port ${local.airflow_port}",
  ])]
  airflow_components = {
    api-server    = { command = local.airflow_api_server_command, secrets = [{ name = "AIRFLOW_ADMIN_PASSWORD", valueFrom = aws_secretsmanager_secret.airflow_admin.arn }], health = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${local.airflow_port}/api/v2/monitor/health', timeout=8)"] }
    scheduler     = { command = ["airflow", "scheduler"], secrets = [], health = ["CMD", "airflow", "jobs", "check", "--job-type", "SchedulerJob", "--local"] }
    dag-processor = { command = ["airflow", "dag-processor"], secrets = [], health = ["CMD", "airflow", "jobs", "check", "--job-type", "DagProcessorJob", "--local"] }
    triggerer     = { command = ["airflow", "triggerer"], secrets = [], health = ["CMD", "airflow", "jobs", "check", "--job-type", "TriggererJob", "--local"] }
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

# ---- the admin user's password (SimpleAuthManager) -------------------------------------------------------
ephemeral "aws_secretsmanager_random_password" "airflow_admin" {
  password_length     = 32
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "airflow_admin" {
  #checkov:skip=CKV2_AWS_57:The api-server writes the password into its passwords file when it starts; rotate by bumping airflow_admin_password_version, then restart the Airflow service.
  name_prefix = "${var.name}-airflow-admin-"
  description = "Password of the Airflow UI/API user ${var.airflow_admin_username} (SimpleAuthManager)"
  kms_key_id  = aws_kms_key.main.arn
}

resource "aws_secretsmanager_secret_version" "airflow_admin" {
  secret_id                = aws_secretsmanager_secret.airflow_admin.id
  secret_string_wo         = ephemeral.aws_secretsmanager_random_password.airflow_admin.random_password
  secret_string_wo_version = var.airflow_admin_password_version
}

# ---- network --------------------------------------------------------------------------------------------
resource "aws_security_group" "db" {
  name        = "${var.name}-airflow-db"
  description = "Airflow metadata database: PostgreSQL from the Airflow task only"
  vpc_id      = module.network.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "db_from_airflow" {
  security_group_id            = aws_security_group.db.id
  description                  = "From the Airflow task"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = module.airflow.security_group_id
}

# ---- metadata database ----------------------------------------------------------------------------------
resource "aws_db_subnet_group" "airflow" {
  name       = "${var.name}-airflow"
  subnet_ids = module.network.private_subnet_ids
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

# ---- the Airflow task and service (modules/ecs-fargate-service) ----------------------------------------
module "airflow" {
  source = "./modules/ecs-fargate-service"

  name               = local.families.airflow
  region             = local.region
  cluster_arn        = aws_ecs_cluster.main.arn
  vpc_id             = module.network.vpc_id
  subnet_ids         = module.network.private_subnet_ids
  cpu                = var.airflow_cpu
  memory             = var.airflow_memory
  execution_role_arn = aws_iam_role.execution["airflow"].arn
  task_role_arn      = aws_iam_role.task["airflow"].arn
  log_group_name     = "/${var.name}/airflow"
  log_stream_prefix  = "airflow"
  log_retention_days = var.log_retention_days
  kms_key_arn        = aws_kms_key.main.arn

  # Airflow writes task logs, pid files and the DAG bundle cache under AIRFLOW_HOME in the image.
  container_definitions = concat(
    [{
      name                   = "db-migrate"
      image                  = local.airflow_image
      essential              = false
      memory                 = 1024
      readonlyRootFilesystem = false
      command                = ["airflow", "db", "migrate"]
      environment            = local.airflow_environment
      secrets                = local.airflow_secrets
    }],
    [for name, c in local.airflow_components : {
      name                   = name
      image                  = local.airflow_image
      essential              = true
      memory                 = floor((var.airflow_memory - 1024) / length(local.airflow_components))
      readonlyRootFilesystem = false
      command                = c.command
      environment            = local.airflow_environment
      secrets                = concat(local.airflow_secrets, c.secrets)
      dependsOn              = [{ containerName = "db-migrate", condition = "SUCCESS" }]
      healthCheck            = { command = c.health, interval = 30, timeout = 10, retries = 5, startPeriod = 120 }
    }],
  )

  security_group_description = "Airflow task: no inbound (ECS Exec for the UI), HTTPS and PostgreSQL out"
  egress_rules = {
    https = { description = "HTTPS to AWS APIs", from_port = 443, to_port = 443, cidr_ipv4 = "0.0.0.0/0" }
    db    = { description = "To the metadata database", from_port = 5432, to_port = 5432, referenced_security_group_id = aws_security_group.db.id }
  }

  # One task holds the scheduler: stop the old one before starting the new one.
  desired_count                      = 1
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
  enable_execute_command             = true
}
