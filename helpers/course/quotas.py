"""How many more of the course's stacks the AWS account's VPC quota leaves room for, in this region.

Each learner's stack creates one VPC and one internet gateway (notebook 02). Both have a quota per
Region, by default 5, and the default VPC with its internet gateway already uses one of each
(https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html). Raising "VPCs per Region"
raises "Internet gateways per Region" by the same amount, so one Service Quotas request is enough:

    aws service-quotas request-service-quota-increase --service-code vpc --quota-code L-F678F1CE --desired-value N

``room()`` reads the applied quotas with Service Quotas (GetServiceQuota; the default value where AWS
has no applied value) and counts the region's VPCs and internet gateways; ``python -m helpers doctor``
shows the result on the aws target.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import CourseError
from ..runtime import aws, cloud
from . import tags

SERVICE = "vpc"
VPCS = "L-F678F1CE"  # VPCs per Region
GATEWAYS = "L-A4707A72"  # Internet gateways per Region


def request(value: int) -> str:
    """The Service Quotas request that raises VPCs per Region (and with it internet gateways) to ``value``."""
    return f"aws service-quotas request-service-quota-increase --service-code vpc --quota-code {VPCS} --desired-value {value}"


@dataclass(frozen=True)
class Room:
    """The quotas, what the region uses of them, and whether this learner's stack already has its VPC."""

    vpc_quota: int
    vpcs: int
    gateway_quota: int
    gateways: int
    own_vpc: bool

    @property
    def free(self) -> int:
        """How many more course stacks fit: each needs one VPC and one internet gateway."""
        return max(0, min(self.vpc_quota - self.vpcs, self.gateway_quota - self.gateways))

    def text(self) -> str:
        used = (
            f"VPCs {self.vpcs} of {self.vpc_quota}, internet gateways {self.gateways} of {self.gateway_quota} "
            f"in {cloud.region()}"
        )
        mine = "; your stack's VPC exists already" if self.own_vpc else ""
        return f"{used}: room for {self.free} more course stack{'s' if self.free != 1 else ''}{mine}"


def quota(code: str, client=None) -> int:
    """The applied value of quota ``code`` of Amazon VPC (the default value where none is applied)."""
    client = client or aws.client("service-quotas")
    try:
        try:
            found = client.get_service_quota(ServiceCode=SERVICE, QuotaCode=code)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchResourceException":
                raise
            found = client.get_aws_default_service_quota(ServiceCode=SERVICE, QuotaCode=code)
    except (ClientError, BotoCoreError) as exc:
        raise CourseError(
            f"Could not read the quota {code} of Amazon VPC in {cloud.region()} ({exc}).",
            "The doctor reads it with Service Quotas' GetServiceQuota, which these credentials may not call.",
            "allow servicequotas:GetServiceQuota, or read it yourself: aws service-quotas get-service-quota "
            f"--service-code vpc --quota-code {code}",
        ) from exc
    return int(found["Quota"]["Value"])


def room(learner: str | None = None, quotas_client=None, ec2=None) -> Room:
    """What the region's VPC quotas leave for course stacks (``learner``: whose stack may exist already)."""
    vpc_quota, gateway_quota = quota(VPCS, quotas_client), quota(GATEWAYS, quotas_client)
    ec2 = ec2 or aws.client("ec2")
    try:
        vpcs = ec2.get_paginator("describe_vpcs").paginate().build_full_result()["Vpcs"]
        gateways = ec2.get_paginator("describe_internet_gateways").paginate().build_full_result()
    except (ClientError, BotoCoreError) as exc:
        raise CourseError(
            f"Could not count the VPCs and internet gateways in {cloud.region()} ({exc}).",
            "The doctor compares them with the quotas, using ec2:DescribeVpcs and ec2:DescribeInternetGateways.",
            "allow those two calls, or count them yourself: aws ec2 describe-vpcs --query 'length(Vpcs)'",
        ) from exc
    return Room(
        vpc_quota=vpc_quota,
        vpcs=len(vpcs),
        gateway_quota=gateway_quota,
        gateways=len(gateways["InternetGateways"]),
        own_vpc=any(tags.tagged(v.get("Tags"), learner) for v in vpcs) if learner else False,
    )
