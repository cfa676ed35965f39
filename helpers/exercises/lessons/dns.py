"""DNS: the alias record to the load balancer."""

from __future__ import annotations

from ...runtime import aws
from ..feedback import Feedback, run_check, state_resource


def diagnose_dns(records: list[dict], name: str, load_balancer: dict) -> list[str]:
    """``records``: list_resource_record_sets of the zone; ``name``: the record's name (domain_name)."""
    wanted = name.rstrip(".").lower()
    mine = [r for r in records if r["Name"].rstrip(".").lower() == wanted]
    if not mine:
        return [f"the zone has no record named {wanted}."]
    a = [r for r in mine if r["Type"] == "A"]
    if not a:
        kinds = ", ".join(sorted({r["Type"] for r in mine}))
        return [
            f"{wanted} is a {kinds} record, not an A alias: an alias resolves in one step, has no TTL to manage "
            "and costs nothing per query (and a CNAME is not allowed at a zone apex)."
        ]
    record, problems = a[0], []
    alias = record.get("AliasTarget")
    if not alias:
        return [
            f"{wanted} is a plain A record with fixed addresses: an ALB's addresses change, so point an alias at "
            "its DNS name."
        ]
    if alias["DNSName"].rstrip(".").lower() != load_balancer["DNSName"].lower():
        problems.append(f"the alias points at {alias['DNSName']}, not at the load balancer's DNS name.")
    if alias["HostedZoneId"] != load_balancer["CanonicalHostedZoneId"]:
        problems.append(
            f"the alias names hosted zone {alias['HostedZoneId']}, but an alias must name the ALB's own "
            f"canonical zone ({load_balancer['CanonicalHostedZoneId']}), not yours: AWS rejects it "
            "otherwise."
        )
    return problems


def dns() -> Feedback:
    """Exercise 08: an A alias for domain_name pointing at the ALB, naming the ALB's canonical zone."""

    def gather():
        record = state_resource("aws_route53_record.app", "The alias record")
        lb = aws.client("elbv2").describe_load_balancers(
            LoadBalancerArns=[state_resource("aws_lb.main", "The load balancer")["arn"]]
        )["LoadBalancers"][0]
        records = aws.client("route53").list_resource_record_sets(HostedZoneId=record["zone_id"])["ResourceRecordSets"]
        return {"records": records, "name": record["fqdn"], "load_balancer": lb}

    return run_check("08 DNS", gather, diagnose_dns, "an A alias record points the name at the load balancer.")
