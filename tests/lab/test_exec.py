"""`python -m helpers lab exec [--from internet|HOST] -- COMMAND` (helpers/lab/net/exec.py): any program in the lab.

Real clients, run as a learner types them: curl through the Route 53 alias, the ALB's TLS and a target;
openssl s_client on the HTTPS listener; dig and dnspython's resolver asking the lab's DNS through the
internet namespace's resolv.conf; and a command on an instance, in the instance's namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from helpers import workspace
from helpers.lab import model
from helpers.lab.control import commands as control
from helpers.lab.net import kernel
from helpers.lab.net.netns import Netns
from helpers.runtime import aws, emulator
from helpers.tf import certificate
from tests.support import lab_support as lab
from tests.support.waiting import wait_until

WEB = [{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
HTTPS_IN = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
SERVED = Path(lab.__file__).parent  # tests/support/, served by the instance's HTTP server
SERVE_SECONDS = 300  # the instance's HTTP server ends by itself, whatever happens
WITHIN = 30.0  # seconds for the lab's DNS and the target's first health checks (5 s interval, 2 checks)


@pytest.fixture
def lab_ws(emulator_url, tmp_path, monkeypatch):
    """A workspace of the test's own (its own <ws> tag and lab/ folder), the session's emulator."""
    lab.require_kernel()
    monkeypatch.setenv("COURSE_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)  # inherited by the CLI's processes
    try:
        yield emulator_url
    finally:
        control.down()
        assert kernel.namespaces(kernel.tag()) == []


def lab_exec(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`python -m helpers lab exec ARGS`, as a learner runs it."""
    argv = [sys.executable, "-m", "helpers", "lab", "exec", *args]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, cwd=workspace.REPO, stdin=subprocess.DEVNULL
    )


def until(check, seconds: float = WITHIN):
    """check()'s first truthy answer within ``seconds``, else the test fails with the last one."""
    return wait_until(check, within=seconds, what="the lab's answer", every=0.5)


def resolved(name: str) -> list[str] | None:
    """The A records of ``name`` as dnspython's resolver gets them inside the lab's internet (None: no answer)."""
    code = (
        f"import dns.resolver, json; print(json.dumps(sorted(r.address for r in dns.resolver.resolve({name!r}, 'A'))))"
    )
    done = lab_exec("--", sys.executable, "-c", code)
    return json.loads(done.stdout) if done.returncode == 0 else None


def require(program: str, package: str) -> None:
    if not shutil.which(program):
        if os.environ.get("CI"):
            pytest.fail(f"{program} is missing (`make test` installs {package} as root)", pytrace=False)
        pytest.skip(f"{program} is missing: apt-get install {package}")


def test_bad_input_is_one_message_each(lab_ws):
    """No command, a program this machine does not have, the lab down: one message, exit status 2."""
    empty = lab_exec()
    assert empty.returncode == 2 and "lab exec needs a command" in empty.stderr, empty.stderr
    missing = lab_exec("--", "no-such-program-here")
    assert missing.returncode == 2 and "no such program on this machine" in missing.stderr, missing.stderr
    down = lab_exec("--", "true")
    assert down.returncode == 2 and "The traffic lab is down" in down.stderr, down.stderr


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """An instance serving tests/support/ on 8080 behind an HTTPS listener, a Route 53 alias to the ALB, the
    lab up in a workspace of the module's own (one lab for the module's tests: they only read)."""
    lab.require_kernel()
    require("curl", "curl")
    url = emulator.ensure()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("COURSE_WORKSPACE", str(tmp_path_factory.mktemp("exec") / "ws"))
        env.setenv("AWS_ENDPOINT_URL", url)  # the session's emulator, inherited by the CLI's processes
        try:
            yield from _site(url)
        finally:
            control.down()
            assert kernel.namespaces(kernel.tag()) == []


def _site(url: str):
    elbv2, route53, acm = aws.client("elbv2"), aws.client("route53"), aws.client("acm")
    cert_path, key_path = certificate.issue()
    imported = acm.import_certificate(Certificate=cert_path.read_bytes(), PrivateKey=key_path.read_bytes())
    cert = imported["CertificateArn"]
    domain = f"exec-{uuid.uuid4().hex[:6]}.example"
    with lab.small_vpc("10.84.0.0/16") as made:
        target = lab.instance(made, "subnet_a", [lab.group(made, "web", WEB)])["InstanceId"]
        balancer = lab.load_balancer(made, [lab.group(made, "alb", HTTPS_IN)])
        group = elbv2.create_target_group(
            Name=f"exec-{target[-6:]}", Protocol="HTTP", Port=8080, VpcId=made["vpc"],
            HealthCheckPath="/", HealthCheckIntervalSeconds=5, HealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
        zone = route53.create_hosted_zone(Name=domain, CallerReference=domain)["HostedZone"]["Id"]
        alias = {
            "Name": f"app.{domain}",
            "Type": "A",
            "AliasTarget": {
                "HostedZoneId": balancer["CanonicalHostedZoneId"],
                "DNSName": balancer["DNSName"],
                "EvaluateTargetHealth": True,
            },
        }
        server = None
        try:
            elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": target, "Port": 8080}])
            elbv2.create_listener(
                LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTPS", Port=443,
                Certificates=[{"CertificateArn": cert}], DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
            )  # fmt: skip
            route53.change_resource_record_sets(
                HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": alias}]}
            )
            control.up(url, vpcs=[made["vpc"]], quiet=True)
            m = model.read().only([made["vpc"]])
            host = m.host(target)
            serve = ["timeout", str(SERVE_SECONDS), sys.executable, "-m", "http.server", "8080"]
            serve += ["--bind", host.private_ip, "--directory", str(SERVED)]
            server = Netns(kernel.host_ns(kernel.tag(), host)).popen(
                serve, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            nodes = sorted(h.public_ip for h in m.hosts if h.lb_arn == balancer["LoadBalancerArn"])
            until(lambda: resolved(f"app.{domain}") == nodes)  # the lab's DNS program has started
            yield {"name": f"app.{domain}", "target": target, "private_ip": host.private_ip, "nodes": nodes}
        finally:
            if server is not None:
                server.kill()
                server.wait(10)
            control.down()
            route53.change_resource_record_sets(
                HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": alias}]}
            )
            route53.delete_hosted_zone(Id=zone)
            elbv2.delete_load_balancer(LoadBalancerArn=balancer["LoadBalancerArn"])
            made["lbs"].remove(balancer["LoadBalancerArn"])
            elbv2.delete_target_group(TargetGroupArn=group)
            acm.delete_certificate(CertificateArn=cert)


def test_curl_reaches_the_site_through_the_labs_dns_and_the_alb(site):
    """The README's line, on this stack: curl -sk https://NAME/ from the lab's internet."""
    url = f"https://{site['name']}/lab_support.py"
    status = until(lambda: lab_exec("--", "curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", url).stdout == "200")
    assert status
    page = lab_exec("--", "curl", "-sk", url)
    assert page.returncode == 0 and "def small_vpc(" in page.stdout, page.stderr
    refused = lab_exec("--", "curl", "-sk", "--max-time", "5", f"https://{site['private_ip']}:8080/")
    assert refused.returncode != 0, "the internet has no route to a private address: curl's own exit status"


def test_dig_and_pythons_resolver_ask_the_labs_dns(site):
    """Both read the internet namespace's resolv.conf (ip netns exec puts /etc/netns/<ns>/resolv.conf there)."""
    require("dig", "bind9-dnsutils")
    # dig's own timing (5 s a try, 3 tries): the lab's DNS answers at once, a loaded machine may make it wait
    dug = lab_exec("--", "dig", "+short", site["name"]).stdout.split()
    assert sorted(dug) == site["nodes"], "the alias answers the load balancer's nodes' public addresses"
    assert resolved(site["name"]) == site["nodes"]
    nx = lab_exec("--", "dig", f"nowhere.{site['name']}")
    assert "status: NXDOMAIN" in nx.stdout, nx.stdout


def test_openssl_s_client_sees_the_listeners_certificate(site):
    require("openssl", "openssl")
    hello = lab_exec("--", "openssl", "s_client", "-connect", f"{site['name']}:443", "-servername", site["name"])
    assert hello.returncode == 0, hello.stderr
    assert "CN = app.ecs-alb.example" in hello.stdout and "Protocol" in hello.stdout, hello.stdout[-1500:]


def test_from_an_instance_runs_in_its_namespace_and_the_exit_status_is_the_programs(site):
    inside = lab_exec("--from", site["target"], "--", "ip", "-4", "-o", "addr", "show", "dev", "eth0")
    assert inside.returncode == 0 and f"inet {site['private_ip']}/" in inside.stdout, inside.stdout + inside.stderr
    own = f"http://{site['private_ip']}:8080/lab_support.py"
    served = until(lambda: lab_exec("--from", site["target"], "--", "curl", "-s", own).stdout)
    assert "def small_vpc(" in served
    assert lab_exec("--", "sh", "-c", "exit 7").returncode == 7
    nowhere = lab_exec("--from", "i-00000000nowhere", "--", "true")
    assert nowhere.returncode == 2 and "is not a place in the lab" in nowhere.stderr
    assert site["target"] in nowhere.stderr, "the message lists the places there are"


def test_curl_http2_gets_http2_from_the_albs_https_listener(site):
    """curl --http2 in the lab's internet: the ALB's HTTPS listener offers h2 with ALPN and answers over HTTP/2
    with the target's page (forwarded to the target as HTTP/1.1, the target group's default).

    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-listeners.html
    """
    url = f"https://{site['name']}/lab_support.py"
    how = ["-sk", "--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}"]
    assert until(lambda: lab_exec("--", "curl", *how, url).stdout == "2 200")
    page = lab_exec("--", "curl", "-sk", "--http2", url)
    assert page.returncode == 0 and "def small_vpc(" in page.stdout, page.stderr
