# --- The EC2 instances that run the containers --------------------------------

data "aws_iam_policy_document" "ec2_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

# The ECS agent on each instance uses this role to join the cluster, pull
# images from ECR and send container logs to CloudWatch.
resource "aws_iam_role" "instance" {
  name               = "${local.name}-instance"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume_role.json

  tags = { Name = "${local.name}-instance" }
}

resource "aws_iam_role_policy_attachment" "instance_ecs" {
  role       = aws_iam_role.instance.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
}

resource "aws_iam_instance_profile" "instance" {
  name = "${local.name}-instance"
  role = aws_iam_role.instance.name
}

# AWS publishes the recommended ECS-optimized Amazon Linux 2023 AMI (x86_64) in SSM.
data "aws_ssm_parameter" "ecs_ami" {
  name = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
}

# No inbound rule yet: notebook 07 decides who may reach the instances.
resource "aws_security_group" "instances" {
  name        = "${local.name}-instances"
  description = "ECS container instances: inbound only from the load balancer"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-instances" }
}

resource "aws_security_group_rule" "instances_https_out" {
  description       = "ECS agent, image pulls and logs, all over HTTPS"
  type              = "egress"
  protocol          = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_blocks       = ["0.0.0.0/0"]
  security_group_id = aws_security_group.instances.id
}

resource "aws_security_group_rule" "instances_database_out" {
  description       = "The Node.js API to the remote database"
  type              = "egress"
  protocol          = "tcp"
  from_port         = var.database_port
  to_port           = var.database_port
  cidr_blocks       = [var.database_cidr]
  security_group_id = aws_security_group.instances.id
}

# The AMI: a pinned one (var.ami_id) wins; otherwise the recommended one,
# which changes with every AMI release (notebook 09).
resource "aws_launch_template" "ecs" {
  name                   = "${local.name}-ecs"
  image_id               = var.ami_id != "" ? var.ami_id : data.aws_ssm_parameter.ecs_ami.value
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.instances.id]
  update_default_version = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.instance.arn
  }

  # Without this line the ECS agent registers in the cluster named "default",
  # and this cluster's service has no instance to place its tasks on.
  user_data = base64encode(<<-EOT
    #!/bin/bash
    echo "ECS_CLUSTER=${aws_ecs_cluster.main.name}" >> /etc/ecs/ecs.config
  EOT
  )

  # IMDSv2 only, and one network hop: containers in bridge mode cannot read the
  # instance role's credentials from the metadata service.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  tags = { Name = "${local.name}-ecs" }
}

resource "aws_autoscaling_group" "ecs" {
  name                = "${local.name}-ecs"
  min_size            = var.instance_count
  max_size            = var.instance_count
  desired_capacity    = var.instance_count
  vpc_zone_identifier = aws_subnet.public[*].id
  health_check_type   = "EC2"

  launch_template {
    id      = aws_launch_template.ecs.id
    version = aws_launch_template.ecs.latest_version
  }

  # default_tags do not reach Auto Scaling groups or their instances: tag them here.
  dynamic "tag" {
    for_each = merge(local.tags, { Name = "${local.name}-ecs" })

    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}

# --- What runs on them ----------------------------------------------------------

resource "aws_cloudwatch_log_group" "web" {
  # a customer-managed KMS key costs $1 a month
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data at rest already
  # production keeps its logs as long as its policy says
  #checkov:skip=CKV_AWS_338:the course deletes its logs at teardown
  name              = "/ecs/${local.name}-web"
  retention_in_days = 7

  tags = { Name = "${local.name}-web" }
}

locals {
  # nginx passes every request to the API container, reachable as "api" through the link.
  nginx_conf = <<-EOT
    server {
      listen 80;
      location / {
        proxy_pass http://api:3000;
      }
    }
  EOT

  # A stand-in for your Node.js API: answers every request with a small JSON document,
  # echoing what the load balancer told it about the original request (X-Forwarded-*).
  api_js = <<-EOT
    require('http').createServer((req, res) => {
      const h = req.headers;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ok: true, path: req.url,
        forwarded: {
          for: h['x-forwarded-for'], proto: h['x-forwarded-proto'],
          port: h['x-forwarded-port'] } }));
    }).listen(3000);
  EOT

  log_options = {
    awslogs-group         = aws_cloudwatch_log_group.web.name
    awslogs-region        = var.region
    awslogs-stream-prefix = "web"
  }
}

resource "aws_ecs_task_definition" "web" {
  family                   = "${local.name}-web"
  network_mode             = "bridge"
  requires_compatibilities = ["EC2"]
  memory                   = "256"

  container_definitions = jsonencode([
    {
      name       = "nginx"
      image      = var.images.nginx
      essential  = true
      memory     = 64
      links      = ["api"]
      entryPoint = ["sh", "-c"]
      command = [join(" && ", [
        "printf '%s' \"$NGINX_CONF\" > /etc/nginx/conf.d/default.conf",
        "exec nginx -g 'daemon off;'",
      ])]
      # hostPort 0: the ECS agent picks a free host port for each task, so several
      # copies of the task fit on one instance.
      portMappings     = [{ containerPort = 80, hostPort = 0, protocol = "tcp" }]
      environment      = [{ name = "NGINX_CONF", value = local.nginx_conf }]
      logConfiguration = { logDriver = "awslogs", options = local.log_options }
    },
    {
      name             = "api"
      image            = var.images.api
      essential        = true
      memory           = 128
      command          = ["node", "-e", local.api_js]
      logConfiguration = { logDriver = "awslogs", options = local.log_options }
    },
  ])

  tags = { Name = "${local.name}-web" }
}

resource "aws_ecs_service" "web" {
  name            = "web"
  cluster         = aws_ecs_cluster.main.id
  task_definition = aws_ecs_task_definition.web.arn
  launch_type     = "EC2"
  desired_count   = var.task_count

  deployment_minimum_healthy_percent = 50
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 30

  # Off until the load balancer may reach the tasks (notebook 07); notebook 09 says when to turn
  # it on.
  wait_for_steady_state = var.wait_for_steady_state

  ordered_placement_strategy {
    type  = "spread"
    field = "instanceId"
  }

  # ECS registers each task's (instance, host port) in this target group.
  load_balancer {
    target_group_arn = aws_lb_target_group.web.arn
    container_name   = "nginx"
    container_port   = 80
  }

  # A target group must belong to a load balancer before a service can use it;
  # the listener rule is what attaches it. On destroy, the service (and its
  # draining tasks) goes before the instances and their permissions.
  depends_on = [
    aws_lb_listener_rule.web,
    aws_autoscaling_group.ecs,
    aws_iam_role_policy_attachment.instance_ecs,
  ]

  tags = { Name = "${local.name}-web" }
}
