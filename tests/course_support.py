"""terraform/ applied alone, beside the notebooks, for tests/test_course.py.

``Standalone.start()`` runs ``python -m tests.course_support OUT`` in the
background: its own workspace and its own emulator (unit tests stop and
reset the session's emulator while it works), plain ``terraform init`` and
``apply`` of a copy of terraform/, then the inventory of what it tagged.
The test compares the result with the notebooks' state after notebook 09.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

LEARNER = "standalone"
REPO = Path(__file__).resolve().parent.parent


class Standalone:
    def __init__(self, out: Path):
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.log = open(out.parent / "standalone.log", "w")
        env = dict(os.environ, COURSE_WORKSPACE=str(out))
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.course_support", str(out)], cwd=REPO, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    @classmethod
    def start(cls) -> "Standalone":
        from helpers import workspace

        return cls(workspace.path("standalone"))

    def wait(self, timeout: float = 600) -> dict:
        code = self.proc.wait(timeout)
        self.log.close()
        log = Path(self.log.name).read_text()
        assert code == 0, f"terraform/ applied alone failed:\n{log[-4000:]}"
        return json.loads((self.out / "result.json").read_text())


def main(out: Path) -> int:
    import shutil

    from helpers import emulator, inventory, standalone

    shutil.rmtree(out / "terraform", ignore_errors=True)
    emulator.start(quiet=True)
    try:
        folder = standalone.prepare(out / "terraform")
        for args in (("init", "-input=false", "-no-color"),
                     ("apply", "-auto-approve", "-input=false", "-no-color", f"-var=learner={LEARNER}")):
            result = standalone.terraform(folder, *args)
            print(result.stdout[-3000:], result.stderr[-3000:])
            if result.returncode:
                return 1
        (out / "result.json").write_text(json.dumps({
            "state": str(folder / "terraform.tfstate"),
            "inventory": inventory.leftovers(LEARNER),
        }))
        return 0
    finally:
        emulator.stop()


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
