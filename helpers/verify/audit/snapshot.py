"""The audit's collection: describe what it needs through boto3 (emulator or AWS alike) into a snapshot."""

from __future__ import annotations

from ...course import tags
from ...runtime import aws


def collect(learner: str | None = None, *, instance_groups: list[str] | None = None) -> dict:
    """Read everything the audit needs for the course's load balancers (tag course=ecs-alb[, learner]).

    ``instance_groups`` replaces the instances' security groups in the snapshot: a what-if
    ("what would the internet reach if the instances were in these groups?"), nothing is changed.
    """
    ec2, elbv2 = aws.client("ec2"), aws.client("elbv2")
    balancers = [lb for lb in elbv2.describe_load_balancers()["LoadBalancers"] if lb.get("Type") == "application"]
    found_tags = {}
    for start in range(0, len(balancers), 20):
        for d in elbv2.describe_tags(ResourceArns=[lb["LoadBalancerArn"] for lb in balancers[start : start + 20]])[
            "TagDescriptions"
        ]:
            found_tags[d["ResourceArn"]] = d["Tags"]
    chosen = [lb for lb in balancers if tags.tagged(found_tags.get(lb["LoadBalancerArn"]), learner)]
    snapshot = {
        "title": f"Reachability audit{f' (learner: {learner})' if learner else ''}",
        "load_balancers": [],
        "instances": {},
        "security_groups": {},
        "prefix_lists": {},
    }
    group_ids = set()
    capacity = _course_instances(learner) if chosen else []
    for lb in sorted(chosen, key=lambda lb: lb["LoadBalancerName"]):
        subnets = ec2.describe_subnets(SubnetIds=[z["SubnetId"] for z in lb["AvailabilityZones"]])["Subnets"]
        cidrs = sorted(s["CidrBlock"] for s in subnets) + sorted(
            a["Ipv6CidrBlock"] for s in subnets for a in s.get("Ipv6CidrBlockAssociationSet", [])
        )
        entry = {
            "name": lb["LoadBalancerName"],
            "security_groups": sorted(lb.get("SecurityGroups", [])),
            "subnet_cidrs": cidrs,
            "listeners": [],
            "targets": [],
            "instance_ids": [],
        }
        target_groups = {}
        for listener in sorted(
            elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"], key=lambda lst: lst["Port"]
        ):
            actions = list(listener["DefaultActions"])
            for rule in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]:
                if not rule["IsDefault"]:
                    actions += rule["Actions"]
            action = next((a for a in actions if a["Type"] == "forward"), actions[0] if actions else {})
            arns = (
                [action["TargetGroupArn"]]
                if action.get("TargetGroupArn")
                else [t["TargetGroupArn"] for t in action.get("ForwardConfig", {}).get("TargetGroups", [])]
            )
            for arn in arns:
                target_groups[arn] = None
            redirect = action.get("RedirectConfig", {})
            entry["listeners"].append(
                {
                    "port": listener["Port"],
                    "protocol": listener["Protocol"],
                    # moto reports a policy on HTTP listeners too; AWS only on HTTPS/TLS ones
                    "ssl_policy": listener.get("SslPolicy") if listener["Protocol"] in ("HTTPS", "TLS") else None,
                    "action": {
                        "type": action.get("Type", "none"),
                        "target_groups": sorted(a.split("/")[-2] for a in arns),
                        **({"protocol": redirect.get("Protocol"), "port": redirect.get("Port")} if redirect else {}),
                    },
                }
            )
        for arn in sorted(target_groups):
            tg = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
            for t in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]:
                entry["targets"].append(
                    {
                        "id": t["Target"]["Id"],
                        "port": t["Target"].get("Port", tg.get("Port")),
                        "health_check_port": tg.get("HealthCheckPort", "traffic-port"),
                        "target_group": tg["TargetGroupName"],
                    }
                )
        entry["targets"].sort(key=lambda t: (t["id"], t["port"]))
        # The instances behind it: registered targets, plus the course's Auto Scaling instances (ECS
        # capacity), so an exposed instance is found even before ECS registers anything.
        entry["instance_ids"] = sorted({t["id"] for t in entry["targets"] if t["id"].startswith("i-")} | set(capacity))
        group_ids.update(entry["security_groups"])
        snapshot["load_balancers"].append(entry)
    ids = sorted({i for lb in snapshot["load_balancers"] for i in lb["instance_ids"]})
    if ids:
        for reservation in ec2.describe_instances(InstanceIds=ids)["Reservations"]:
            for instance in reservation["Instances"]:
                groups = instance_groups or sorted(g["GroupId"] for g in instance.get("SecurityGroups", []))
                ips = [
                    a["PrivateIpAddress"]
                    for n in instance.get("NetworkInterfaces", [])
                    for a in n.get("PrivateIpAddresses", [])
                ] or [instance.get("PrivateIpAddress")]
                snapshot["instances"][instance["InstanceId"]] = {
                    "security_groups": groups,
                    "private_ips": sorted(ip for ip in ips if ip),
                }
                group_ids.update(groups)
    if group_ids:
        for group in ec2.describe_security_groups(GroupIds=sorted(group_ids))["SecurityGroups"]:
            snapshot["security_groups"][group["GroupId"]] = group
    for group in snapshot["security_groups"].values():
        for permission in group.get("IpPermissions", []) + group.get("IpPermissionsEgress", []):
            for r in permission.get("PrefixListIds", []):
                pid = r.get("PrefixListId")
                if pid and pid not in snapshot["prefix_lists"]:
                    snapshot["prefix_lists"][pid] = _prefix_list_entries(ec2, pid)
    return snapshot


def _course_instances(learner: str | None) -> list[str]:
    found = []
    for group in aws.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]:
        if tags.tagged(group.get("Tags"), learner):
            found += [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]
    return found


def _prefix_list_entries(ec2, prefix_list_id: str) -> list[str] | None:
    try:
        entries = ec2.get_managed_prefix_list_entries(PrefixListId=prefix_list_id)["Entries"]
    except Exception:  # noqa: BLE001 - no permission, not supported: reported as "cannot evaluate"
        return None
    return [e["Cidr"] for e in entries]
