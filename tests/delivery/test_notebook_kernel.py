"""In a real Jupyter kernel: live progress while Terraform works, stable output after.

nbval only sees a cell's first display of the progress area; JupyterLab and
nbclient save its last state. The helpers therefore open the area empty,
update it while Terraform runs (elapsed time, latest lines) and empty it at
the end, so what is saved equals what nbval compares, and the summary
(the cell's result) is the same on every run.
"""

from __future__ import annotations

import queue

import pytest
from jupyter_client.manager import start_new_kernel

from helpers.tf import toolchain

# It starts Jupyter (make check leaves it out), whose kernel calls the emulator.
pytestmark = [pytest.mark.jupyter, pytest.mark.usefixtures("session_emulator")]

# An ECS cluster: provider 3.39 waits ~10 s after creating it, long enough to watch.
STACK = (
    toolchain.HEADER_HCL
    + """
resource "aws_ecs_cluster" "live" {
  name = "course-kernel-live"
}
"""
)


@pytest.fixture(scope="module")
def kernel():
    manager, client = start_new_kernel(kernel_name="python3")
    yield client
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def run(client, code: str, timeout: float = 300) -> list[dict]:
    """Execute code; return the iopub messages of that execution."""
    return run_id(client, client.execute(code), timeout)


def run_id(client, msg_id: str, timeout: float = 300) -> list[dict]:
    """The iopub messages of the execution ``msg_id``, until the kernel is idle again."""
    messages = []
    while True:
        try:
            msg = client.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output for {timeout} s; so far: {messages}") from None
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return messages
        messages.append(msg)


def test_apply_streams_live_then_leaves_only_the_summary(kernel, emulator_url):
    setup = run(kernel, "import helpers\nfrom helpers.tf.runner import Terraform")
    assert not [m for m in setup if m["msg_type"] == "error"], setup
    hcl = run(kernel, f"%%hcl kernel-live/main.tf\n{STACK}")
    assert any("Saved <workspace>/stacks/kernel-live/main.tf" in m["content"].get("text", "") for m in hcl)

    messages = run(kernel, "Terraform('kernel-live').apply(skip_plan=True)")
    kinds = [m["msg_type"] for m in messages]
    assert "error" not in kinds, messages
    areas = {}  # display_id -> every state of that progress area, in order
    for m in messages:
        if m["msg_type"] in ("display_data", "update_display_data"):
            areas.setdefault(m["content"]["transient"]["display_id"], []).append(m["content"]["data"]["text/plain"])
    assert areas and all(states[0] == "" and states[-1] == "" for states in areas.values()), (
        "every progress area opens and ends empty"
    )
    live = [text for states in areas.values() for text in states if text.startswith("… terraform apply")]
    waiting = [text for text in live if "aws_ecs_cluster.live: Creating..." in text]
    seconds = [int(text.split(" — ")[1].split(" s elapsed")[0]) for text in waiting]
    # While Terraform is silent (the provider's wait), the clock in the header keeps moving.
    assert seconds and max(seconds) - min(seconds) >= 3, live
    result = next(m for m in messages if m["msg_type"] == "execute_result")
    assert result["content"]["data"]["text/plain"] == (
        "terraform apply · stack kernel-live\n"
        "  + aws_ecs_cluster.live (created)\n"
        "Apply complete: 1 added, 0 changed, 0 destroyed."
    )
    run(kernel, "Terraform('kernel-live').destroy()")


@pytest.mark.parametrize(
    "code, message",
    [
        (
            "from helpers.tf.runner import Terraform\nTerraform('Not A Stack')",
            "'Not A Stack' is not a valid stack name",
        ),
        # AWS refusing a boto3 call in a cell (an unknown group id) is shown the same way
        (
            "from helpers import aws\naws.client('ec2').describe_security_groups(GroupIds=['sg-0123456789abcdef0'])",
            "DescribeSecurityGroups failed: InvalidGroup.NotFound",
        ),
    ],
)
def test_course_error_shows_as_three_lines_not_a_traceback(kernel, code, message):
    messages = run(kernel, code)
    error = next(m for m in messages if m["msg_type"] == "error")
    text = "\n".join(error["content"]["traceback"])
    assert message in text and "Fix:" in text
    assert "File " not in text and "Traceback" not in text  # no wall of traceback


def test_a_skipped_cell_prints_its_one_line_and_counts_as_run(kernel):
    """``lab.needed(...)`` where the lab cannot run raises SkipCell: one line, no traceback, and the kernel answers
    "ok", so JupyterLab's Run All (stop_on_error) and nbclient go on to the next cell."""
    run(kernel, "import helpers")
    code = "from helpers.errors import SkipCell\nraise SkipCell('(No traffic lab here. With the lab, a 504.)')\n1 / 0"
    msg_id = kernel.execute(code, stop_on_error=True)
    messages = run_id(kernel, msg_id)
    assert "error" not in [m["msg_type"] for m in messages], "no traceback"
    streams = [m["content"] for m in messages if m["msg_type"] == "stream"]
    assert streams == [{"name": "stdout", "text": "(No traffic lab here. With the lab, a 504.)\n"}], messages
    reply = next(
        r for r in iter(lambda: kernel.get_shell_msg(timeout=30), None) if r["parent_header"]["msg_id"] == msg_id
    )
    assert reply["content"]["status"] == "ok", reply["content"]
    after = run(kernel, "print('the next cell runs')")
    assert any(m["content"].get("text") == "the next cell runs\n" for m in after), after
