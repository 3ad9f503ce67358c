# ---- general --------------------------------------------------------------------------------------------
variable "region" {
  description = "AWS region for every resource."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Name prefix of every resource (lower case, digits, dashes)."
  type        = string
  default     = "sentiment"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 characters of lower case letters, digits and dashes."
  }
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

variable "image_tag" {
  description = "Tag of the training and Airflow images in ECR (CI pushes the git commit SHA)."
  type        = string
}

variable "eval_data_key" {
  description = "Key in the data bucket of a labelled evaluation file kept apart from the training data (text,label_text). Every run and the quality gate score on it; empty: none, the gate compares on the test splits."
  type        = string
  default     = ""

  validation {
    condition     = !startswith(var.eval_data_key, "/") && !strcontains(var.eval_data_key, "..")
    error_message = "eval_data_key is a key inside the data bucket, e.g. tweets/eval.csv (no leading slash, no ..)."
  }
}

variable "bento_image_tag" {
  description = "Tag of the bento image the inference service starts with; later revisions are registered by the DAG's deploy step."
  type        = string
  default     = "bootstrap"
}

# ---- network --------------------------------------------------------------------------------------------
variable "vpc_cidr" {
  description = "CIDR block of the VPC (a /16 is split into /24 subnets)."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "Two availability zones; empty means the first two available in the region."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || length(var.availability_zones) == 2
    error_message = "Give exactly two availability zones, or none."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for both private subnets (cheaper) instead of one per availability zone."
  type        = bool
  default     = true
}

variable "enable_flow_logs" {
  description = "VPC flow logs to CloudWatch Logs."
  type        = bool
  default     = true
}

variable "internal_endpoint" {
  description = "Put the inference load balancer in the private subnets, reachable only from inside the VPC (Airflow, peered networks, a VPN): the way to close the public endpoint. With it false the endpoint is public, narrowed by ingress_cidr_blocks."
  type        = bool
  default     = false
}

variable "ingress_cidr_blocks" {
  description = "Who may reach the load balancer."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "certificate_arn" {
  description = "ACM certificate for an HTTPS listener; when set, HTTP redirects to HTTPS."
  type        = string
  default     = null
}

# ---- storage and logs -----------------------------------------------------------------------------------
variable "enforce_tls_bucket_policy" {
  description = "Bucket policies that deny any request not made over TLS (keep on in AWS)."
  type        = bool
  default     = true
}

variable "enable_alb_access_logs" {
  description = "Write load balancer access logs to the logs bucket."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete non-empty buckets and repositories (tests, throwaway stacks)."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Deletion protection on the load balancer and the database."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of every CloudWatch log group."
  type        = number
  default     = 365
}

variable "run_record_transition_days" {
  description = "Age after which run records (pipeline/runs/) move to STANDARD_IA."
  type        = number
  default     = 30
}

variable "run_record_expiration_days" {
  description = "Age after which run records (pipeline/runs/) are deleted; 0 keeps them forever."
  type        = number
  default     = 730
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted object version is kept in the versioned buckets."
  type        = number
  default     = 90
}

variable "ecr_keep_images" {
  description = "Tagged images each ECR repository keeps (older ones expire)."
  type        = number
  default     = 30
}

# ---- training and image builder -------------------------------------------------------------------------
variable "training_cpu" {
  description = "Fargate CPU units of the training task (1024 = 1 vCPU)."
  type        = number
  default     = 2048
}

variable "training_memory" {
  description = "Fargate memory (MiB) of the training task. A run records each step's peak in its manifest (timings.<step>_peak_mb); without the teacher make bench measured 2.3 GiB at 27,480 tweets and 3.8 GiB at 200,000 (benchmarks/pipeline-results.md, 2026-12-04); the MiniLM teacher (teacher=minilm, the default) added 0.7 GiB at 27,480 (3.1 GiB, benchmarks/model-results.md), so 6144 holds the 200,000-tweet run with the teacher; 4096, Fargate's least with 2 vCPU, holds the 27,480-tweet run."
  type        = number
  default     = 6144
}

variable "image_builder_image" {
  description = "Kaniko executor image of the image-builder task (pin a tag or digest; mirror it into your ECR if Docker Hub/GCR is not reachable)."
  type        = string
  default     = "gcr.io/kaniko-project/executor:v1.23.2"
}

variable "image_builder_cpu" {
  description = "Fargate CPU units of the image-builder task."
  type        = number
  default     = 2048
}

variable "image_builder_memory" {
  description = "Fargate memory (MiB) of the image-builder task."
  type        = number
  default     = 8192
}

# ---- inference ------------------------------------------------------------------------------------------
variable "inference_cpu" {
  description = "Fargate CPU units of one inference task; the service starts one worker per CPU it sees, each holding its own copy of the model."
  type        = number
  default     = 1024
}

variable "inference_memory" {
  description = "Fargate memory (MiB) of one inference task."
  type        = number
  default     = 2048
}

variable "inference_desired_count" {
  description = "Inference tasks at creation (autoscaling moves it between min and max afterwards)."
  type        = number
  default     = 2
}

variable "autoscaling_enabled" {
  description = "Application Auto Scaling of the inference service."
  type        = bool
  default     = true
}

variable "autoscaling_metric" {
  description = "What autoscaling tracks: \"cpu\" (average CPU %) or \"requests\" (ALB requests per target)."
  type        = string
  default     = "cpu"

  validation {
    condition     = contains(["cpu", "requests"], var.autoscaling_metric)
    error_message = "autoscaling_metric must be \"cpu\" or \"requests\"."
  }
}

variable "autoscaling_min" {
  description = "Fewest inference tasks."
  type        = number
  default     = 2
}

variable "autoscaling_max" {
  description = "Most inference tasks."
  type        = number
  default     = 6
}

variable "autoscaling_cpu_target" {
  description = "Target average CPU utilisation (%) when autoscaling_metric = \"cpu\"."
  type        = number
  default     = 60
}

variable "autoscaling_requests_target" {
  description = "Target ALB requests per target per minute when autoscaling_metric = \"requests\"."
  type        = number
  default     = 3000
}

# ---- capture and monitoring -----------------------------------------------------------------------------
variable "capture_enabled" {
  description = "The inference service captures what it answers (docs/monitoring.md) under capture_prefix of the artifacts bucket. False leaves SENTIMENT_CAPTURE_URI, _RATE and _TEXT (and AWS_REGION) out of its task definition and its task role without a policy; captures_uri is then \"\"."
  type        = bool
  default     = true
}

variable "capture_prefix" {
  description = "Folder of the artifacts bucket the captures go to (<prefix><model version>/<YYYY-MM-DD>/<HH>/<segment>.jsonl.gz): the only place the inference task may write, expired after capture_retention_days."
  type        = string
  default     = "captures/"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_.-]*(/[a-z0-9][a-z0-9_.-]*)*/$", var.capture_prefix)) && !strcontains(var.capture_prefix, "..") && !startswith(var.capture_prefix, "pipeline/")
    error_message = "capture_prefix must be a folder such as captures/: lower-case letters, digits, . _ - and slashes, ending in /, no .., not inside the run store pipeline/."
  }
}

variable "capture_retention_days" {
  description = "Days a capture segment is kept: a lifecycle rule expires it after this and deletes the expired version a day later (the bucket is versioned). Captured texts are what callers sent: keep it short."
  type        = number
  default     = 30

  validation {
    condition     = var.capture_retention_days >= 1 && floor(var.capture_retention_days) == var.capture_retention_days
    error_message = "capture_retention_days must be a whole number of days, 1 or more."
  }
}

variable "capture_rate" {
  description = "Share of requests the inference service captures, 0 to 1 (SENTIMENT_CAPTURE_RATE); a request's texts are captured all or none."
  type        = number
  default     = 1.0

  validation {
    condition     = var.capture_rate >= 0 && var.capture_rate <= 1
    error_message = "capture_rate must be a number from 0 to 1."
  }
}

variable "capture_text" {
  description = "What a capture keeps of each text (SENTIMENT_CAPTURE_TEXT): \"full\", the text itself, or \"hash\", its sha256, length and token counts only (docs/monitoring.md, Privacy)."
  type        = string
  default     = "full"

  validation {
    condition     = contains(["full", "hash"], var.capture_text)
    error_message = "capture_text must be \"full\" or \"hash\"."
  }
}

variable "monitoring_schedule" {
  description = "When the monitoring DAG checks the captures (monitoring_schedule in the Airflow Variable): an Airflow preset such as @daily, or a five-field cron expression."
  type        = string
  default     = "@daily"

  validation {
    condition     = can(regex("^(@(hourly|daily|weekly|monthly|quarterly|yearly)|\\S+( +\\S+){4})$", var.monitoring_schedule))
    error_message = "monitoring_schedule must be an Airflow preset (@hourly, @daily, @weekly, @monthly, @quarterly, @yearly) or a cron expression of five fields, e.g. \"0 6 * * *\"."
  }
}

# ---- Airflow on ECS -------------------------------------------------------------------------------------
variable "airflow_cpu" {
  description = "Fargate CPU units of the Airflow task (api-server, scheduler, dag-processor, triggerer)."
  type        = number
  default     = 2048
}

variable "airflow_memory" {
  description = "Fargate memory (MiB) of the Airflow task."
  type        = number
  default     = 8192
}

variable "db_instance_class" {
  description = "RDS instance class of the Airflow metadata database (Performance Insights needs medium or larger)."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_engine_version" {
  description = "PostgreSQL major version of the Airflow metadata database."
  type        = string
  default     = "16"
}

variable "db_allocated_storage" {
  description = "Storage (GiB) of the Airflow metadata database."
  type        = number
  default     = 20
}

variable "db_multi_az" {
  description = "Standby replica of the Airflow metadata database in the second availability zone."
  type        = bool
  default     = true
}

variable "db_performance_insights" {
  description = "Performance Insights on the Airflow metadata database (not supported by every instance class)."
  type        = bool
  default     = true
}

variable "airflow_secret_version" {
  description = "Bump to generate a new Airflow JWT/secret key (then restart the Airflow service)."
  type        = number
  default     = 1
}

variable "airflow_admin_username" {
  description = "User of the Airflow UI and API (role admin in Airflow's SimpleAuthManager); its password is generated into Secrets Manager (output airflow_admin_secret_arn)."
  type        = string
  default     = "admin"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,64}$", var.airflow_admin_username))
    error_message = "airflow_admin_username must be 1-64 letters, digits, dots, dashes or underscores."
  }
}

variable "airflow_admin_password_version" {
  description = "Bump to generate a new Airflow admin password (then restart the Airflow service)."
  type        = number
  default     = 1
}
