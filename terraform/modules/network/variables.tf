variable "name" {
  description = "Name prefix of the network's resources (Name tags, flow log group and role)."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC; subnet i is the /24 (for a /16) at index i (public) and 10 + i (private)."
  type        = string
}

variable "azs" {
  description = "The two availability zones of the subnets."
  type        = list(string)

  validation {
    condition     = length(var.azs) == 2
    error_message = "Give exactly two availability zones."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for both private subnets (cheaper) instead of one per availability zone."
  type        = bool
  default     = true
}

variable "enable_flow_logs" {
  description = "VPC flow logs (all traffic) to a CloudWatch log group `/<name>/vpc-flow-logs`."
  type        = bool
  default     = true
}

variable "flow_log_retention_days" {
  description = "Retention of the flow log group."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key encrypting the flow log group (its key policy must let CloudWatch Logs use it)."
  type        = string
}
