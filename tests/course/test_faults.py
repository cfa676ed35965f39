"""Fault recovery: the course comes back by itself from a dead emulator and an interrupted apply.

- The emulator's process dies (moto keeps everything in memory, so it comes back
  empty): the next helper call restarts it and re-applies the stacks whose state
  lists resources, printing one line; state and emulator agree again, no manual step.
- A deliberate ``emulator reset`` is not undone by a later restart.
- An apply interrupted in the middle leaves a consistent state; running it again converges.

Cheap on purpose: one security group in the default VPC (a VPC costs the provider a
fixed 10 s wait), in a workspace of its own so the session's emulator is never killed.
"""

from __future__ import annotations

import json
import os
import signal

import pytest

from helpers import workspace
from helpers.course import session
from helpers.errors import CourseError
from helpers.runtime import aws, emulator
from helpers.tf import state as tf_state
from helpers.tf import toolchain
from helpers.tf.runner import Terraform
from helpers.tf.state import stack_dir
from tests.support.waiting import wait_until

TINY = (
    toolchain.HEADER_HCL
    + """
resource "aws_security_group" "tiny" {
  name        = "course-fault-tiny"
  description = "fault recovery test"
}
"""
)
SESSION_WORKSPACE = workspace.root()  # at import: before other_workspace switches to its own


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, session_emulator):
    """A workspace of its own (its own emulator) with the stack "tiny" applied: one security group.

    Shared by the tests below, each of which leaves the stack applied and the emulator running.
    """
    with pytest.MonkeyPatch.context() as patch:
        ws = tmp_path_factory.mktemp("faults") / "ws"
        patch.setenv("COURSE_WORKSPACE", str(ws))
        ws.mkdir()
        if (SESSION_WORKSPACE / "providers").is_dir():  # reuse the unpacked provider (200 MB)
            (ws / "providers").symlink_to(SESSION_WORKSPACE / "providers")
        (stack_dir("tiny") / "main.tf").write_text(TINY)
        tf = Terraform("tiny")
        assert tf.apply(skip_plan=True).added == 1
        try:
            yield tf
        finally:
            emulator.stop()


def kill_emulator() -> str:
    """SIGKILL the workspace's emulator (no chance to clean up); return the boot id it had."""
    before = emulator.status()
    os.kill(before["pid"], signal.SIGKILL)
    # a SIGKILL ends it at once; status() may wait BUSY_TIMEOUT for a process not yet reaped: 30 s with margin
    wait_until(lambda: not emulator.status()["running"], within=30, what="the killed emulator gone")
    return before["boot"]


def tiny_group() -> list[dict]:
    """The stack's group as the emulator sees it (through aws.client: a helper call, so it recovers)."""
    return _tiny_group(aws.client("ec2"))


def _tiny_group(ec2) -> list[dict]:
    return ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["course-fault-tiny"]}])[
        "SecurityGroups"
    ]


def raw_ec2():
    """A plain boto3 client, bypassing the helpers (so no recovery happens)."""
    import boto3

    return boto3.client(
        "ec2",
        endpoint_url=emulator.status()["url"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_a_killed_emulator_is_restarted_and_the_stacks_reapplied_by_the_next_call(tiny, capsys):
    old_boot = kill_emulator()
    capsys.readouterr()

    groups = tiny_group()  # the next helper call: a boto3 client, as in any notebook cell

    line = capsys.readouterr().out.strip()
    assert line.startswith("The emulator had stopped") and "re-applied stack tiny (1 resource)" in line, line
    assert len(line.splitlines()) == 1, "one short line, not Terraform's output"
    assert emulator.status()["boot"] != old_boot
    state_id = json.loads((tiny.folder / "terraform.tfstate").read_text())["resources"][0]["instances"][0][
        "attributes"
    ]["id"]
    assert [g["GroupId"] for g in groups] == [state_id], "state and emulator name the same group again"
    plan = tiny.plan()
    assert plan.code == 0 and "No changes" in plan.summary, plan.summary
    assert tiny_group() and capsys.readouterr().out.count("The emulator had stopped") == 0, "only once"


def test_a_plain_apply_after_the_kill_recreates_its_own_stack_once(tiny, capsys):
    kill_emulator()
    capsys.readouterr()
    again = tiny.apply(skip_plan=True)  # the stack's own apply refreshes: it re-creates, no extra re-apply
    assert again.added == 1, again.summary
    assert "stack tiny is re-created by this command" in capsys.readouterr().out
    assert len(tiny_group()) == 1


def test_a_deliberate_reset_is_not_undone_by_a_later_restart(tiny, capsys):
    emulator.reset()  # what `python -m helpers emulator reset` does: empty on purpose
    kill_emulator()
    capsys.readouterr()
    assert tiny_group() == []
    assert "The emulator had stopped" not in capsys.readouterr().out
    assert tiny.apply(skip_plan=True).added == 1, "applying by hand brings it back"
    kill_emulator()
    assert len(tiny_group()) == 1, "once applied again, the stack is recovered after a crash like any other"


def test_terminal_commands_start_the_emulator_but_never_reapply(tiny):
    import subprocess
    import sys

    kill_emulator()
    proc = subprocess.run([sys.executable, "-m", "helpers", "env"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert all(line.startswith(("export ", "unset ")) for line in proc.stdout.splitlines()), (
        '`eval "$(python -m helpers env)"` must get exports only'
    )
    assert emulator.status()["running"] and not _tiny_group(raw_ec2()), "started, nothing re-applied yet"
    assert len(tiny_group()) == 1, "the next helper call in a notebook re-applies"


def test_a_failed_reapply_says_which_stack_and_why(tiny):
    kill_emulator()
    (tiny.folder / "main.tf").write_text(TINY.replace('name        = "course-fault-tiny"', 'name = "x'))
    with pytest.raises(CourseError) as info:
        session.current().recover()  # what every notebook cell meeting the emulator does
    assert "re-applying stack tiny failed" in info.value.what and "main.tf line" in info.value.what
    assert "retries" in info.value.fix
    (tiny.folder / "main.tf").write_text(TINY)
    assert len(tiny_group()) == 1, "fixed: the next call re-applies"


def test_interrupted_apply_saves_state_and_rerun_converges(emulator_url):
    """Interrupting the kernel mid-apply: Terraform gets one SIGINT, finishes, saves state."""
    import _thread
    import threading

    folder = stack_dir("unit-interrupt")
    (folder / "main.tf").write_text(
        toolchain.HEADER_HCL
        + """
resource "aws_ecs_cluster" "slow" {
  name = "course-unit-interrupt"
}

resource "aws_security_group" "probe" {
  name        = "course-unit-interrupt"
  description = "interrupted apply"
}
"""
    )
    tf = Terraform("unit-interrupt")
    tf.init()
    ecs = aws.client("ecs")
    stop = threading.Event()

    def interrupt_once_the_cluster_exists():
        # The provider creates the cluster, then waits ~10 s for it: interrupt in that wait.
        while not stop.wait(0.2):
            if ecs.describe_clusters(clusters=["course-unit-interrupt"])["clusters"]:
                _thread.interrupt_main()
                return

    # interrupt_main() does nothing while SIGINT is ignored, as it is for a command a shell
    # without job control starts in the background (`make test &`): restore Python's handler.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    watcher = threading.Thread(target=interrupt_once_the_cluster_exists, daemon=True)
    watcher.start()
    try:
        with pytest.raises(CourseError) as info:
            tf.apply(skip_plan=True)
    finally:
        stop.set()
        watcher.join()
        signal.signal(signal.SIGINT, previous)
    assert "was interrupted" in info.value.what and "re-run this cell" in info.value.fix
    state = json.loads((folder / "terraform.tfstate").read_text())  # consistent: valid, and lists what exists
    assert "aws_ecs_cluster" in {r["type"] for r in state["resources"]}, "what was created is in the state"
    again = tf.apply(skip_plan=True)
    assert again.code == 0 and again.destroyed == 0
    assert tf_state.existing("unit-interrupt"), "the interrupted state was backed up before the re-run"
    plan = tf.plan()
    assert plan.code == 0 and "No changes" in plan.summary  # converged: nothing left to do
    tf.destroy()


def test_a_stack_with_a_vpc_and_its_default_group_is_recreated_after_the_kill(other_workspace, capsys):
    """The course stack from notebook 02 on: a VPC whose default security group Terraform manages.

    Provider 3.39 cannot refresh an aws_default_security_group whose VPC vanished (InvalidGroup.NotFound),
    so recovery empties the state (kept in the backups) and applies from scratch.
    """
    other_workspace.mkdir(parents=True, exist_ok=True)
    if (SESSION_WORKSPACE / "providers").is_dir():  # reuse the unpacked provider
        (other_workspace / "providers").symlink_to(SESSION_WORKSPACE / "providers")
    (stack_dir("vpc") / "main.tf").write_text(
        toolchain.HEADER_HCL
        + 'resource "aws_vpc" "v" {\n  cidr_block = "10.7.0.0/16"\n}\n\n'
        + 'resource "aws_default_security_group" "d" {\n  vpc_id = aws_vpc.v.id\n}\n'
    )
    vpc = Terraform("vpc")
    assert vpc.apply(skip_plan=True).added == 2
    kill_emulator()
    capsys.readouterr()
    found = aws.client("ec2").describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.7.0.0/16"]}])["Vpcs"]
    line = capsys.readouterr().out
    assert "re-applied stack vpc (2 resources)" in line, line
    assert len(found) == 1
    assert backups_of("vpc"), "the stale state is kept in the backups"
    assert vpc.plan().code == 0 and "No changes" in vpc.plan().summary


def backups_of(stack: str) -> list:
    from helpers.tf import state as tf_state

    return [p for p in tf_state.existing(stack) if "before-recovery" in p.name]
