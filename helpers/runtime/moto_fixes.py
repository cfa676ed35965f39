"""Where moto answers differently from AWS in a way the course trips over.

Each fix patches moto in-process (inside the emulator server, before it
serves), is explained here, and has a regression test in
tests/runtime/test_moto_fixes.py. ``apply()`` returns the names of the fixes it
applied; the emulator's health answer lists them. Written against moto 5.2.5
(pinned in requirements.txt): a moto upgrade must re-run those tests.

Differences left alone here (they need a real data plane; the traffic lab,
helpers/lab/, provides one on Linux as root, and the notebooks say so where
they matter): ECS starts no tasks and registers no targets, no instance
boots, new targets are "healthy" at once, ASG instances all land in the
first subnet and do not get the launch template's instance profile.
"""

from __future__ import annotations

import random
import re
from datetime import datetime

FIXES: list = []


def fix(func):
    FIXES.append(func)
    return func


@fix
def ecs_bridge_service_network_configuration() -> None:
    """Omit ``networkConfiguration`` from ECS services that have none.

    AWS returns ``networkConfiguration`` only for services in ``awsvpc``
    network mode. moto 5.2 returns an empty object for every other service
    (our bridge-mode service included), and the bundled AWS provider 3.39
    then crashes with a nil-pointer dereference in
    ``flattenEcsNetworkConfiguration`` while reading the service.
    """
    from moto.ecs.models import Service  # moto: loaded only in the emulator's own process

    original = Service.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if not self.network_configuration:
            # The serializer skips None; {} is what crashed the provider.
            self.network_configuration = None
        for deployment in self.deployments:
            if not deployment.get("networkConfiguration"):
                deployment.pop("networkConfiguration", None)

    Service.__init__ = __init__


# --------------------------------------------------------------------------
# Perpetual diffs with provider 3.39 (these break "second plan = no changes")
# --------------------------------------------------------------------------


@fix
def ecs_service_placement() -> None:
    """Keep ``placementStrategy``/``placementConstraints`` of ECS services.

    moto 5.2 drops both parameters of CreateService, so DescribeServices never
    returns them, and every plan of a service with ``ordered_placement_strategy``
    (or ``placement_constraints``) wants to add them again (perpetual in-place
    update). UpdateService already stores them (it setattr()s every parameter),
    and the serializer reads ``placement_strategy``/``placement_constraints``.
    """
    from moto.ecs.responses import EC2ContainerServiceResponse  # moto: loaded only in the emulator's own process

    original = EC2ContainerServiceResponse.create_service

    def create_service(self):
        result = original(self)
        service = result.result["service"]
        service.placement_strategy = self._get_param("placementStrategy") or []
        service.placement_constraints = self._get_param("placementConstraints") or []
        return result

    EC2ContainerServiceResponse.create_service = create_service


@fix
def ecs_service_health_check_grace_period() -> None:
    """Keep ``healthCheckGracePeriodSeconds`` of ECS services.

    moto 5.2 ignores the parameter of CreateService, so DescribeServices
    returns none and every plan of a service with
    ``health_check_grace_period_seconds`` wants to set it again (perpetual
    in-place update). On AWS the grace period stops ECS from killing tasks
    that fail load balancer health checks while they are still starting.
    """
    from moto.ecs.responses import EC2ContainerServiceResponse  # moto: loaded only in the emulator's own process

    original = EC2ContainerServiceResponse.create_service

    def create_service(self):
        result = original(self)
        grace = self._get_param("healthCheckGracePeriodSeconds")
        if grace is not None:
            result.result["service"].health_check_grace_period_seconds = grace
        return result

    EC2ContainerServiceResponse.create_service = create_service


@fix
def ecs_service_deployment_configuration() -> None:
    """Keep ``deploymentConfiguration`` of ECS services.

    moto 5.2 drops the parameter of CreateService (UpdateService stores it: it
    setattr()s every parameter), so DescribeServices shows no minimum/maximum
    percent and no deployment circuit breaker: a learner checking with boto3
    would find the course's settings missing. AWS returns what was set, with
    maximumPercent 200 and minimumHealthyPercent 100 where none was given
    (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentConfiguration.html).
    """
    from moto.ecs.responses import EC2ContainerServiceResponse  # moto: loaded only in the emulator's own process

    original = EC2ContainerServiceResponse.create_service

    def create_service(self):
        result = original(self)
        configuration = {"maximumPercent": 200, "minimumHealthyPercent": 100}
        configuration.update(self._get_param("deploymentConfiguration") or {})
        result.result["service"].deployment_configuration = configuration
        return result

    EC2ContainerServiceResponse.create_service = create_service


@fix
def ec2_launch_template_tag_specifications() -> None:
    """Do not copy the launch template's own tags into its LaunchTemplateData.

    CreateLaunchTemplate's top-level ``TagSpecifications`` (resource type
    ``launch-template``) tag the template itself. moto 5.2 appends them to
    ``LaunchTemplateData.TagSpecifications`` too, so a template with any tags
    (default_tags included) reads back an extra ``tag_specifications
    {resource_type = "launch-template"}`` block and every plan wants to
    update it in place (and bump latest_version). ``launch-template`` is not a
    valid resource type inside LaunchTemplateData, so dropping it is safe.
    """
    from moto.ec2.models.launch_templates import (
        LaunchTemplateBackend,  # moto: loaded only in the emulator's own process
    )

    original = LaunchTemplateBackend.create_launch_template

    def create_launch_template(self, name, description, template_data, tag_spec):
        specs = template_data.get("TagSpecifications")
        if specs:
            kept = [s for s in specs if s.get("ResourceType") != "launch-template"]
            if kept:
                template_data["TagSpecifications"] = kept
            else:
                template_data.pop("TagSpecifications")
        return original(self, name, description, template_data, tag_spec)

    LaunchTemplateBackend.create_launch_template = create_launch_template


# --------------------------------------------------------------------------
# Wrong answers a learner sees with boto3 (no Terraform diff)
# --------------------------------------------------------------------------

# AWS's canonical hosted zone ids of ALBs (and NLBs), per region.
# https://docs.aws.amazon.com/general/latest/gr/elb.html
ALB_ZONE_IDS = {
    "us-east-1": "Z35SXDOTRQ7X7K",
    "us-east-2": "Z3AADJGX6KTTL2",
    "us-west-1": "Z368ELLRRE2KJ0",
    "us-west-2": "Z1H1FL5HABSF5",
    "ca-central-1": "ZQSVJUPU6J1EY",
    "eu-west-1": "Z32O12XQLNTSW2",
    "eu-west-2": "ZHURV8PSTC4K8",
    "eu-west-3": "Z3Q77PNBQS71R4",
    "eu-central-1": "Z215JYRZR1TBD5",
    "eu-north-1": "Z23TAZ7LKNYBOX",
    "ap-southeast-1": "Z1LMS91P8CMLE5",
    "ap-southeast-2": "Z1GM3OXH4ZPM65",
    "ap-northeast-1": "Z14GRHDCWA56QT",
    "ap-northeast-2": "ZWKZPGTI48KDX",
    "ap-south-1": "ZP97RAFLXTNZK",
    "sa-east-1": "Z2P70J7HTTTPLU",
}
NLB_ZONE_IDS = {
    "us-east-1": "Z26RNL4JYFTOTI",
    "us-east-2": "ZLMOA37VPKANP",
    "us-west-1": "Z24FKFUX50B4VW",
    "us-west-2": "Z18D5FSROUN65G",
    "eu-west-1": "Z2IFOLAFXWLO4F",
    "eu-central-1": "Z3F0SRJ5LGBH90",
}


@fix
def elbv2_load_balancer_identity() -> None:
    """Scheme, canonical hosted zone id and DNS name as AWS gives them.

    - The provider sends ``Scheme`` only for internal load balancers; AWS
      defaults to ``internet-facing``, moto stores None and DescribeLoadBalancers
      has no ``Scheme`` at all.
    - moto gives every load balancer ``CanonicalHostedZoneId`` "Z2P70J7EXAMPLE";
      AWS's is fixed per region and type (us-east-1 ALB: Z35SXDOTRQ7X7K), and it
      is what aws_lb.zone_id and the Route 53 alias record show.
    - DNS names: AWS uses ``<name>-<digits>.<region>.elb.amazonaws.com`` and an
      ``internal-`` prefix for internal ones; moto uses ``<name>-1``.
    """
    from moto.elbv2.models import ELBv2Backend  # moto: loaded only in the emulator's own process

    original = ELBv2Backend.create_load_balancer

    def create_load_balancer(self, *args, **kwargs):
        if kwargs.get("scheme") is None:
            kwargs["scheme"] = "internet-facing"
        lb = original(self, *args, **kwargs)
        table = NLB_ZONE_IDS if lb.type == "network" else ALB_ZONE_IDS
        lb.canonical_hosted_zone_id = table.get(self.region_name, lb.canonical_hosted_zone_id)
        digits = random.randint(10**9, 2 * 10**9 - 1)
        prefix = "internal-" if lb.scheme == "internal" else ""
        lb.dns_name = f"{prefix}{lb.name}-{digits}.{self.region_name}.elb.amazonaws.com"
        return lb

    ELBv2Backend.create_load_balancer = create_load_balancer


@fix
def elbv2_targets_by_id_and_port() -> None:
    """Key target-group targets by (Id, Port), and report the real health port.

    ECS bridge mode registers one target per task: the same instance id with a
    different dynamic host port. AWS keeps them apart; moto 5.2 keys targets by
    Id only, so a second task on the same instance replaces the first, and
    deregistering (i-x, 49153) also removes (i-x, 49154).
    DescribeTargetHealth's ``HealthCheckPort`` is the port actually probed
    (the target's port for ``traffic-port``); moto echoes "traffic-port".
    DeregisterTargets of a target that is not registered succeeds, as AWS documents ("If the specified target
    does not exist, the action returns successfully":
    https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DeregisterTargets.html); moto
    raised InvalidTarget there, after it had already removed the targets listed before it.
    """
    from moto.elbv2.exceptions import TargetNotRunning  # moto: loaded only in the emulator's own process
    from moto.elbv2.models import FakeTargetGroup  # moto: the emulator's own process

    def _key(self, target):
        return (target["Id"], int(target.get("Port") or self.port or 0))

    def register(self, targets):
        for target in targets:
            if instance := self.ec2_backend.get_instance_by_id(target["Id"]):
                if instance.state != "running":
                    raise TargetNotRunning(instance_id=target["Id"])
            key = _key(self, target)
            self.targets[key] = {"Id": target["Id"], "Port": key[1]}
            self.deregistered_targets.pop(key, None)

    def deregister(self, targets):
        for target in targets:
            key = _key(self, target)
            t = self.targets.pop(key, None)
            if t:  # not registered (any more): nothing to do
                self.deregistered_targets[key] = t

    def deregister_terminated_instances(self, instance_ids):
        for key in list(self.targets):
            if key[0] in instance_ids:
                self.terminated_targets[key] = self.targets.pop(key)

    original_health_for = FakeTargetGroup.health_for

    def health_for(self, target, ec2_backend):
        key = _key(self, target)
        # The original looks targets up by id: give it a view keyed that way.
        saved = (self.targets, self.deregistered_targets, self.terminated_targets)
        try:
            self.targets = {k[0]: v for k, v in saved[0].items() if k == key}
            self.deregistered_targets = {k[0]: v for k, v in saved[1].items() if k == key}
            self.terminated_targets = {k[0]: v for k, v in saved[2].items() if k == key}
            status = original_health_for(self, target, ec2_backend)
        finally:
            self.targets, self.deregistered_targets, self.terminated_targets = saved
        if status.health_check_port in (None, "traffic-port"):
            status.health_check_port = str(status.port)
        return status

    FakeTargetGroup.register = register
    FakeTargetGroup.deregister = deregister
    FakeTargetGroup.deregister_terminated_instances = deregister_terminated_instances
    FakeTargetGroup.health_for = health_for


@fix
def ec2_security_group_pair_user_id() -> None:
    """Fill in the owner of a referenced security group when it is sent empty.

    Provider 3.39 sends ``UserId=""`` with every source security group; AWS
    treats that as "this account" and returns the account id. moto only fills
    in a *missing* UserId and returns ``"UserId": ""`` (DescribeSecurityGroups)
    and ``ReferencedGroupInfo.UserId ""`` (DescribeSecurityGroupRules).
    """
    from moto.ec2.models.security_groups import SecurityGroupBackend  # moto: loaded only in the emulator's own process

    original = SecurityGroupBackend._add_source_group

    def _add_source_group(self, source_groups, vpc_id):
        for item in source_groups or []:
            if not item.get("UserId"):
                item.pop("UserId", None)
            if not item.get("OwnerId"):
                item.pop("OwnerId", None)
        return original(self, source_groups, vpc_id)

    SecurityGroupBackend._add_source_group = _add_source_group


@fix
def ec2_security_group_rule_port_range() -> None:
    """Refuse TCP/UDP rules whose ports are outside 0-65535 or whose from port exceeds the to port.

    AWS answers such an AuthorizeSecurityGroupIngress/Egress with the error
    ``InvalidPermission.Malformed`` ("TCP/UDP port (-1) out of range" is AWS's
    own wording, boto/boto3#336; the wording for a reversed range is ours). moto 5.2 stores them, so ``from_port = 70000`` or a reversed
    range in a learner's HCL would apply "successfully" on the emulator and
    fail only on AWS. Provider 3.39 does not check these ports itself.
    ICMP (type/code, -1 = all) and protocol -1 (ports ignored) are left alone.
    """
    from moto.ec2.exceptions import EC2ClientError  # moto: loaded only in the emulator's own process
    from moto.ec2.models.security_groups import SecurityGroupBackend  # moto: the emulator's own process

    def check(ip_protocol, from_port, to_port):
        if str(ip_protocol).lower() not in ("tcp", "udp", "6", "17"):
            return
        try:
            low, high = int(from_port), int(to_port)
        except (TypeError, ValueError):
            return  # moto's own checks handle missing values
        for port in (low, high):
            if not 0 <= port <= 65535:
                raise EC2ClientError("InvalidPermission.Malformed", f"TCP/UDP port ({port}) out of range")
        if low > high:
            raise EC2ClientError(
                "InvalidPermission.Malformed",
                f"TCP/UDP port range ({low}-{high}) is invalid: the from port is greater than the to port",
            )

    for name in ("authorize_security_group_ingress", "authorize_security_group_egress"):
        original = getattr(SecurityGroupBackend, name)

        def checked(self, group_name_or_id, ip_protocol, from_port, to_port, *args, _original=original, **kwargs):
            check(ip_protocol, from_port, to_port)
            return _original(self, group_name_or_id, ip_protocol, from_port, to_port, *args, **kwargs)

        setattr(SecurityGroupBackend, name, checked)


@fix
def route53_soa_record() -> None:
    """The SOA record of a new zone is a string, not a printed dict.

    moto 5.2 stores it as ``{"Value": ...}`` inside ResourceRecords, so
    ListResourceRecordSets returns ``"{'Value': 'ns-2048... 86400'}"``.
    AWS: ``ns-2048.awsdns-64.com. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400``.
    """
    from moto.route53.models import RecordSet  # moto: loaded only in the emulator's own process

    original = RecordSet.__init__

    def __init__(self, kwargs):
        original(self, kwargs)
        self.records = [r["Value"] if isinstance(r, dict) and "Value" in r else r for r in self.records]
        if self.type == "SOA" and self.records:
            self.records = [r.replace("hostmaster.example.com.", "awsdns-hostmaster.amazon.com.") for r in self.records]

    RecordSet.__init__ = __init__


@fix
def ec2_ami_creation_date_from_name() -> None:
    """Give moto's bundled AWS AMIs the creation date their name carries.

    moto 5.2 loads the ECS-optimized and "latest" AMIs without a creation date,
    so all of them get the server's start time. ``data "aws_ami" { most_recent
    = true }`` then picks an arbitrary one of equal dates (here
    amzn2-ami-ecs-hvm-2.0.20260909 while SSM's recommended image is 20260924).
    AWS AMI names end in their build date (YYYYMMDD), used here.
    """
    from moto.ec2.models.amis import Ami  # moto: loaded only in the emulator's own process

    stamp = re.compile(r"(?<!\d)(20\d{2})(\d{2})(\d{2})(?!\d)")
    original = Ami.__init__

    def __init__(self, *args, **kwargs):
        bundled = (
            kwargs.get("creation_date") is None
            and kwargs.get("owner_alias") == "amazon"
            and kwargs.get("instance") is None
            and kwargs.get("source_ami") is None
        )
        match = stamp.search(kwargs.get("name") or "") if bundled else None
        if match:
            try:
                kwargs["creation_date"] = datetime(*map(int, match.groups()))  # naive UTC, like moto's utcnow()
            except ValueError:
                pass
        original(self, *args, **kwargs)

    Ami.__init__ = __init__


@fix
def ec2_primary_eni_deleted_on_termination() -> None:
    """Delete an instance's automatically created primary ENI when it terminates.

    AWS creates the primary network interface with DeleteOnTermination=true.
    moto 5.2 creates it with false, so every instance the ASG launched leaves
    an "in-use" ENI behind (in a subnet and VPC that terraform destroy has
    already deleted), visible in DescribeNetworkInterfaces.
    """
    from moto.ec2.models.instances import Instance  # moto: loaded only in the emulator's own process

    original = Instance.prep_nics

    def prep_nics(self, nic_spec, *args, **kwargs):
        automatic = not nic_spec
        original(self, nic_spec, *args, **kwargs)
        if automatic and 0 in self.nics:
            self.nics[0].delete_on_termination = True

    Instance.prep_nics = prep_nics


def apply() -> list[str]:
    return [f.__name__ for f in FIXES if f() is None]
