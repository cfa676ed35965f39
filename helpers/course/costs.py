"""What the course's stack costs per hour on real AWS, shown before the first plan or apply there.

The emulator is free. On the aws target, ``announce()`` prints (once per settings) what the finished
stack costs: the Application Load Balancer, the EC2 instances, the public IPv4 addresses and the Route 53
hosted zone. The instance type and count come from the stack's own variables (defaults in its .tf files,
then ``terraform.tfvars`` / ``*.auto.tfvars``, then the cell's ``var=``), or the course's defaults in
``terraform/variables.tf`` before the notebook that declares them has run.

Prices are AWS's on-demand **list prices for US East (N. Virginia), us-east-1**, in US dollars, without
tax, free tier or discounts; other regions cost somewhat more or less. Sources, checked 2026-11:
https://aws.amazon.com/elasticloadbalancing/pricing/ (ALB $0.0225 per hour, $0.008 per LCU-hour),
https://aws.amazon.com/ec2/pricing/on-demand/ (t3 family, Linux),
https://aws.amazon.com/vpc/pricing/ (public IPv4 address $0.005 per hour, since 2024-02-01),
https://aws.amazon.com/route53/pricing/ (hosted zone $0.50 per month for the first 25),
https://aws.amazon.com/ebs/pricing/ (gp3 $0.08 per GB-month; each instance's root volume is the ECS-optimized
AMI's 30 GiB gp3, block_device_size_gb in https://github.com/aws/amazon-ecs-ami).
ECS on EC2 adds no charge of its own, and ACM's public certificates are free.

``aws_run_line()`` is the one sentence README.md and notebook 00 print about a whole run on AWS (a test
checks both): how long notebooks 00-10 take there, from AWS_WAITS, and what the stack costs if it is torn
down within the hour it was built (an ALB is billed per hour or partial hour; a hosted zone deleted within
12 hours is not billed: https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/troubleshooting-billed-twice.html).
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

from .. import workspace

PRICE_REGION = "us-east-1"
ALB_HOUR = 0.0225
LCU_HOUR = 0.008  # a Load Balancer Capacity Unit; a course's few requests stay well under one
IPV4_HOUR = 0.005  # every public IPv4 address, in use or idle
ZONE_MONTH = 0.50
ROOT_VOLUME_GB = 30  # the ECS-optimized AL2023 AMI's root volume (gp3)
GP3_GB_MONTH = 0.08
HOURS_PER_MONTH = 730  # AWS's own conversion for monthly prices
ALB_ADDRESSES = 2  # an internet-facing ALB has a public address per zone it is in: two here (more if it scales)
INSTANCE_HOUR = {  # EC2 on-demand, Linux, us-east-1
    "t3.nano": 0.0052,
    "t3.micro": 0.0104,
    "t3.small": 0.0208,
    "t3.medium": 0.0416,
    "t3.large": 0.0832,
}
PRICING_PAGES = (
    "https://aws.amazon.com/elasticloadbalancing/pricing/",
    "https://aws.amazon.com/ec2/pricing/on-demand/",
    "https://aws.amazon.com/vpc/pricing/",
    "https://aws.amazon.com/route53/pricing/",
    "https://aws.amazon.com/ebs/pricing/",
)
# A run of notebooks 00-10 on AWS: the emulator's run, plus what takes longer on AWS, in minutes: (what,
# minutes, source). Route 53 and the health checks give figures; for the load balancer, ACM and an
# instance's boot AWS documents the states, not a duration, so the minutes there are the course's estimate.
AWS_WAITS = (
    ("the notebooks on the emulator, the provider's fixed waits included", 4, "bench/README.md, (b): 232 s"),
    (
        "04: a new load balancer, provisioning until active, beyond the emulator's 60 s",
        2,
        "estimate; the states: https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_LoadBalancerState.html",
    ),
    (
        "04: ACM validates the certificate through its Route 53 record",
        5,
        "estimate; ACM retries for 72 hours: https://docs.aws.amazon.com/acm/latest/APIReference/API_CertificateDetail.html",
    ),
    (
        "06-07: an instance boots and joins the cluster, ECS pulls the images, then 2 health checks 5 s apart",
        3,
        "estimate for the boot; the checks: "
        "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html",
    ),
    (
        "08: the alias record reaches every Route 53 name server, beyond the emulator's 30 s",
        1,
        "within 60 seconds: https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-editing.html",
    ),
    ("10: the load balancer and the instance are deleted, beyond the emulator's waits", 2, "estimate"),
)
COURSE_VARIABLES = workspace.REPO / "terraform" / "variables.tf"
SETTINGS = ("instance_type", "instance_count", "hosted_zone_id")


def _defaults(text: str) -> dict:
    """``default`` of the variables in SETTINGS declared in ``text`` (terraform fmt layout)."""
    found = {}
    for name in SETTINGS:
        block = re.search(rf'^variable "{name}" {{\n(.*?)^}}', text, re.M | re.S)
        value = block and re.search(r'^  default\s*=\s*("[^"]*"|[0-9]+)\s*$', block.group(1), re.M)
        if value:
            found[name] = value.group(1)
    return found


def _assignments(text: str) -> dict:
    """Values of the variables in SETTINGS assigned in a .tfvars file."""
    return {
        m.group(1): m.group(2) for m in re.finditer(rf'^\s*({"|".join(SETTINGS)})\s*=\s*("[^"]*"|[0-9]+)', text, re.M)
    }


def stack_settings(folder: Path | None = None, overrides: dict | None = None) -> dict:
    """{"instance_type", "instance_count", "creates_zone", "source"}: what the stack in ``folder`` will run."""
    raw = _defaults(COURSE_VARIABLES.read_text()) if COURSE_VARIABLES.exists() else {}
    source = "the course's defaults"
    if folder and Path(folder).is_dir():
        folder = Path(folder)
        for path in sorted(folder.glob("*.tf")):
            declared = _defaults(path.read_text())
            if declared:
                raw.update(declared)
                source = "this stack's variables"
        for path in [folder / "terraform.tfvars", *sorted(folder.glob("*.auto.tfvars"))]:
            if path.is_file():
                assigned = _assignments(path.read_text())
                if assigned:
                    raw.update(assigned)
                    source = "this stack's variables"
    values = {k: v.strip('"') for k, v in raw.items()}
    for name, value in (overrides or {}).items():
        if name in SETTINGS:
            values[name] = str(value)
            source = "this stack's variables"
    return {
        "instance_type": values.get("instance_type", "t3.micro"),
        "instance_count": int(values.get("instance_count", 1)),
        "creates_zone": values.get("hosted_zone_id", "") == "",
        "source": source,
    }


def hourly(settings: dict) -> float | None:
    """What the finished stack costs per hour (None: the instance type is not in the price table)."""
    instance_price = INSTANCE_HOUR.get(settings["instance_type"])
    if instance_price is None:
        return None
    count = settings["instance_count"]
    volume_hour = ROOT_VOLUME_GB * GP3_GB_MONTH / HOURS_PER_MONTH
    return ALB_HOUR + LCU_HOUR + count * (instance_price + volume_hour) + (count + ALB_ADDRESSES) * IPV4_HOUR


def aws_run(settings: dict | None = None) -> tuple[int, float | None]:
    """(minutes, dollars) of a run of notebooks 00-10 on AWS, torn down within the hour it began."""
    minutes = 5 * math.ceil(sum(m for _, m, _ in AWS_WAITS) / 5)
    return minutes, hourly(settings or stack_settings())


def aws_run_line() -> str:
    """The one sentence README.md and notebook 00 give about running the course on AWS."""
    minutes, dollars = aws_run()
    return f"On real AWS: about {minutes} minutes and about ${dollars:.2f} if torn down the same hour."


def banner(settings: dict) -> str:
    """The cost lines for ``settings`` (from ``stack_settings``)."""
    kind, count = settings["instance_type"], settings["instance_count"]
    plural = "s" if count > 1 else ""
    addresses = count + ALB_ADDRESSES
    instance_price = INSTANCE_HOUR.get(kind)
    volume_hour = ROOT_VOLUME_GB * GP3_GB_MONTH / HOURS_PER_MONTH

    def row(label, text):
        return f"    {label:<30} {text}"

    lines = [
        f"  Cost on real AWS, at {PRICE_REGION} list prices (other regions differ; tax, free tier and data "
        f"transfer not counted), once the course's stack is complete ({settings['source']}):",
        row("Application Load Balancer", f"${ALB_HOUR}/hour + ${LCU_HOUR} per LCU-hour (a course stays under 1 LCU)"),
        row(
            f"{count} x {kind} instance{plural}",
            f"${instance_price}/hour each"
            if instance_price is not None
            else "not in the course's price table: see the EC2 pricing page",
        ),
        row(
            f"{count} x {ROOT_VOLUME_GB} GiB gp3 root volume{plural}",
            f"${GP3_GB_MONTH}/GB-month each (${volume_hour:.4f}/hour; the AMI's size)",
        ),
        row(
            f"{addresses} public IPv4 addresses",
            f"${IPV4_HOUR}/hour each ({count} for the instance{plural}, {ALB_ADDRESSES} for the ALB)",
        ),
    ]
    if settings["creates_zone"]:
        lines.append(
            row("Route 53 hosted zone", f"${ZONE_MONTH:.2f} per month (created because hosted_zone_id is empty)")
        )
    total = hourly(settings)
    if total is not None:
        lines.append(f"    About ${total:.3f} per hour (${total * 24:.2f} per day), plus CloudWatch Logs.")
    lines.append("  It is billed until the teardown notebook (10-teardown.ipynb) has deleted the stack.")
    lines.append("  Prices: " + " ".join(PRICING_PAGES))
    return "\n".join(lines)


_announced: set = set()


def announce(folder: Path | None = None, overrides: dict | None = None, stream=None) -> str | None:
    """Print the cost banner for the stack in ``folder``, once per distinct settings; return it if printed."""
    settings = stack_settings(folder, overrides)
    key = (settings["instance_type"], settings["instance_count"], settings["creates_zone"])
    if key in _announced:
        return None
    _announced.add(key)
    text = banner(settings)
    print(text, file=stream or sys.stdout, flush=True)
    return text
