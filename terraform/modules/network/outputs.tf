output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "azs" {
  description = "Availability zones of the subnets, in subnet order."
  value       = var.azs
}

output "public_subnet_ids" {
  description = "Public subnets (load balancer, NAT), one per availability zone."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets (tasks, database), one per availability zone."
  value       = aws_subnet.private[*].id
}

output "private_route_table_ids" {
  description = "Route tables of the private subnets."
  value       = aws_route_table.private[*].id
}

output "nat_gateway_ids" {
  description = "NAT gateways (one, or one per availability zone)."
  value       = aws_nat_gateway.this[*].id
}

output "nat_public_ips" {
  description = "Public IPs the private subnets reach the internet from (allow-list them elsewhere if needed)."
  value       = aws_eip.nat[*].public_ip
}

output "s3_endpoint_id" {
  description = "S3 gateway endpoint of the private route tables."
  value       = aws_vpc_endpoint.s3.id
}

output "flow_log_group_name" {
  description = "CloudWatch log group of the VPC flow logs; null when enable_flow_logs is false."
  value       = one(aws_cloudwatch_log_group.flow_logs[*].name)
}
