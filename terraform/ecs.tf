# The ECS cluster (Container Insights), the log group and the security group of the pipeline's run-time tasks.
resource "aws_ecs_cluster" "main" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_cluster_capacity_providers" "main" {
  cluster_name       = aws_ecs_cluster.main.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

# The log group of the training and image-builder tasks (streams <prefix>/<container>/<task id>, read by the
# DAG). The inference and Airflow services have theirs in their modules (/<name>/inference, /<name>/airflow).
resource "aws_cloudwatch_log_group" "pipeline" {
  name              = "/${var.name}/pipeline"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

# Egress-only group of the training and image-builder tasks (S3 through the gateway endpoint; ECR, PyPI and
# Debian mirrors for the image build through NAT).
resource "aws_security_group" "tasks" {
  #checkov:skip=CKV2_AWS_5:Attached at run time: the DAG passes it to ecs:RunTask (airflow_variables.security_groups).
  name        = "${var.name}-pipeline-tasks"
  description = "Training and image-builder tasks: no inbound, HTTP(S) out"
  vpc_id      = module.network.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "tasks" {
  for_each          = toset(["80", "443"])
  security_group_id = aws_security_group.tasks.id
  description       = "HTTP(S) to AWS APIs and package mirrors"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.value)
  to_port           = tonumber(each.value)
  cidr_ipv4         = "0.0.0.0/0"
}
