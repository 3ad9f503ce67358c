# The bento image as an ECS Fargate service (modules/ecs-fargate-service) in the private subnets, behind an
# ALB health-checking /readyz; deployment circuit breaker with rollback; autoscaling on CPU or on ALB requests
# per target; with capture_enabled, what it answers captured under capture_prefix of the artifacts bucket.
locals {
  https = var.certificate_arn != null
  # The capture (docs/monitoring.md): each worker writes a gzip JSON-lines segment about once a minute, one
  # PutObject each, under this URI (the monitoring DAG reads it as captures_uri). "" when capture is off.
  captures_uri = var.capture_enabled ? "s3://${aws_s3_bucket.main["artifacts"].id}/${trimsuffix(var.capture_prefix, "/")}" : ""
  # AWS_REGION: the capture's S3 client then talks to the bucket's region (through the S3 gateway endpoint).
  capture_environment = [
    { name = "AWS_REGION", value = local.region },
    { name = "SENTIMENT_CAPTURE_RATE", value = tostring(var.capture_rate) },
    { name = "SENTIMENT_CAPTURE_TEXT", value = var.capture_text },
    { name = "SENTIMENT_CAPTURE_URI", value = local.captures_uri },
  ]
}

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "Load balancer: HTTP(S) in from var.ingress_cidr_blocks, to the inference tasks out"
  vpc_id      = module.network.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "alb" {
  #checkov:skip=CKV_AWS_260:The endpoint is public by design (var.ingress_cidr_blocks narrows it); with certificate_arn set, port 80 only redirects to HTTPS.
  for_each          = { for pair in setproduct(var.ingress_cidr_blocks, local.https ? [80, 443] : [80]) : "${pair[0]}-${pair[1]}" => pair }
  security_group_id = aws_security_group.alb.id
  description       = "HTTP(S) from clients"
  ip_protocol       = "tcp"
  from_port         = each.value[1]
  to_port           = each.value[1]
  cidr_ipv4         = each.value[0]
}

resource "aws_vpc_security_group_egress_rule" "alb_to_service" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the bento containers"
  ip_protocol                  = "tcp"
  from_port                    = 3000
  to_port                      = 3000
  referenced_security_group_id = module.inference.security_group_id
}

resource "aws_lb" "main" {
  #checkov:skip=CKV2_AWS_28:A WAF web ACL is an account-level choice (cost, rules); attach one with aws_wafv2_web_acl_association.
  #checkov:skip=CKV2_AWS_20:HTTP redirects to HTTPS whenever certificate_arn is set; without a certificate there is nothing to redirect to.
  name                       = "${var.name}-inference"
  internal                   = var.internal_endpoint #tfsec:ignore:aws-elb-alb-not-public
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.internal_endpoint ? module.network.private_subnet_ids : module.network.public_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = 60

  access_logs {
    bucket  = aws_s3_bucket.logs.id
    prefix  = "alb"
    enabled = var.enable_alb_access_logs
  }

  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_lb_target_group" "inference" {
  #checkov:skip=CKV_AWS_378:TLS terminates at the load balancer; the hop to the task stays inside the private subnets.
  name                 = "${var.name}-bento"
  port                 = 3000
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = module.network.vpc_id
  deregistration_delay = 30

  health_check {
    path                = "/readyz"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "http" {
  #checkov:skip=CKV_AWS_2:Plain HTTP is served only while no certificate_arn is given; with one, this listener redirects to HTTPS.
  #checkov:skip=CKV_AWS_103:Same listener: TLS policy applies to the HTTPS listener created with certificate_arn.
  load_balancer_arn = aws_lb.main.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = local.https ? "redirect" : "forward"
    target_group_arn = local.https ? null : aws_lb_target_group.inference.arn

    dynamic "redirect" {
      for_each = local.https ? [1] : []
      content {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }
  }
}

resource "aws_lb_listener" "https" {
  count             = local.https ? 1 : 0
  load_balancer_arn = aws_lb.main.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.inference.arn
  }
}

# The bento service (modules/ecs-fargate-service) in the private subnets, registered in the target group.
module "inference" {
  source = "./modules/ecs-fargate-service"

  name               = local.families.inference
  region             = local.region
  cluster_arn        = aws_ecs_cluster.main.arn
  vpc_id             = module.network.vpc_id
  subnet_ids         = module.network.private_subnet_ids
  cpu                = var.inference_cpu
  memory             = var.inference_memory
  execution_role_arn = aws_iam_role.execution["inference"].arn
  task_role_arn      = aws_iam_role.task["inference"].arn
  log_group_name     = "/${var.name}/inference"
  log_stream_prefix  = "inference"
  log_retention_days = var.log_retention_days
  kms_key_arn        = aws_kms_key.main.arn

  # BentoML writes its Prometheus multiprocess files and temporary uploads under the bento home at run time.
  # Without capture the container has no environment of Terraform's (the deploy step adds the model's).
  container_definitions = [merge({
    name                   = "bento"
    image                  = "${aws_ecr_repository.main["bento"].repository_url}:${var.bento_image_tag}"
    essential              = true
    memory                 = var.inference_memory
    readonlyRootFilesystem = false
    portMappings           = [{ containerPort = 3000, protocol = "tcp" }]
    healthCheck = {
      command     = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/readyz', timeout=4)"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 60
    }
  }, { for key, value in { environment = local.capture_environment } : key => value if var.capture_enabled })]

  security_group_description = "Inference tasks: port 3000 from the load balancer, HTTPS out (ECR, logs)"
  ingress_rules = {
    alb = { description = "From the load balancer", from_port = 3000, to_port = 3000, referenced_security_group_id = aws_security_group.alb.id }
  }
  egress_rules = {
    https = { description = "HTTPS to ECR, CloudWatch Logs and S3 (captures)", from_port = 443, to_port = 443, cidr_ipv4 = "0.0.0.0/0" }
  }

  desired_count                      = var.inference_desired_count
  health_check_grace_period_seconds  = 60
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  load_balancers = {
    bento = { target_group_arn = aws_lb_target_group.inference.arn, container_name = "bento", container_port = 3000 }
  }
  # The DAG deploys each new bento as a new task definition revision; autoscaling owns the count.
  ignore_task_definition_changes = true

  # The target group must be attached to the load balancer (through the listener) before the service uses it.
  depends_on = [aws_lb_listener.http]
}

# ---- autoscaling ----------------------------------------------------------------------------------------
resource "aws_appautoscaling_target" "inference" {
  count              = var.autoscaling_enabled ? 1 : 0
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${module.inference.service_name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.autoscaling_min
  max_capacity       = var.autoscaling_max
}

resource "aws_appautoscaling_policy" "inference" {
  count              = var.autoscaling_enabled ? 1 : 0
  name               = "${var.name}-inference-${var.autoscaling_metric}"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.inference[0].service_namespace
  resource_id        = aws_appautoscaling_target.inference[0].resource_id
  scalable_dimension = aws_appautoscaling_target.inference[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.autoscaling_metric == "cpu" ? var.autoscaling_cpu_target : var.autoscaling_requests_target
    scale_in_cooldown  = 120
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = var.autoscaling_metric == "cpu" ? "ECSServiceAverageCPUUtilization" : "ALBRequestCountPerTarget"
      resource_label         = var.autoscaling_metric == "cpu" ? null : "${aws_lb.main.arn_suffix}/${aws_lb_target_group.inference.arn_suffix}"
    }
  }
}
