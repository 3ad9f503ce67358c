# ---- identity and placement -----------------------------------------------------------------------------
variable "name" {
  description = "Name of the ECS service; also the task definition family and the security group name."
  type        = string
}

variable "region" {
  description = "AWS region the awslogs driver writes to (passed in, not looked up, so the task definition is known at plan time)."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster the service runs in."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the service's security group."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the tasks (private: the tasks get no public IP)."
  type        = list(string)
}

# ---- task definition ------------------------------------------------------------------------------------
variable "cpu" {
  description = "Fargate CPU units of one task (1024 = 1 vCPU)."
  type        = number
}

variable "memory" {
  description = "Fargate memory (MiB) of one task."
  type        = number
}

variable "cpu_architecture" {
  description = "CPU architecture of the task: X86_64 or ARM64."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "execution_role_arn" {
  description = "Role of the ECS agent (pull the image, write the log stream, read the secrets named in the containers)."
  type        = string
}

variable "task_role_arn" {
  description = "Role of the code in the containers."
  type        = string
}

variable "container_definitions" {
  description = "Container definitions in the ECS API's shape (camelCase keys), in start order. Each one that has no logConfiguration gets the awslogs driver on this module's log group."
  type        = any

  validation {
    condition     = length(var.container_definitions) > 0 && alltrue([for c in var.container_definitions : can(c.name) && can(c.image)])
    error_message = "container_definitions needs at least one container, each with a name and an image."
  }
}

# ---- logs -----------------------------------------------------------------------------------------------
variable "log_group_name" {
  description = "Name of the CloudWatch log group the module creates for the containers."
  type        = string
}

variable "log_stream_prefix" {
  description = "awslogs-stream-prefix of the containers: streams are <prefix>/<container>/<task id>."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the log group."
  type        = number
}

variable "kms_key_arn" {
  description = "KMS key encrypting the log group (its key policy must let CloudWatch Logs use it)."
  type        = string
}

# ---- network --------------------------------------------------------------------------------------------
variable "security_group_description" {
  description = "Description of the service's security group (what it lets in and out)."
  type        = string
}

variable "ingress_rules" {
  description = "Inbound rules of the service's security group, by key. Give cidr_ipv4 or referenced_security_group_id."
  type = map(object({
    description                  = string
    ip_protocol                  = optional(string, "tcp")
    from_port                    = number
    to_port                      = number
    cidr_ipv4                    = optional(string)
    referenced_security_group_id = optional(string)
  }))
  default = {}

  validation {
    condition     = alltrue([for r in values(var.ingress_rules) : (r.cidr_ipv4 == null) != (r.referenced_security_group_id == null)])
    error_message = "Each ingress rule needs exactly one of cidr_ipv4 and referenced_security_group_id."
  }
}

variable "egress_rules" {
  description = "Outbound rules of the service's security group, by key. Give cidr_ipv4 or referenced_security_group_id."
  type = map(object({
    description                  = string
    ip_protocol                  = optional(string, "tcp")
    from_port                    = number
    to_port                      = number
    cidr_ipv4                    = optional(string)
    referenced_security_group_id = optional(string)
  }))
  default = {}

  validation {
    condition     = alltrue([for r in values(var.egress_rules) : (r.cidr_ipv4 == null) != (r.referenced_security_group_id == null)])
    error_message = "Each egress rule needs exactly one of cidr_ipv4 and referenced_security_group_id."
  }
}

# ---- service --------------------------------------------------------------------------------------------
variable "desired_count" {
  description = "Tasks the service runs (at creation only when ignore_task_definition_changes is true)."
  type        = number
  default     = 1
}

variable "deployment_minimum_healthy_percent" {
  description = "Lower limit of running tasks during a deployment, in percent of desired_count (0: stop the old task first)."
  type        = number
  default     = 100
}

variable "deployment_maximum_percent" {
  description = "Upper limit of running tasks during a deployment, in percent of desired_count (100: never two at once)."
  type        = number
  default     = 200
}

variable "health_check_grace_period_seconds" {
  description = "Seconds the service ignores load balancer health checks after a task starts; null without a load balancer."
  type        = number
  default     = null
}

variable "enable_execute_command" {
  description = "ECS Exec into the containers (the task role then needs the ssmmessages channel actions)."
  type        = bool
  default     = false
}

variable "load_balancers" {
  description = "Target groups the service registers its tasks in, by key (empty: no load balancer)."
  type = map(object({
    target_group_arn = string
    container_name   = string
    container_port   = number
  }))
  default = {}
}

variable "ignore_task_definition_changes" {
  description = "Leave the service's task definition revision and desired count to something outside Terraform (a deploy step, autoscaling): Terraform registers revisions of the task definition but never rolls the service to them."
  type        = bool
  default     = false
}
