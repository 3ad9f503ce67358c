# State addresses of the flat layout moved to the modules, so that a deployed stack keeps every resource
# (a plan shows "has moved to", not destroy and create). Keep these blocks while any state written before
# the move may still be applied; removing them later is safe once every environment has applied them.

# ---- network.tf -> modules/network ----------------------------------------------------------------------
moved {
  from = aws_vpc.main
  to   = module.network.aws_vpc.this
}

moved {
  from = aws_default_security_group.default
  to   = module.network.aws_default_security_group.this
}

moved {
  from = aws_internet_gateway.main
  to   = module.network.aws_internet_gateway.this
}

moved {
  from = aws_subnet.public
  to   = module.network.aws_subnet.public
}

moved {
  from = aws_subnet.private
  to   = module.network.aws_subnet.private
}

moved {
  from = aws_eip.nat
  to   = module.network.aws_eip.nat
}

moved {
  from = aws_nat_gateway.main
  to   = module.network.aws_nat_gateway.this
}

moved {
  from = aws_route_table.public
  to   = module.network.aws_route_table.public
}

moved {
  from = aws_route.public_internet
  to   = module.network.aws_route.public_internet
}

moved {
  from = aws_route_table_association.public
  to   = module.network.aws_route_table_association.public
}

moved {
  from = aws_route_table.private
  to   = module.network.aws_route_table.private
}

moved {
  from = aws_route.private_nat
  to   = module.network.aws_route.private_nat
}

moved {
  from = aws_route_table_association.private
  to   = module.network.aws_route_table_association.private
}

moved {
  from = aws_vpc_endpoint.s3
  to   = module.network.aws_vpc_endpoint.s3
}

moved {
  from = aws_cloudwatch_log_group.flow_logs
  to   = module.network.aws_cloudwatch_log_group.flow_logs
}

moved {
  from = aws_iam_role.flow_logs
  to   = module.network.aws_iam_role.flow_logs
}

moved {
  from = aws_iam_role_policy.flow_logs
  to   = module.network.aws_iam_role_policy.flow_logs
}

moved {
  from = aws_flow_log.main
  to   = module.network.aws_flow_log.this
}

# ---- ecs.tf: the log groups of the two services went into their modules, the pipeline's stays --------------
moved {
  from = aws_cloudwatch_log_group.main["pipeline"]
  to   = aws_cloudwatch_log_group.pipeline
}

# ---- inference.tf -> module.inference (modules/ecs-fargate-service) --------------------------------------
moved {
  from = aws_cloudwatch_log_group.main["inference"]
  to   = module.inference.aws_cloudwatch_log_group.this
}

moved {
  from = aws_security_group.inference
  to   = module.inference.aws_security_group.this
}

moved {
  from = aws_vpc_security_group_ingress_rule.inference_from_alb
  to   = module.inference.aws_vpc_security_group_ingress_rule.this["alb"]
}

moved {
  from = aws_vpc_security_group_egress_rule.inference_https
  to   = module.inference.aws_vpc_security_group_egress_rule.this["https"]
}

moved {
  from = aws_ecs_task_definition.inference
  to   = module.inference.aws_ecs_task_definition.this
}

moved {
  from = aws_ecs_service.inference
  to   = module.inference.aws_ecs_service.ignore_task_definition[0]
}

# ---- airflow.tf -> module.airflow (modules/ecs-fargate-service) ------------------------------------------
moved {
  from = aws_cloudwatch_log_group.main["airflow"]
  to   = module.airflow.aws_cloudwatch_log_group.this
}

moved {
  from = aws_security_group.airflow
  to   = module.airflow.aws_security_group.this
}

moved {
  from = aws_vpc_security_group_egress_rule.airflow_https
  to   = module.airflow.aws_vpc_security_group_egress_rule.this["https"]
}

moved {
  from = aws_vpc_security_group_egress_rule.airflow_db
  to   = module.airflow.aws_vpc_security_group_egress_rule.this["db"]
}

moved {
  from = aws_ecs_task_definition.airflow
  to   = module.airflow.aws_ecs_task_definition.this
}

moved {
  from = aws_ecs_service.airflow
  to   = module.airflow.aws_ecs_service.this[0]
}
