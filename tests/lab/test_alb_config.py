"""Reading a load balancer from the emulator (helpers/lab/alb/config.py): targets and certificates.

Instance targets are reached at the instance's private IP
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#target-type);
an HTTPS listener's certificate pair comes from the workspace (ACM never returns an imported key:
https://docs.aws.amazon.com/acm/latest/APIReference/API_GetCertificate.html).
"""

from __future__ import annotations

import ssl
import uuid

import pytest
from cryptography import x509

from helpers import workspace
from helpers.errors import CourseError
from helpers.lab.alb import config as alb_config
from helpers.runtime import aws
from helpers.tf import certificate


@pytest.fixture
def stack(emulator_url):
    ec2, elbv2 = aws.client("ec2"), aws.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.66.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.66.{n}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"][
            "SubnetId"
        ]
        for n, z in ((1, "a"), (2, "b"))
    ]
    name = f"c{uuid.uuid4().hex[:8]}"
    lb = elbv2.create_load_balancer(Name=name, Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    group = elbv2.create_target_group(
        Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance", HealthCheckPort="8080"
    )["TargetGroups"][0]["TargetGroupArn"]
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnets[0])["Instances"][0]
    made = {"lb": lb, "group": group, "instance": instance, "certs": []}
    yield made
    elbv2.delete_load_balancer(LoadBalancerArn=lb)
    elbv2.delete_target_group(TargetGroupArn=group)
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    for arn in made["certs"]:
        aws.client("acm").delete_certificate(CertificateArn=arn)
    for subnet in subnets:
        ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)


def test_instance_targets_resolve_to_the_private_ip_and_rules_keep_priority_order(stack):
    """Instance targets: the instance's private address, on each target's own port (bridge mode: two per instance)."""
    elbv2 = aws.client("elbv2")
    iid, ip = stack["instance"]["InstanceId"], stack["instance"]["PrivateIpAddress"]
    elbv2.register_targets(
        TargetGroupArn=stack["group"], Targets=[{"Id": iid, "Port": 32768}, {"Id": iid, "Port": 32769}]
    )
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=stack["lb"], Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "7"}]
    )
    listener = elbv2.create_listener(
        LoadBalancerArn=stack["lb"],
        Port=80,
        Protocol="HTTP",
        DefaultActions=[{"Type": "forward", "TargetGroupArn": stack["group"]}],
    )["Listeners"][0]["ListenerArn"]
    for priority, host in ((30, "c.example"), (5, "*.example")):
        elbv2.create_rule(
            ListenerArn=listener,
            Priority=priority,
            Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": [host]}}],
            Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}],
        )
    lb = alb_config.read(stack["lb"])
    group = lb.target_groups[stack["group"]]
    assert [(t.id, t.port, t.address) for t in group.targets] == [(iid, 32768, ip), (iid, 32769, ip)]
    assert group.health_check.port_for(32768) == 8080
    assert lb.idle_timeout == 7 and lb.connect_timeout == 10
    assert [(r.priority, r.host_headers) for r in lb.listeners[0].rules] == [(5, ("*.example",)), (30, ("c.example",))]


def test_imported_certificate_pairs_with_the_workspace_key(stack):
    """The course's imported certificate: ACM gives the certificate back, the key is found in the workspace's certs/."""
    cert_path, key_path = certificate.issue()
    acm = aws.client("acm")
    arn = acm.import_certificate(Certificate=cert_path.read_bytes(), PrivateKey=key_path.read_bytes())["CertificateArn"]
    stack["certs"].append(arn)
    pair = alb_config.certificate(arn)
    assert (pair.cert_path, pair.key_path, pair.domain) == (cert_path, key_path, certificate.DOMAIN)


def test_imported_certificate_without_its_key_is_one_clear_message(stack, tmp_path):
    """A certificate imported from elsewhere: the lab cannot end TLS with it, and says why and what to do."""
    cert, key = alb_config.lab_issued_pair(f"elsewhere-{uuid.uuid4().hex[:6]}.example")
    acm = aws.client("acm")
    arn = acm.import_certificate(Certificate=cert.read_bytes(), PrivateKey=key.read_bytes())["CertificateArn"]
    stack["certs"].append(arn)
    with pytest.raises(CourseError, match="no private key for the imported certificate"):
        alb_config.certificate(arn)


def test_acm_issued_certificate_gets_a_lab_pair_for_its_domain(stack):
    """An ACM-issued certificate (no pair anywhere): one for its domain, signed by the course's CA (as ACM's
    stand-in, so the lab's client verifies it), made in the workspace."""
    acm = aws.client("acm")
    arn = acm.request_certificate(DomainName="issued.example", ValidationMethod="DNS")["CertificateArn"]
    stack["certs"].append(arn)
    pair = alb_config.certificate(arn)
    assert pair.cert_path.parent == workspace.path("certs", "lab-issued")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pair.cert_path, pair.key_path)  # a real, matching pair
    assert "issued.example" in pair.cert_path.name
    issued = x509.load_pem_x509_certificate(pair.cert_path.read_bytes())
    ca = x509.load_pem_x509_certificate(certificate.authority_file().read_bytes())
    issued.verify_directly_issued_by(ca)  # raises if the course's CA did not sign it
