"""Importing ``helpers`` has no side effect; the first name taken from the facade opens the notebook's session.

``import helpers`` alone loads the facade and nothing else (no session, no hook, no python-terraform,
no boto3), so the lab's small programs and ``python -m helpers`` pay only for what they use. A notebook's
``from helpers import aws, course`` opens the course session with recovery on, as before
(helpers/README.md "Side effects in one place"). Each check runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import helpers
from helpers.runtime import cloud

HEAVY = ("python_terraform", "boto3", "botocore", "helpers.course.session", "helpers.tf.runner", "IPython")

# What a fresh interpreter holds after ``import helpers`` and after the first facade name.
PROBE = """
import json, sys
import helpers
after_import = sorted(m for m in HEAVY if m in sys.modules)
from helpers.runtime import aws, emulator  # the hook lists themselves, not through the facade
from helpers.tf.runner import Terraform
hooks_after_import = len(aws.HOOKS) + len(Terraform.HOOKS) + len(emulator.RESET_HOOKS)
from helpers import course, Terraform as FacadeTerraform
from helpers.course import session
opened = session.current()
print(json.dumps({
    "after_import": after_import,
    "hooks_after_import": hooks_after_import,
    "hooks_after_first_use": [h.__self__ is opened for h in (*aws.HOOKS, *Terraform.HOOKS, *emulator.RESET_HOOKS)],
    "automatic_recovery": opened.automatic_recovery,
    "facade": sorted(name for name in helpers.FACADE if getattr(helpers, name) is not None),
    "same_terraform": FacadeTerraform is Terraform,
}))
"""


def fresh(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env or None)


def test_import_helpers_loads_no_session_no_terraform_no_boto3_and_registers_no_hook():
    proc = fresh(f"HEAVY = {HEAVY!r}\n{PROBE}")
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["after_import"] == [], f"import helpers loaded {seen['after_import']}"
    assert seen["hooks_after_import"] == 0, "import helpers registered hooks"
    # The first facade name opened the notebook's session: its three hooks, recovery on.
    assert seen["hooks_after_first_use"] == [True, True, True] and seen["automatic_recovery"] is True
    assert seen["facade"] == sorted(helpers.FACADE) and seen["same_terraform"]


def test_the_first_client_from_the_facade_runs_the_sessions_hook_and_a_direct_import_does_not(emulator_url):
    """The hook that notes ignored real credentials runs for ``from helpers import aws``; the lab's programs
    import ``helpers.runtime.aws`` directly and make clients with no course session around them."""
    env = dict(os.environ)
    for name in cloud.CREDENTIAL_VARIABLES:
        env.pop(name, None)
    env.update(AWS_ACCESS_KEY_ID="AKIA" + "Q" * 16, AWS_SECRET_ACCESS_KEY="not-a-real-secret-but-shaped-like-one")
    call = ".client('ec2').describe_vpcs()['Vpcs']"
    facade = fresh(f"from helpers import aws\nassert aws{call}", **env)
    assert facade.returncode == 0, facade.stderr
    assert "real AWS credentials are set" in facade.stderr and "ignored" in facade.stderr
    direct = fresh(f"from helpers.runtime import aws\nassert aws{call}", **env)
    assert direct.returncode == 0, direct.stderr
    assert "real AWS credentials" not in direct.stderr


# A lab program's module imports its siblings (`from ... import workspace`); the import system asks the facade
# for the name first, and that must not open the notebook's session.
PACKAGE_PROBE = """
import json, sys
import helpers.lab.control.supervisor
loaded = sorted(m for m in HEAVY if m in sys.modules and m != "botocore")  # the agent's botocore.exceptions
from helpers.runtime import aws, emulator
from helpers.tf.runner import Terraform
hooks_after_the_lab = len(aws.HOOKS) + len(Terraform.HOOKS) + len(emulator.RESET_HOOKS)
from helpers import aws  # a notebook's first facade name opens it
print(json.dumps({"loaded": loaded, "hooks_after_the_lab": hooks_after_the_lab, "hooks_after_facade": len(aws.HOOKS)}))
"""


def test_the_packages_own_imports_of_facade_names_open_no_session():
    proc = fresh(f"HEAVY = {HEAVY!r}\n{PACKAGE_PROBE}")
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["loaded"] == [], f"importing the lab's supervisor loaded {seen['loaded']}"
    assert seen["hooks_after_the_lab"] == 0, "importing the lab's supervisor opened the notebook's session"
    assert seen["hooks_after_facade"] == 1, "from helpers import aws (a notebook's) opened no session"
