"""The audit's collection: describe what it needs through boto3 (emulator or AWS alike) into a snapshot."""

from __future__ import annotations

from ...course import tags
from ...errors import CourseError
from ...runtime import aws, cloud

PAGE = 20  # DescribeTags takes at most 20 load balancers per call


def collect(
    learner: str | None = None,
    *,
    instance_groups: list[str] | None = None,
    load_balancer: str | None = None,
    every_balancer: bool = False,
) -> dict:
    """Read everything the audit needs into a snapshot.

    Which load balancers: by default the course's (tag course=ecs-alb[, learner]);
    ``load_balancer`` (a name or an ARN) audits that one, tagged or not; ``every_balancer``
    audits every Application Load Balancer of the region. Untagged or not, the instances behind a
    load balancer are its registered targets and the container instances of the ECS services
    that register in its target groups.

    ``instance_groups`` replaces the instances' security groups in the snapshot: a what-if
    ("what would the internet reach if the instances were in these groups?"), nothing is changed.
    """
    ec2, elbv2 = aws.client("ec2"), aws.client("elbv2")
    every = elbv2.get_paginator("describe_load_balancers").paginate().build_full_result()["LoadBalancers"]
    notes = []
    if load_balancer:
        chosen = [_one_balancer(every, load_balancer)]
        title = f"Reachability audit of load balancer {chosen[0]['LoadBalancerName']}"
    elif every_balancer:
        chosen = [lb for lb in every if lb.get("Type") == "application"]
        skipped = sorted(lb["LoadBalancerName"] for lb in every if lb.get("Type") != "application")
        if skipped:
            notes.append(
                (
                    f"not audited, not Application Load Balancers: {', '.join(skipped)}",
                    "check the security groups of their targets by hand",
                )
            )
        title = f"Reachability audit of every Application Load Balancer in {cloud.region()}"
        if not chosen:
            notes.append((f"no Application Load Balancer in {cloud.region()}", "check the region (AWS_DEFAULT_REGION)"))
    else:
        balancers = [lb for lb in every if lb.get("Type") == "application"]
        found_tags = {}
        for start in range(0, len(balancers), PAGE):
            arns = [lb["LoadBalancerArn"] for lb in balancers[start : start + PAGE]]
            for d in elbv2.describe_tags(ResourceArns=arns)["TagDescriptions"]:
                found_tags[d["ResourceArn"]] = d["Tags"]
        chosen = [lb for lb in balancers if tags.tagged(found_tags.get(lb["LoadBalancerArn"]), learner)]
        title = f"Reachability audit{f' (learner: {learner})' if learner else ''}"
        if not chosen and every:  # "nothing to audit" must not hide the load balancers that are there
            names = sorted(lb["LoadBalancerName"] for lb in every)
            notes.append(
                (
                    f"no load balancer of this course{f' (learner {learner})' if learner else ''} in "
                    f"{cloud.region()}, so there is nothing to audit; the region holds {len(names)} other "
                    f"load balancer{'s' if len(names) > 1 else ''}: {', '.join(names)}",
                    "audit them with python -m helpers audit --all, or one with "
                    "python -m helpers audit --load-balancer NAME",
                )
            )
    snapshot = {
        "title": title,
        "load_balancers": [],
        "instances": {},
        "security_groups": {},
        "prefix_lists": {},
        "notes": notes,
    }
    group_ids = set()
    course_mode = not (load_balancer or every_balancer)
    capacity = _course_instances(learner) if chosen and course_mode else []
    services = _ecs_instances_by_target_group() if chosen else {}
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
                if t.get("TargetHealth", {}).get("State") == "draining":
                    continue  # deregistered: it gets no new request (target-group-health-checks.html)
                entry["targets"].append(
                    {
                        "id": t["Target"]["Id"],
                        "port": t["Target"].get("Port", tg.get("Port")),
                        "health_check_port": tg.get("HealthCheckPort", "traffic-port"),
                        "target_group": tg["TargetGroupName"],
                    }
                )
        entry["targets"].sort(key=lambda t: (t["id"], t["port"]))
        if not entry["listeners"]:
            if load_balancer:
                raise CourseError(
                    f"Load balancer {lb['LoadBalancerName']} has no listener.",
                    "Without a listener it accepts no connection, so there is no path to audit.",
                    "add a listener (notebook 04 shows how), then run the audit again",
                )
            notes.append(
                (
                    f"{lb['LoadBalancerName']} has no listener: it accepts no connection, so it was not audited",
                    "add a listener, then run the audit again",
                )
            )
            continue
        # The instances behind it: registered targets, the container instances of the ECS services
        # that register in its target groups, and in the course the Auto Scaling instances (ECS
        # capacity), so an exposed instance is found even before ECS registers anything.
        behind = {i for arn in target_groups for i in services.get(arn, ())}
        registered = {t["id"] for t in entry["targets"] if t["id"].startswith("i-")}
        entry["instance_ids"] = sorted(registered | behind | set(capacity))
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


def _one_balancer(balancers: list[dict], wanted: str) -> dict:
    """The load balancer named (or whose ARN is) ``wanted``: an ALB, or one clear message."""
    found = next((lb for lb in balancers if wanted in (lb["LoadBalancerName"], lb["LoadBalancerArn"])), None)
    if found is None:
        names = ", ".join(sorted(lb["LoadBalancerName"] for lb in balancers)) or "none"
        raise CourseError(
            f"No load balancer named {wanted!r} in {cloud.region()}.",
            f"The region's load balancers are: {names}.",
            "give one of those names (or its ARN), check the region (AWS_DEFAULT_REGION), "
            "or audit them all: python -m helpers audit --all",
        )
    kind = found.get("Type", "application")
    if kind != "application":
        raise CourseError(
            f"{found['LoadBalancerName']} is a {kind} load balancer; the audit covers Application Load Balancers only.",
            "It evaluates HTTP/HTTPS listeners and the security groups of an ALB and of its targets; "
            f"a {kind} load balancer forwards differently (layer 4, or to appliances).",
            "check its targets' security groups by hand, or audit an ALB: python -m helpers audit --all",
        )
    return found


def _ecs_instances_by_target_group() -> dict[str, set[str]]:
    """Target group ARN → the EC2 instances of the clusters whose ECS services register in it."""
    ecs = aws.client("ecs")
    found: dict[str, set[str]] = {}
    for cluster in ecs.get_paginator("list_clusters").paginate().build_full_result()["clusterArns"]:
        arns = ecs.get_paginator("list_services").paginate(cluster=cluster).build_full_result()["serviceArns"]
        groups = set()
        for start in range(0, len(arns), 10):  # DescribeServices takes at most 10 services
            for service in ecs.describe_services(cluster=cluster, services=arns[start : start + 10])["services"]:
                groups |= {b["targetGroupArn"] for b in service.get("loadBalancers", []) if b.get("targetGroupArn")}
        if not groups:
            continue
        instances = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
        ids = set()
        if instances:
            described = ecs.describe_container_instances(cluster=cluster, containerInstances=instances)
            ids = {c["ec2InstanceId"] for c in described["containerInstances"] if c.get("ec2InstanceId")}
        for arn in groups:
            found.setdefault(arn, set()).update(ids)
    return found


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
