"""terraform/ applied alone, for tests/course/test_course.py.

``apply_alone(out)`` is the first step of the background job that runs the traffic lab on
terraform/ (tests/support/lab_e2e_support.py's ``LabRun``, started with the course): one apply
serves both. In the job's own workspace and emulator (unit tests stop and reset the session's
emulator while it works): plain ``terraform init`` and ``apply`` of a copy of terraform/, then the
inventory of what it tagged, written at once as the job's ``standalone`` part (``Job.part``),
before the lab changes anything. Where the lab cannot run, the job stops there.
The test compares the part with the notebooks' state after notebook 09.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support import background

LEARNER = "standalone"
PART = "standalone"


def apply_alone(out: Path) -> Path | None:
    """terraform/ applied in ``out/terraform`` on the current emulator; the ``standalone`` part written.

    Returns the folder, or None (with Terraform's output printed to the job's log) if init or apply failed.
    """
    from helpers.course import inventory
    from helpers.tf import standalone

    shutil.rmtree(out / "terraform", ignore_errors=True)
    folder = standalone.prepare(out / "terraform")
    for args in (
        ("init", "-input=false", "-no-color"),
        ("apply", "-auto-approve", "-input=false", "-no-color", f"-var=learner={LEARNER}"),
    ):
        result = standalone.terraform(folder, *args)
        print(result.stdout[-3000:], result.stderr[-3000:], flush=True)
        if result.returncode:
            return None
    state = out / "standalone.tfstate"  # as applied: what follows (the lab) changes AWS, never this copy
    shutil.copy2(folder / "terraform.tfstate", state)
    background.write_part(out, PART, {"state": str(state), "inventory": inventory.leftovers(LEARNER)})
    return folder
