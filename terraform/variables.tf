variable "region" {
  type        = string
  description = "AWS region for every resource of the course."
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "The region must look like \"us-east-1\" or \"eu-west-2\"."
  }
}

variable "learner" {
  type        = string
  description = "Your short name. It goes into every resource name and the learner tag, so several people can share one account."
  default     = "learner"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,11}$", var.learner))
    error_message = "The learner name must be 1 to 12 lower-case letters or digits, starting with a letter (e.g. \"ana\" or \"team3\"): it becomes part of names such as the load balancer's, which AWS limits to 32 characters."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "Address range of the course VPC."
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24, false)
    error_message = "The VPC CIDR must be an IPv4 network from /16 to /24, such as \"10.0.0.0/16\" (AWS allows VPCs from /16 to /28; the course needs room for two subnets)."
  }
}

variable "public_subnet_cidrs" {
  type        = list(string)
  description = "Two subnet ranges inside vpc_cidr, one per availability zone: an ALB needs subnets in at least two zones."
  default     = ["10.0.1.0/24", "10.0.2.0/24"]

  validation {
    condition     = length(var.public_subnet_cidrs) == 2 && alltrue([for c in var.public_subnet_cidrs : can(cidrhost(c, 0))])
    error_message = "Give exactly two IPv4 networks, such as [\"10.0.1.0/24\", \"10.0.2.0/24\"]: an Application Load Balancer needs subnets in two availability zones."
  }
}

variable "host_port_range" {
  type = object({
    from = number
    to   = number
  })
  description = "Host ports the ECS agent (Docker, with agents older than 1.70) gives containers that ask for hostPort 0 in bridge mode. On the ECS-optimized Amazon Linux 2023 AMI: 32768-60999 from /proc/sys/net/ipv4/ip_local_port_range, or 49153-65535 when that is unavailable; 32768-65535 covers both."
  default     = { from = 32768, to = 65535 }

  validation {
    condition     = var.host_port_range.from >= 1024 && var.host_port_range.from <= var.host_port_range.to && var.host_port_range.to <= 65535
    error_message = "host_port_range needs 1024 <= from <= to <= 65535 (ports are 1-65535; below 1024 are privileged ports, never handed out dynamically)."
  }
}

variable "domain_name" {
  type        = string
  description = "The name users type: an alias record for it points at the load balancer, and the HTTPS certificate is issued for it. Empty: app.ecs-alb.example in the zone the course creates, or <learner>.<zone> in the zone hosted_zone_id names, so learners sharing one zone never collide."
  default     = ""

  validation {
    condition     = var.domain_name == "" || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.){2,}[a-z]{2,63}$", var.domain_name))
    error_message = "The domain name must be a lower-case host name with at least three labels, such as \"app.example.com\": the part after the first dot is the hosted zone."
  }
}

variable "hosted_zone_id" {
  type        = string
  description = "ID of an existing public Route 53 zone for domain_name's parent domain. Empty: the course creates the zone (fine on the emulator; on AWS a new zone only resolves once your registrar delegates to it)."
  default     = ""

  validation {
    condition     = var.hosted_zone_id == "" || can(regex("^[A-Z0-9]{1,32}$", var.hosted_zone_id))
    error_message = "A hosted zone ID looks like \"Z0123456789ABCDEFGHIJ\" (Route 53 console, or: aws route53 list-hosted-zones); leave it empty to create a zone."
  }
}

variable "certificate_source" {
  type        = string
  description = "\"acm-dns\": ACM issues a certificate for domain_name, validated with a DNS record in hosted_zone_id (real AWS). \"import\": import certificate_file and private_key_file into ACM (the emulator; the course generates a pair its own CA signs)."
  default     = "acm-dns"

  validation {
    condition     = contains(["acm-dns", "import"], var.certificate_source)
    error_message = "certificate_source must be \"acm-dns\" (real AWS, with a hosted zone you own) or \"import\" (a certificate file you provide)."
  }
}

variable "certificate_file" {
  type        = string
  description = "PEM certificate to import when certificate_source is \"import\"."
  default     = ""
}

variable "private_key_file" {
  type        = string
  description = "PEM private key of certificate_file. Keep it out of version control."
  default     = ""
}

variable "instance_type" {
  type        = string
  description = "EC2 instance type of the ECS container instances (x86_64: the AMI is the x86_64 ECS-optimized Amazon Linux 2023)."
  default     = "t3.micro"
}

variable "ami_id" {
  type        = string
  description = "Pin the instances' AMI (e.g. ami-0123456789abcdef0). Empty: the recommended ECS-optimized Amazon Linux 2023 AMI, read from SSM at every plan."
  default     = ""

  validation {
    condition     = var.ami_id == "" || can(regex("^ami-[0-9a-f]{8}([0-9a-f]{9})?$", var.ami_id))
    error_message = "ami_id must be empty (use the recommended AMI) or an AMI ID such as \"ami-0123456789abcdef0\"."
  }
}

variable "instance_count" {
  type        = number
  description = "How many EC2 container instances the Auto Scaling group keeps running."
  default     = 1

  validation {
    condition     = var.instance_count >= 1 && var.instance_count <= 4 && floor(var.instance_count) == var.instance_count
    error_message = "instance_count must be a whole number from 1 to 4 (each instance costs money on AWS)."
  }
}

variable "task_count" {
  type        = number
  description = "How many copies of the task the ECS service runs. Two tasks fit on one instance because each gets its own dynamic host port."
  default     = 2

  validation {
    condition     = var.task_count >= 1 && var.task_count <= 8 && floor(var.task_count) == var.task_count
    error_message = "task_count must be a whole number from 1 to 8."
  }
}

variable "wait_for_steady_state" {
  type        = bool
  description = "Make terraform apply wait until ECS reports the service stable. Off until notebook 07 lets the load balancer reach the tasks: before that, their health checks fail by design."
  default     = false
}

variable "images" {
  type = object({
    nginx = string
    api   = string
  })
  description = "Container images: nginx in front, the Node.js API behind it. Public ECR mirrors avoid Docker Hub's pull limits."
  default = {
    nginx = "public.ecr.aws/nginx/nginx:1.30-alpine"
    api   = "public.ecr.aws/docker/library/node:26-alpine"
  }
}

variable "database_cidr" {
  type        = string
  description = "Where the remote database lives (the course deploys none). The default is TEST-NET-3, a range reserved for documentation."
  default     = "203.0.113.0/24"

  validation {
    condition     = can(cidrhost(var.database_cidr, 0)) && var.database_cidr != "0.0.0.0/0"
    error_message = "database_cidr must be an IPv4 network such as \"203.0.113.0/24\", and not 0.0.0.0/0: name the database's own range."
  }
}

variable "database_port" {
  type        = number
  description = "TCP port of the remote database (5432: PostgreSQL)."
  default     = 5432

  validation {
    condition     = var.database_port >= 1 && var.database_port <= 65535 && floor(var.database_port) == var.database_port
    error_message = "database_port must be a whole number from 1 to 65535."
  }
}
