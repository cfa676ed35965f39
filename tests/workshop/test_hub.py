"""The workshop hub for real (issue 24, item 2): JupyterHub on loopback, three learners, their servers and kernels.

The hub is started with its own command (``python -m helpers hub start``) in a workspace of the test's own, as
root. One learner logs in through the login page in headless Chromium and lands in their JupyterLab; two more
log in through the same form with a plain HTTP client and use the hub's REST API and their own kernels
(tests/support/hub_support.py). Each server runs as the learner's own Unix user, on their own copy of the
notebooks, in cgroups with their memory and CPU limit; no learner reads or writes another's home or their
room account. A second hub with a 20 s idle timeout shows the idle culler (jupyterhub-idle-culler, a hub service:
https://github.com/jupyterhub/jupyterhub-idle-culler#as-a-hub-managed-service) stopping an idle server.
The shared-password authenticator: https://jupyterhub.readthedocs.io/en/stable/reference/api/authenticators.html
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import html
import json
import os
import re
import sys
import uuid

import pytest

from helpers import cli
from helpers.errors import CourseError
from helpers.workshop import hub as hub_module
from helpers.workshop import hub_limits, hub_users
from tests.support import browser
from tests.support.hub_support import Hub, Learner, as_unix_user, hub_folder, unique
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.jupyter, pytest.mark.emulator]
PASSWORD = "workshop-" + uuid.uuid4().hex[:8]
CULL_AFTER = 20  # seconds: the culler's hub (the course's default is an hour)


def _require_hub_host() -> None:
    missing = (
        "the hub needs Linux" * (not sys.platform.startswith("linux"))
        or "the hub needs root (it makes a Unix user per learner)" * (os.geteuid() != 0)
        or "configurable-http-proxy is missing: make hubtools" * (hub_module.proxy_command() is None)
        or "Chromium is missing: " * (browser.find() is None)
    )
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing, pytrace=False)
        pytest.skip(missing)


@pytest.fixture(scope="module")
def hub():
    _require_hub_host()
    started = Hub.start(hub_folder("hub"), PASSWORD)
    try:
        yield started
    finally:
        stopped = started.stop()
        assert stopped.returncode == 0, stopped.stderr


@pytest.fixture(scope="module")
def chrome():
    _require_hub_host()
    opened = browser.Browser(browser.find())
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def ana(hub, chrome):
    """The first learner, who logs in through the login page in Chromium and lands in JupyterLab."""
    learner = Learner(hub, unique("ana"))
    chrome.open(hub.url + "/hub/login")
    chrome.evaluate(
        f"document.querySelector('#username_input').value = {learner.name!r};"
        f"document.querySelector('#password_input').value = {PASSWORD!r}; true"
    )
    with contextlib.suppress(browser.PageChanged):  # the click's own navigation may beat DevTools' answer
        chrome.evaluate("document.querySelector('#login_submit').click(); true")
    chrome.wait_for(
        f"location.pathname.startsWith('/user/{learner.name}/lab') && !!document.querySelector('.jp-LabShell')",
        f"{learner.name}'s JupyterLab after the login page",
    )
    learner.landed = chrome.evaluate("location.pathname")
    # The same learner through the REST API: the browser's key for the name comes along (another browser without
    # it is another person: the name is taken).
    key = hub_users.KEY_COOKIE + learner.name
    for cookie in chrome.send("Network.getCookies", urls=[hub.url + "/hub/"])["cookies"]:
        if cookie["name"] == key:
            learner.http.cookies.set(key, cookie["value"], path="/hub/")
    return learner.log_in()


@pytest.fixture(scope="module")
def others(hub):
    """Two more learners, through the login form and the REST API only."""
    learners = [Learner(hub, unique("ben")).log_in(), Learner(hub, unique("cy")).log_in()]
    for learner in learners:
        learner.start_server()
    return learners


@pytest.fixture(scope="module")
def everyone(ana, others):
    ana.wait_ready()
    return [ana, *others]


def test_the_first_learner_logs_in_through_the_page_in_chromium_and_lands_in_their_jupyterlab(ana, chrome):
    assert ana.landed.startswith(f"/user/{ana.name}/lab")
    assert not [p for p in chrome.problems() if "favicon" not in p and "HTTP 4" not in p], chrome.problems()


def test_the_first_learner_opens_07_in_their_jupyterlab(ana, chrome):
    """Their own copy of 07, opened by JupyterLab in Chromium, with its cells (the lesson runs in the test below)."""
    chrome.send("Page.navigate", url=f"{ana.hub.url}/user/{ana.name}/lab/tree/07-lock-down-the-instances.ipynb")
    panel = ".jp-NotebookPanel:not(.lm-mod-hidden)"
    heading = chrome.wait_for(
        f"document.querySelectorAll('{panel} .jp-Cell').length >= 5"
        f" && document.querySelector('{panel} .jp-Cell').innerText",
        "07's cells in JupyterLab",
    )
    assert "07 · Lock the instances down" in heading, heading


def test_each_learners_server_runs_as_their_own_unix_user_on_their_own_notebooks(everyone):
    for learner in everyone:
        assert learner.server_process_user() == f"course-{learner.name}"
        listing = learner.contents()
        assert listing.status_code == 200, listing.text
        names = {item["name"] for item in listing.json()["content"]}
        assert {"00-setup.ipynb", "07-lock-down-the-instances.ipynb", "10-teardown.ipynb"} <= names, names
        home = learner.unix.pw_dir
        assert os.stat(home).st_uid == learner.unix.pw_uid and os.stat(home).st_mode & 0o777 == 0o700
        assert os.stat(f"{home}/notebooks").st_uid == learner.unix.pw_uid
        # the diagrams the notebooks show, where their Image(filename="../diagrams/...") cells look
        assert os.stat(f"{home}/diagrams/network.png").st_uid == learner.unix.pw_uid


def test_no_learner_reads_or_writes_another_learners_files(everyone):
    ana, ben, _ = everyone
    read = as_unix_user(ben.unix, "cat", f"{ana.unix.pw_dir}/notebooks/07-lock-down-the-instances.ipynb")
    assert read.returncode != 0 and "Permission denied" in read.stderr
    write = as_unix_user(ben.unix, "touch", f"{ana.unix.pw_dir}/notebooks/from-ben")
    assert write.returncode != 0 and "Permission denied" in write.stderr
    own = as_unix_user(ben.unix, "touch", f"{ben.unix.pw_dir}/notebooks/mine")
    assert own.returncode == 0, own.stderr  # the refusal is the other's home, not any file


def test_each_learner_has_a_room_account_of_their_own_and_cannot_see_anothers(everyone):
    """In each learner's own kernel: the room answers with their own account; the other's resources stay apart."""
    accounts = {}
    for learner in everyone:
        ran = learner.run(
            "import os, boto3\n"
            "sts = boto3.client('sts', endpoint_url=os.environ['COURSE_EMULATOR_URL'], region_name='us-east-1',\n"
            "    aws_access_key_id=os.environ['COURSE_ROOM_KEY'], aws_secret_access_key=os.environ['COURSE_ROOM_SECRET'])\n"
            "print(sts.get_caller_identity()['Account'], os.environ['COURSE_LEARNER'])\n"
            "ec2 = boto3.client('ec2', endpoint_url=os.environ['COURSE_EMULATOR_URL'], region_name='us-east-1',\n"
            "    aws_access_key_id=os.environ['COURSE_ROOM_KEY'], aws_secret_access_key=os.environ['COURSE_ROOM_SECRET'])\n"
            "ec2.create_security_group(GroupName='mine-' + os.environ['COURSE_LEARNER'], Description='test')\n"
            "print(sorted(g['GroupName'] for g in ec2.describe_security_groups()['SecurityGroups']))\n"
        )
        assert ran["error"] is None, ran
        account, name, groups = ran["stdout"].split(maxsplit=2)
        assert name == learner.name
        accounts[learner.name] = account
        assert f"mine-{learner.name}" in groups
        assert not [other for other in everyone if other is not learner and f"mine-{other.name}" in groups], groups
    assert len(set(accounts.values())) == len(everyone), accounts


def test_no_learner_reads_another_learners_credential(everyone):
    """A server's environment holds its learner's credential; another learner's process cannot read it."""
    ana, ben, _ = everyone
    pid = os.popen(f"pgrep -u course-{ana.name} -f jupyterhub.singleuser").read().split()[0]
    peek = as_unix_user(ben.unix, "cat", f"/proc/{pid}/environ")
    assert peek.returncode != 0 and "Permission denied" in peek.stderr


def test_each_learners_server_is_in_cgroups_with_their_memory_and_cpu_limit(everyone):
    for learner in everyone:
        plan = hub_limits.plan(learner.name, hub_module.MEMORY, hub_module.CPUS)
        assert plan.how != "none", plan.why
        pid = os.popen(f"pgrep -u course-{learner.name} -f jupyterhub.singleuser").read().split()[0]
        groups = open(f"/proc/{pid}/cgroup").read()
        assert f"/course-hub/{learner.name}" in groups, groups
        for path, value in plan.settings.items():
            if path.parent.name == learner.name:
                assert path.read_text().split() == value.split(), (path, value)


def test_a_server_that_dies_comes_back_at_the_next_start_with_the_learners_files(everyone):
    """A learner's server killed mid-notebook: the hub notices (its poll, every 30 s by default), the learner's files
    are still there, and starting again brings their server back on them."""
    cy = everyone[2]
    kept = as_unix_user(cy.unix, "sh", "-c", f"echo kept > {cy.unix.pw_dir}/notebooks/work.txt")
    assert kept.returncode == 0, kept.stderr
    pid = os.popen(f"pgrep -u course-{cy.name} -f jupyterhub.singleuser").read().split()[0]
    os.kill(int(pid), 9)
    wait_until(cy.server, until=lambda s: not s, within=120, what="the hub noticing the dead server")  # poll + margin
    cy.start_server()
    assert cy.contents("work.txt").json()["content"].strip() == "kept"


def test_a_wrong_password_or_a_name_that_is_no_learner_name_is_refused_with_a_message(hub):
    wrong = Learner(hub, unique("dee")).login_form(password="not-the-password")
    assert wrong.status_code == 403 and "Invalid username or password" in wrong.text
    for name in ("Ana Smith", "1ana", "root-of-all"):
        refused = Learner(hub, name).login_form()
        assert refused.status_code == 403, refused.status_code
        assert "is not a valid learner name" in re.sub(r"&#39;|&quot;", "'", refused.text), refused.text[:2000]


def test_a_name_another_browser_holds_is_refused_until_the_instructor_releases_it(hub):
    """One shared password cannot tell two people apart: the name belongs to the browser that logged in first."""
    first = Learner(hub, unique("fay")).log_in()
    second = Learner(hub, first.name)  # another person choosing the same name: a browser without its key
    taken = second.login_form()
    assert taken.status_code == 403, taken.status_code
    assert f"The name {first.name} is taken" in html.unescape(taken.text), taken.text[:2000]
    assert first.login_form().status_code == 302, "the name's own browser logs in again"
    released = Hub._helpers(hub.folder, "release", first.name)
    assert released.returncode == 0 and f"{first.name} is free" in released.stdout, released.stdout + released.stderr
    assert second.login_form().status_code == 302, "released: the next browser to log in holds the name"
    assert first.login_form().status_code == 403, "and the first browser's key no longer does"
    unknown = Hub._helpers(hub.folder, "release", unique("nobody"))
    assert unknown.returncode == 1 and "held by no browser" in unknown.stdout


def test_a_second_hub_on_a_taken_port_or_with_a_short_password_gets_one_message(hub, tmp_path):
    port = hub.url.rsplit(":", 1)[1]
    taken = Hub._helpers(tmp_path / "other", "start", "--port", port, "--password", PASSWORD)
    assert taken.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in taken.stderr, taken.stderr
    short = Hub._helpers(tmp_path / "other", "start", "--port", "0", "--password", "short")
    assert short.returncode == 2 and "needs at least 8" in short.stderr, short.stderr
    seats = Hub._helpers(tmp_path / "other", "start", "--port", "0", "--learners", "0")
    assert seats.returncode == 2 and "a number of learners from 1 to 60" in seats.stderr, seats.stderr


def test_the_idle_culler_stops_an_idle_server_and_a_full_hub_takes_no_new_name():
    _require_hub_host()
    culling = Hub.start(hub_folder("culling"), PASSWORD, "--cull-after", str(CULL_AFTER), "--learners", "1")
    try:
        idle = Learner(culling, unique("eve")).log_in()
        full = Learner(culling, unique("gil")).login_form()
        assert (
            full.status_code == 403
            and "The hub is full (1 learner, the number it was started for)" in html.unescape(full.text)
        )
        assert idle.login_form().status_code == 302, "a learner of the hub's still logs in"
        idle.start_server()
        # the culler looks every CULL_AFTER/2 s and stops a server idle for CULL_AFTER s: within 1.5 x, margin 60 s
        wait_until(idle.server, until=lambda s: not s, within=CULL_AFTER * 1.5 + 60, what="the idle server culled")
        assert "Culling server" in culling.log() or "idle-culler" in culling.log()
    finally:
        culling.stop()


def test_the_instructors_hub_commands_without_root_get_one_message(monkeypatch, capsys):
    """status, stop and release read the hub's folder (root's alone): without root, one message, no traceback."""
    monkeypatch.setattr(hub_module.os, "geteuid", lambda: 1000)
    for argv in (["hub", "status"], ["hub", "stop"], ["hub", "release", "ana"]):
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert f"hub {argv[1]} needs root" in err and "sudo .venv/bin/python -m helpers hub" in err, err
        assert "Traceback" not in err


def test_the_host_checks_name_what_is_missing(monkeypatch):
    monkeypatch.setattr(hub_module.os, "geteuid", lambda: 1000)
    with pytest.raises(CourseError, match="needs root"):
        hub_module.check_host("127.0.0.1", 0, PASSWORD)
    monkeypatch.setattr(hub_module.os, "geteuid", lambda: 0)
    monkeypatch.setattr(hub_module, "learners_get_user_namespaces", lambda: True)
    monkeypatch.setattr(hub_module, "proxy_command", lambda: None)
    with pytest.raises(CourseError, match="configurable-http-proxy, is missing") as missing:
        hub_module.check_host("127.0.0.1", 0, PASSWORD)
    assert "make hubtools" in missing.value.fix


LESSON_07 = """
import json, pathlib, subprocess, sys
sys.path.insert(0, {repo!r})
from tests.support.lab_e2e_support import ArticleRule, DOMAIN
from helpers import lab
from helpers.runtime import aws, learner
from helpers.tf import standalone, toolchain

folder = standalone.prepare(pathlib.Path.home() / "stack")   # terraform/, in the learner's own workspace
env, exe = toolchain.environment(), str(toolchain.executable())
for step in (["init", "-input=false", "-no-color"], ["apply", "-auto-approve", "-input=false", "-no-color"]):
    done = subprocess.run([exe, *step], cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
lab.up()
name = learner.current()
group = aws.client("elbv2").describe_target_groups(Names=[f"ecs-alb-{{name}}-web"])["TargetGroups"][0]
lab.wait_until_healthy(group["TargetGroupArn"], 2)
seen = {{"mode": lab.running(), "first": lab.curl(f"https://{{DOMAIN}}/").status}}
rule = ArticleRule.of(aws.client("ec2"), f"ecs-alb-{{name}}")
rule.apply()   # notebook 07's story: the source article's port-80 rule in the lockdown rule's place
try:
    timed_out = lab.curl(f"https://{{DOMAIN}}/", timeout=30)
    seen["port_80"] = [timed_out.status, round(timed_out.elapsed, 1)]
finally:
    rule.restore()
lab.wait_until_healthy(group["TargetGroupArn"], 2)
seen["fixed"] = lab.curl(f"https://{{DOMAIN}}/").status
seen["removed"] = len(lab.down())
print("RESULT " + json.dumps(seen))
"""


@pytest.mark.lab
def test_each_learner_sees_the_504_then_the_200_from_a_rootless_lab_of_their_own_in_their_kernel(everyone):
    """07's lesson through each learner's own kernel, the three at once: terraform/ applied in their room account,
    their lab (rootless, as their Unix user) up, the port-80 rule gives the ALB's 504 after its 10 s, the lockdown
    rule the 200 again (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html).
    """
    lesson = LESSON_07.format(repo=str(hub_module.workspace.REPO))
    with concurrent.futures.ThreadPoolExecutor(len(everyone)) as pool:
        runs = {
            learner.name: ran
            for learner, ran in zip(everyone, pool.map(lambda lr: lr.run(lesson), everyone), strict=True)
        }
    for name, ran in runs.items():
        assert ran["error"] is None, (name, ran)
        seen = json.loads(ran["stdout"].split("RESULT ", 1)[1])
        assert seen["mode"] and seen["first"] == 200, (name, seen)
        assert seen["port_80"][0] == 504 and seen["port_80"][1] >= 10, (name, seen)
        assert seen["fixed"] == 200 and seen["removed"] > 0, (name, seen)


VPC_OF_THEIR_OWN = """
from helpers.runtime import aws
ec2 = aws.client("ec2")
tags = [{{"Key": "course", "Value": "ecs-alb"}}, {{"Key": "learner", "Value": {name!r}}}]
ec2.create_vpc(CidrBlock="10.{octet}.0.0/16", TagSpecifications=[{{"ResourceType": "vpc", "Tags": tags}}])
print("VPCS", len(ec2.describe_vpcs(Filters=[{{"Name": "tag:learner", "Values": [{name!r}]}}])["Vpcs"]))
"""


def test_the_facilitator_view_and_reset_everyone_work_from_the_hubs_workspace(hub, everyone):
    """INSTRUCTOR.md's two commands, as root in the hub's workspace (which serves the room): the facilitator
    reads every learner's account; `emulator reset --everyone` empties them all. Last in the module: it resets."""
    for octet, learner in enumerate(everyone[1:], start=91):  # two learners, each in their own kernel and account
        made = learner.run(VPC_OF_THEIR_OWN.format(name=learner.name, octet=octet))
        assert made["error"] is None and "VPCS " in made["stdout"], made
    view = Hub.instructor(hub.folder, "facilitator")
    assert view.returncode == 0, view.stderr
    for learner in everyone[1:]:
        row = next((line for line in view.stdout.splitlines() if line.startswith(learner.name + " ")), None)
        assert row is not None and row.split()[1] == "✓", view.stdout  # 02: their VPC, seen in their account
    reset = Hub.instructor(hub.folder, "emulator", "reset", "--everyone")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    after = Hub.instructor(hub.folder, "facilitator")
    assert not any(line.startswith(learner.name + " ") for learner in everyone for line in after.stdout.splitlines())
    mine = everyone[1].run(
        VPC_OF_THEIR_OWN.split("ec2.create_vpc")[0].format(name=everyone[1].name)
        + f"print(len(ec2.describe_vpcs(Filters=[{{'Name': 'tag:learner', 'Values': [{everyone[1].name!r}]}}])['Vpcs']))"
    )
    assert mine["error"] is None and mine["stdout"].split()[-1] == "0", mine  # their kernel, their account: empty
