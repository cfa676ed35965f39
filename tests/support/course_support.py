"""terraform/ applied alone, beside the notebooks, for tests/course/test_course.py.

``Standalone.start()`` runs ``python -m tests.support.course_support OUT`` in the
background: its own workspace and its own emulator (unit tests stop and
reset the session's emulator while it works), plain ``terraform init`` and
``apply`` of a copy of terraform/, then the inventory of what it tagged.
The test compares the result with the notebooks' state after notebook 09.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import background
from tests.support.background import Job

LEARNER = "standalone"


class Standalone(Job):
    module, folder, what = "tests.support.course_support", "standalone", "terraform/ applied alone"


def main(out: Path) -> int:
    import shutil

    from helpers.course import inventory
    from helpers.runtime import emulator
    from helpers.tf import standalone

    shutil.rmtree(out / "terraform", ignore_errors=True)
    emulator.start(quiet=True)
    try:
        folder = standalone.prepare(out / "terraform")
        for args in (
            ("init", "-input=false", "-no-color"),
            ("apply", "-auto-approve", "-input=false", "-no-color", f"-var=learner={LEARNER}"),
        ):
            result = standalone.terraform(folder, *args)
            print(result.stdout[-3000:], result.stderr[-3000:])
            if result.returncode:
                return 1
        (out / "result.json").write_text(
            json.dumps(
                {
                    "state": str(folder / "terraform.tfstate"),
                    "inventory": inventory.leftovers(LEARNER),
                }
            )
        )
        return 0
    finally:
        emulator.stop()


if __name__ == "__main__":
    background.main(main)
