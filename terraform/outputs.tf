locals {
  # The Airflow Variable `sentiment_pipeline` (env AIRFLOW_VAR_SENTIMENT_PIPELINE): everything the DAG needs.
  airflow_variables = {
    region                          = local.region
    cluster                         = aws_ecs_cluster.main.name
    training_task_definition        = aws_ecs_task_definition.training.family
    training_container              = "training"
    image_builder_task_definition   = aws_ecs_task_definition.image_builder.family
    image_builder_container         = "kaniko"
    subnets                         = module.network.private_subnet_ids
    security_groups                 = [aws_security_group.tasks.id]
    log_group                       = aws_cloudwatch_log_group.pipeline.name
    training_log_stream_prefix      = "training"
    image_builder_log_stream_prefix = "image-builder"
    data_uri                        = local.data_uri
    eval_data_uri                   = local.eval_data_uri # "" when there is no fixed evaluation file
    store_uri                       = local.store_uri
    bento_repository_url            = aws_ecr_repository.main["bento"].repository_url
    inference_cluster               = aws_ecs_cluster.main.name
    inference_service               = module.inference.service_name
    inference_task_family           = module.inference.task_definition_family
    inference_container             = "bento"
    endpoint_url                    = "${local.https ? "https" : "http"}://${aws_lb.main.dns_name}"
    captures_uri                    = local.captures_uri # what the inference service captures; "" when capture is off
    monitoring_schedule             = var.monitoring_schedule
    # The bento container's capture settings: a deploy sets them on the revision it copies ({} when capture is off).
    inference_capture_environment = { for e in local.capture_environment : e.name => e.value if var.capture_enabled }
  }
}

output "airflow_variables" {
  description = "The Airflow Variable `sentiment_pipeline` (one JSON object; `make airflow-config` writes it out)."
  value       = local.airflow_variables
}

output "region" {
  description = "AWS region."
  value       = local.region
}

output "cluster_name" {
  description = "ECS cluster of every task and service."
  value       = aws_ecs_cluster.main.name
}

output "training_task_definition" {
  description = "Family of the training (papermill runner) task definition."
  value       = aws_ecs_task_definition.training.family
}

output "image_builder_task_definition" {
  description = "Family of the Kaniko image-builder task definition."
  value       = aws_ecs_task_definition.image_builder.family
}

output "private_subnet_ids" {
  description = "Private subnets of the tasks."
  value       = module.network.private_subnet_ids
}

output "public_subnet_ids" {
  description = "Public subnets of the load balancer and NAT."
  value       = module.network.public_subnet_ids
}

output "task_security_group_id" {
  description = "Security group of the training and image-builder tasks."
  value       = aws_security_group.tasks.id
}

output "data_bucket" {
  description = "Bucket of the training data (upload tweets/train.csv here)."
  value       = aws_s3_bucket.main["data"].id
}

output "artifacts_bucket" {
  description = "Bucket of the run store (pipeline/) and bento build contexts."
  value       = aws_s3_bucket.main["artifacts"].id
}

output "data_uri" {
  description = "Dataset the scheduled runs train on."
  value       = local.data_uri
}

output "store_uri" {
  description = "Run store of the pipeline."
  value       = local.store_uri
}

output "log_group" {
  description = "CloudWatch log group of the training and image-builder tasks."
  value       = aws_cloudwatch_log_group.pipeline.name
}

output "log_group_names" {
  description = "CloudWatch log groups Terraform creates: pipeline (training, image builder), inference, airflow, vpc_flow_logs (null without flow logs)."
  value = {
    pipeline      = aws_cloudwatch_log_group.pipeline.name
    inference     = module.inference.log_group_name
    airflow       = module.airflow.log_group_name
    vpc_flow_logs = module.network.flow_log_group_name
  }
}

output "ecr_repository_urls" {
  description = "ECR repositories by image: training, airflow, bento."
  value       = { for k, r in aws_ecr_repository.main : k => r.repository_url }
}

output "inference_service_name" {
  description = "ECS service serving the bento."
  value       = module.inference.service_name
}

output "inference_task_definition_arn" {
  description = "The inference task definition revision Terraform registered last, with the capture settings; the DAG's deploys copy the revision the service runs, so a change of capture_* reaches a serving stack from here (docs/infrastructure.md, Captures)."
  value       = module.inference.task_definition_arn
}

output "endpoint_url" {
  description = "HTTP endpoint of the inference service (POST /predict)."
  value       = local.airflow_variables.endpoint_url
}

output "airflow_service_name" {
  description = "ECS service running Airflow."
  value       = module.airflow.service_name
}

output "airflow_task_role_arn" {
  description = "Role of the Airflow components (what the DAG may do in AWS)."
  value       = aws_iam_role.task["airflow"].arn
}

output "airflow_ui_url" {
  description = "Where the Airflow UI opens once the ECS Exec port forward to the api-server runs (docs/infrastructure.md)."
  value       = "http://localhost:${local.airflow_port}"
}

output "airflow_admin_username" {
  description = "User to log in to Airflow as (SimpleAuthManager, role admin)."
  value       = var.airflow_admin_username
}

output "airflow_admin_secret_arn" {
  description = "Secrets Manager secret holding the Airflow admin password (aws secretsmanager get-secret-value --secret-id <this> --query SecretString --output text)."
  value       = aws_secretsmanager_secret.airflow_admin.arn
}
