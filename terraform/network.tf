# The network (modules/network): VPC over two availability zones, public subnets (load balancer, NAT),
# private subnets (every task and the database), NAT, route tables, S3 gateway endpoint and flow logs.
module "network" {
  source = "./modules/network"

  name                    = var.name
  vpc_cidr                = var.vpc_cidr
  azs                     = local.azs
  single_nat_gateway      = var.single_nat_gateway
  enable_flow_logs        = var.enable_flow_logs
  flow_log_retention_days = var.log_retention_days
  kms_key_arn             = aws_kms_key.main.arn
}
