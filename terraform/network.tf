resource "aws_vpc" "main" {
  # flow logs need a log group and an IAM role, and bill per GB; production enables them
  #checkov:skip=CKV2_AWS_11:flow logs cost money per GB; production enables them
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = local.name }
}

# Every VPC comes with a security group named "default" that admits all traffic
# from its own members and lets everything out. Nothing here uses it: taking it
# over with no rules means anything launched into it by mistake is cut off.
resource "aws_default_security_group" "default" {
  vpc_id = aws_vpc.main.id

  tags = { Name = "${local.name}-default" }
}

resource "aws_internet_gateway" "main" {
  vpc_id = aws_vpc.main.id

  tags = { Name = local.name }
}

# Public subnets: the ALB must be in them, and the instances use them too, so
# they reach the ECS API and image registries without a paid NAT gateway.
# A public IP does not make an instance reachable: its security group decides (notebook 07).
resource "aws_subnet" "public" {
  # no paid NAT gateway: instances need public IPs to reach ECS and ECR; their group admits only
  # the ALB
  #checkov:skip=CKV_AWS_130:no NAT gateway: public IPs, and a group that admits only the ALB
  count = 2

  vpc_id                  = aws_vpc.main.id
  cidr_block              = var.public_subnet_cidrs[count.index]
  availability_zone       = data.aws_availability_zones.available.names[count.index]
  map_public_ip_on_launch = true

  tags = { Name = "${local.name}-public-${count.index + 1}" }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.main.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.main.id
  }

  tags = { Name = "${local.name}-public" }
}

resource "aws_route_table_association" "public" {
  count = 2

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}
