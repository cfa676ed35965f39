"""The lab without root (helpers/lab/net/sandbox.py): an ordinary user's lab, in a user namespace of its own.

The test runs as root (CI) and drops to the unprivileged user ``nobody`` for the lab itself
(tests/support/rootless_support.py): lab up, probe, a request through the load balancer to a server on
the instance, ``lab exec`` (on the instance; curl through the load balancer), lab down. The lab's namespaces live only in the sandbox's mount namespace: root's
``ip netns list`` never shows them, and nothing of them is left afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import workspace
from helpers.lab.net import sandbox
from helpers.runtime import aws, lab_machine
from tests.support import lab_support as lab

NOBODY = 65534
ALB_IN = [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
WEB = [{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]


# The machine's Python may live in root's home (pyenv: /root is mode 700), where an ordinary user cannot
# enter, as a learner's own virtual environment would be theirs. So, in a private mount namespace of the
# test's own, /root becomes an empty tmpfs holding only that Python's installation, then root is dropped.
VIEW = r"""set -e
prefix=$1; shift
if [ "${prefix#/root/}" != "$prefix" ]; then
  keep=$(mktemp -d); mount --bind "$prefix" "$keep"
  mount -t tmpfs -o mode=755 lab-test-root-view /root
  mkdir -p "$prefix"; mount --move "$keep" "$prefix"
fi
exec setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
"""


def _as_nobody(*argv: str, cwd: Path, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    view = ["unshare", "--mount", "--propagation", "private", "sh", "-c", VIEW, "view", sys.base_prefix]
    return subprocess.run([*view, *argv], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


@pytest.fixture
def nobody_workspace():
    """A workspace directory the unprivileged user owns (pytest's tmp_path is root's alone)."""
    lab.require_kernel()
    if not shutil.which("setpriv"):
        pytest.fail("setpriv (util-linux) is missing: the rootless test drops root with it", pytrace=False)
    folder = Path(tempfile.mkdtemp(prefix="lab-rootless-", dir="/tmp"))
    os.chown(folder, NOBODY, NOBODY)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _environment(folder: Path, emulator_url: str) -> dict:
    return {
        **os.environ,
        "HOME": str(folder),
        "COURSE_WORKSPACE": str(folder / "ws"),
        "AWS_ENDPOINT_URL": emulator_url,
        "PYTHONPATH": str(workspace.REPO),
        "PYTHONDONTWRITEBYTECODE": "1",  # the repository is root's: nobody writes no __pycache__ there
    }


def test_an_ordinary_user_can_run_the_lab(nobody_workspace, emulator_url, monkeypatch):
    env = _environment(nobody_workspace, emulator_url)
    verdict = _as_nobody(sys.executable, "-c", "from helpers.runtime import lab_machine as m; print(m.check())",
                         cwd=workspace.REPO, env=env)  # fmt: skip
    assert "ok=True" in verdict.stdout and "ordinary user" in verdict.stdout, verdict.stdout + verdict.stderr

    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_url)
    with lab.small_vpc("10.86.0.0/16") as made:
        web = lab.group(made, "web", WEB)
        target = lab.instance(made, "subnet_a", [web])["InstanceId"]
        alb_group = lab.group(made, "alb", ALB_IN)
        balancer = lab.load_balancer(made, [alb_group])
        elbv2 = aws.client("elbv2")
        group = elbv2.create_target_group(
            Name=f"rootless-{target[-6:]}", Protocol="HTTP", Port=8080, VpcId=made["vpc"],
            HealthCheckPath="/", HealthCheckIntervalSeconds=5, HealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
        try:
            elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": target, "Port": 8080}])
            elbv2.create_listener(
                LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
            )  # fmt: skip
            done = _as_nobody(
                sys.executable, "-m", "tests.support.rootless_support", made["vpc"], target, balancer["DNSName"],
                cwd=workspace.REPO, env=env,
            )  # fmt: skip
        finally:
            elbv2.delete_load_balancer(LoadBalancerArn=balancer["LoadBalancerArn"])
            made["lbs"].remove(balancer["LoadBalancerArn"])
            elbv2.delete_target_group(TargetGroupArn=group)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    assert seen["uid"] == NOBODY and seen["mode"].startswith("rootless")
    assert seen["hosts"] == ["alb", "alb", "ec2"]  # a node per load-balancer subnet, the instance
    assert seen["namespaces"] and seen["in_host_run_netns"] == []  # in the sandbox's mount namespace only
    assert seen["escapes"] == []  # no link, route or connection out of the lab (as test_kernel checks as root)
    assert (seen["probe_8080"], seen["probe_8081"]) == ("reachable", "blocked")  # the group, in the kernel
    assert seen["alb_statuses"][-1] == 200 and seen["body_names_this_file"], seen["alb_statuses"]
    assert seen["rules_listing"]
    ran, curled = seen["exec"], seen["exec_curl"]  # lab exec, through the sandbox: on the instance; curl via the ALB
    assert ran["code"] == 0 and f"inet {ran['instance_address']}/" in ran["out"], ran
    assert curled["code"] == 0 and "def containers_inside(" in curled["out"], curled
    assert isinstance(seen["containers"], dict), seen["containers"]  # else: the agent's error output
    assert seen["containers"]["euid"] == 0  # root in the sandbox, nobody outside
    assert seen["containers"]["body"] == {"ok": True, "path": "/x"}  # nginx → node, through the host port's DNAT
    assert seen["containers"]["nginx_user"] == "user  root;"  # only the learner's uid is mapped
    assert "NOT applied" in seen["containers"]["memory"]  # the real root's cgroups: said, not pretended
    assert len(seen["removed"]) == len(seen["namespaces"])
    assert seen["after_down"] == {"running": False, "keeper": None, "keeper_process": False}
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"lab-{seen['ws']}-" not in listed


def test_the_keeper_makes_a_missing_directory_in_a_rebuilt_parent(nobody_workspace):
    """On a machine where root never ran ip netns, /run/netns and /etc/netns do not exist and an ordinary
    user cannot make them: the keeper makes them inside the sandbox only, the parent's files still there."""
    missing = [f"/run/lab-test-{nobody_workspace.name}", f"/etc/lab-test-{nobody_workspace.name}"]
    state = nobody_workspace / "state"
    check = " && ".join(f'test -d "{d}"' for d in missing)
    check += (
        ' && test -L /etc/mtab -o -f /etc/mtab && grep -q "^root:" /etc/passwd && test -d /etc/ssl && echo made-inside'
    )
    script = sandbox.KEEPER.replace("exec sleep infinity", check)
    done = _as_nobody(
        "unshare", "--user", "--map-root-user", "--mount", "--propagation", "private",
        "sh", "-c", script, "lab-sandbox", str(state), *missing,
        cwd=nobody_workspace, env={"PATH": os.environ["PATH"]},
    )  # fmt: skip
    assert done.returncode == 0 and "made-inside" in done.stdout, done.stderr
    assert not any(Path(d).exists() for d in missing)  # the host never saw them
    assert lab_machine.user_namespaces()
