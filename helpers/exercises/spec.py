"""Which lines of each solution notebook become blanks in its exercise, and which cells change.

``SPEC`` says, per notebook, which lines become blanks (``____``, with a hint),
which cells are replaced (the solution's boto3 assertions become the exercise's
check cell, named by the steps registry, helpers/course/steps.py) and which are
left out. Lines and cells are found by their content (helpers/exercises/generator.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..course import steps

BLANK = "____"


@dataclass(frozen=True)
class Blank:
    """One blank: the solution line containing ``find``; ``answer`` (default: the value after ``=``) becomes ____.

    An ``answer`` of the form ``name = value`` keeps the name and blanks the value.
    """

    find: str
    hint: str
    answer: str | None = None
    cell: str | None = None  # restrict the search to the cell containing this text


@dataclass(frozen=True)
class Exercise:
    notebook: str
    blanks: tuple[Blank, ...]
    # cell containing text -> new source, or several ("CHECK": the check cell)
    replace: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    drop: tuple[str, ...] = ()  # the cell (code or markdown) containing each of these is left out
    setup: str | None = None  # the Setup cell's new source (default: course.start -> exercise)
    # explanations that spell out a blank's answer: {text in the solution's markdown (exactly once): new text}
    markdown: dict[str, str] = field(default_factory=dict)


CHECK = "CHECK"  # a replacement source meaning "the check cell"

SPEC = (
    Exercise(
        "02-network",
        blanks=(
            Blank(
                "availability_zone       = data.aws_availability_zones.available.names[count.index]",
                "each subnet in its own zone: main.tf's data source lists the zones; pick one per subnet by its index",
            ),
            Blank(
                "map_public_ip_on_launch = true",
                "should instances launched here get a public address? (no NAT gateway in this course)",
            ),
            Blank(
                "gateway_id = aws_internet_gateway.main.id",
                "the default route leaves the VPC through the gateway declared above",
            ),
        ),
        replace={"vpc = ec2.describe_vpcs(VpcIds=[vpc_id])": CHECK},
    ),
    Exercise(
        "03-alb-security-group",
        blanks=(
            Blank("from_port         = 443", "browsers use HTTPS's standard port", cell="alb_https_in"),
            Blank("to_port           = 443", "a single port: the same as from_port", cell="alb_https_in"),
            Blank("from_port         = 80", "plain HTTP's standard port (only to be redirected)", cell="alb_http_in"),
            Blank("to_port           = 80", "a single port: the same as from_port", cell="alb_http_in"),
            Blank(
                "from_port         = var.host_port_range.from",
                "the first dynamic host port, from the variable of Step 1",
            ),
            Blank("to_port           = var.host_port_range.to", "the last dynamic host port, same variable"),
            Blank(
                "cidr_blocks       = [var.vpc_cidr]",
                "the targets are inside the VPC: its range, a variable of notebook 02",
            ),
            Blank(
                'group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]',
                "the EC2 call that describes security groups by ID",
                answer="describe_security_groups",
            ),
        ),
        replace={
            "open_to_internet = sg_rules.cidr_ingress(group)": (
                'group_id = course.resource("aws_security_group.alb")["id"]\n'
                'group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]\n'
                "\n"
                'print("in: ", *sg_rules.cidr_ingress(group), sep="\\n    ")\n'
                "print(\"out:\", *[f\"{p['IpProtocol']} {p.get('FromPort')}-{p.get('ToPort')} to {[r['CidrIp'] for r in p['IpRanges']]}\"\n"
                '                for p in group["IpPermissionsEgress"]], sep="\\n    ")',
                CHECK,
            ),
        },
    ),
    Exercise(
        "04-alb-and-listeners",
        blanks=(
            Blank("internal           = false", "internet-facing or internal? Browsers on the internet must reach it"),
            Blank("security_groups    = [aws_security_group.alb.id]", "the group notebook 03 built for the ALB"),
            Blank('protocol    = "HTTPS"', "where should plain-HTTP visitors be sent?"),
            Blank(
                'ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"',
                "the predefined ELB policy AWS recommends (see the bullet list above)",
            ),
            Blank(
                "certificate_arn   = local.certificate_arn",
                "the certificate race: the ARN that is only known once the certificate is issued (certificate.tf)",
            ),
        ),
        markdown={
            "The listener below uses `local.certificate_arn`, which for `acm-dns` is\n"
            "`aws_acm_certificate_validation.issued[0].certificate_arn`: the same ARN, but only known once validation\n"
            "is complete, so Terraform cannot create the listener earlier.": "The listener below must use an ARN that is the same, but only known once validation is complete\n"
            "(`certificate.tf` defines one for both ways), so Terraform cannot create the listener earlier."
        },
        replace={'lb = elbv2.describe_load_balancers(LoadBalancerArns=[course.resource("aws_lb.main")["arn"]])': CHECK},
    ),
    Exercise(
        "05-target-group",
        blanks=(
            Blank(
                'target_type = "instance"',
                "what does ECS register for a task in bridge mode: an IP, or an instance and a port?",
            ),
            Blank(
                'port                = "traffic-port"',
                "a special value meaning 'the port each target was registered with' (see the health check docs)",
            ),
            Blank('type             = "forward"', "the action that sends requests to a target group"),
            Blank("target_group_arn = aws_lb_target_group.web.arn", "the group declared above"),
            Blank(
                'rules = [r for r in elbv2.describe_rules(ListenerArn=https_listener)["Rules"] if not r["IsDefault"]]',
                "the ELBv2 call listing a listener's rules",
                answer="describe_rules",
            ),
        ),
        markdown={
            '- **`target_type = "instance"`**: targets': "- **The target type**: here, targets",
            '- **`health_check.port = "traffic-port"`**: check': "- **The health check's port**: check",
        },
        replace={
            'assert group["TargetType"] == "instance"': (
                'group = elbv2.describe_target_groups(TargetGroupArns=[course.resource("aws_lb_target_group.web")["arn"]])["TargetGroups"][0]\n'
                'https_listener = course.resource("aws_lb_listener.https")["arn"]\n'
                'rules = [r for r in elbv2.describe_rules(ListenerArn=https_listener)["Rules"] if not r["IsDefault"]]\n'
                "\n"
                "print(f\"{group['TargetGroupName']}: {group['Protocol']}, targets by {group['TargetType']}, health checks on {group['HealthCheckPort']}\")\n"
                'print("rules:", [(r["Priority"], [a["Type"] for a in r["Actions"]]) for r in rules])',
                CHECK,
            ),
        },
    ),
    Exercise(
        "06-ecs-on-ec2",
        blanks=(
            Blank(
                'echo "ECS_CLUSTER=${aws_ecs_cluster.main.name}" >> /etc/ecs/ecs.config',
                "the agent joins the cluster this setting names; which cluster should that be?",
                answer="${aws_ecs_cluster.main.name}",
            ),
            Blank(
                'network_mode             = "bridge"',
                "Docker's default network mode: containers on a private bridge, reached through host ports",
            ),
            Blank(
                'portMappings     = [{ containerPort = 80, hostPort = 0, protocol = "tcp" }]',
                "which host port value lets the ECS agent pick a free one, so several copies fit on one instance?",
                answer="hostPort = 0",
            ),
            Blank('container_name   = "nginx"', "the container the ALB talks to"),
            Blank("container_port   = 80", "its port inside the container"),
        ),
        markdown={
            "Docker's **bridge** network mode\n   with **`hostPort: 0`**.": "Docker's **bridge** network mode\n   on a host port **Docker picks**.",
            "- **nginx** publishes `containerPort: 80` with **`hostPort: 0`**. The ECS agent then picks": (
                "- **nginx** publishes `containerPort: 80` and lets the ECS agent choose the host port: the agent picks"
            ),
            '- **Bridge mode**, `network_mode = "bridge"`, is Docker\'s default network.': "- **Docker's default network mode** is the one this task uses.",
        },
        replace={
            "cluster = ecs.describe_clusters(": CHECK,
            "if cloud.is_emulator() and not lab.running():": "exercise.register_targets()",
        },
        # The solution's look at the real health checks reads its own variables (the lab's, where it runs).
        drop=('targets = lab.wait_for_health(target_group_arn, within=120, what="unhealthy"',),
    ),
    Exercise(
        "07-lock-down-the-instances",
        blanks=(
            Blank(
                "from_port                = var.host_port_range.from",
                "where does the ECS agent put the containers' port 80 on the host? Same variable as the ALB's egress",
                cell="Dynamic host ports, only from the load balancer",
            ),
            Blank(
                "to_port                  = var.host_port_range.to",
                "the end of that range",
                cell="Dynamic host ports, only from the load balancer",
            ),
            Blank(
                "source_security_group_id = aws_security_group.alb.id",
                "option 2: the source is a security group, not an address range",
                cell="Dynamic host ports, only from the load balancer",
            ),
        ),
        setup=(
            "from IPython.display import Image\n\nfrom helpers import exercise\n\n"
            'tf = exercise.start("07-lock-down-the-instances")'
        ),
        replace={
            "option_1 = audit.run(instance_groups=[alb_group_id])": (
                "# extra code – what option 1 would expose: the ALB's group's rules from address ranges\n"
                "exercise.option_1_exposure()"
            ),
            "blocked = [port for port in target_ports": "exercise.lockdown()",
            "unreachable = [port for port in target_ports": CHECK,
        },
        # The audit's cells read the finished state; the exercise's check cells take their place.
        drop=(
            "open_to_ranges = sg_rules.cidr_ingress(alb_group)",
            "port_80 = audit.run()",
            "audit.draw(port_80",
            "fixed = audit.run()",
            "The audit finds the same, and says what follows from it.",
            "And the audit, over the same live state, has nothing left to report:",
            # The real requests of the solution (traffic lab) read the solution's Setup variables.
            "The audit only evaluates. With the traffic lab you can **try option 1 for a moment**",
            "option_1 = {port: lab.connect",
            "### The same, with real requests",
            "reply = lab.curl_until(site, 504, within=90, timeout=30, insecure=True)",
            "unhealthy = lab.wait_for_event(",
            "**And the 503?**",
            'ecs.update_service(cluster=cluster, service="web", desiredCount=0)',
            "Now the same request as before. On AWS, and in the lab,",
            "targets = lab.wait_for_health(target_group_arn, within=120",
        ),
        markdown={
            "wherever the ALB accepts it. Ask boto3 what the ALB's group lets in from address ranges:": "wherever the ALB accepts it.",
            "The **reachability audit** (`helpers/verify/audit/`) asks the same question": "The solution asks the **reachability audit** (`helpers/verify/audit/`) the same question",
            "Two high findings say the internet would reach": "The internet would reach",
            "Allow TCP **32768-65535** (`var.host_port_range`, the same variable as the ALB's egress rule), with the\n"
            "ALB's group as the only source.": "Allow the **dynamic host port range** (the same variable as the ALB's egress rule in notebook 03), with\n"
            "the ALB's group as the only source.",
        },
    ),
    Exercise(
        "08-dns",
        blanks=(
            Blank('type    = "A"', "an alias record answers with addresses: the record type for IPv4 addresses"),
            Blank("name                   = aws_lb.main.dns_name", "the load balancer's own DNS name"),
            Blank(
                "zone_id                = aws_lb.main.zone_id",
                "not your zone: the load balancer's canonical hosted zone (an attribute of aws_lb)",
            ),
        ),
        markdown={
            "Terraform copies it from `aws_lb.main.zone_id`;": "Terraform copies it from an attribute of `aws_lb.main`;"
        },
        replace={'lb = elbv2.describe_load_balancers(LoadBalancerArns=[course.resource("aws_lb.main")["arn"]])': CHECK},
        drop=('domain = app["fqdn"].rstrip(".")',),  # the solution's requests read its check cell's variables
    ),
)


def check_of(exercise: Exercise) -> str:
    """The exercise's check function (helpers/exercises/lessons/), from the steps registry."""
    return steps.BY_NOTEBOOK[exercise.notebook].exercise
