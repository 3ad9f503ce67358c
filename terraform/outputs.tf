locals {
  # The Airflow Variable `sentiment_pipeline` (env AIRFLOW_VAR_SENTIMENT_PIPELINE): everything the DAG needs.
  airflow_variables = {
    region                          = local.region
    cluster                         = aws_ecs_cluster.main.name
    training_task_definition        = aws_ecs_task_definition.training.family
    training_container              = "training"
    image_builder_task_definition   = aws_ecs_task_definition.image_builder.family
    image_builder_container         = "kaniko"
    subnets                         = aws_subnet.private[*].id
    security_groups                 = [aws_security_group.tasks.id]
    log_group                       = aws_cloudwatch_log_group.main["pipeline"].name
    training_log_stream_prefix      = "training"
    image_builder_log_stream_prefix = "image-builder"
    data_uri                        = local.data_uri
    eval_data_uri                   = local.eval_data_uri # "" when there is no fixed evaluation file
    store_uri                       = local.store_uri
    bento_repository_url            = aws_ecr_repository.main["bento"].repository_url
    inference_cluster               = aws_ecs_cluster.main.name
    inference_service               = aws_ecs_service.inference.name
    inference_task_family           = aws_ecs_task_definition.inference.family
    inference_container             = "bento"
    endpoint_url                    = "${local.https ? "https" : "http"}://${aws_lb.main.dns_name}"
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
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "Public subnets of the load balancer and NAT."
  value       = aws_subnet.public[*].id
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
  value       = aws_cloudwatch_log_group.main["pipeline"].name
}

output "ecr_repository_urls" {
  description = "ECR repositories by image: training, airflow, bento."
  value       = { for k, r in aws_ecr_repository.main : k => r.repository_url }
}

output "inference_service_name" {
  description = "ECS service serving the bento."
  value       = aws_ecs_service.inference.name
}

output "endpoint_url" {
  description = "HTTP endpoint of the inference service (POST /predict)."
  value       = local.airflow_variables.endpoint_url
}

output "airflow_service_name" {
  description = "ECS service running Airflow."
  value       = aws_ecs_service.airflow.name
}

output "airflow_task_role_arn" {
  description = "Role of the Airflow components (what the DAG may do in AWS)."
  value       = aws_iam_role.task["airflow"].arn
}
