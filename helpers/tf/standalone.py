"""terraform/ on its own: plain ``terraform init`` and ``apply`` in a copy of it.

The course's notebooks build the same files step by step; tests and the
benchmark apply terraform/ in one go with this, exactly as the README tells a
reader to do by hand (copy, override for the emulator, terraform).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .. import workspace
from .override import write_target_override
from .toolchain import environment, executable

SOURCE = workspace.REPO / "terraform"


def prepare(folder: Path) -> Path:
    """Copy terraform/'s configuration and lock file into ``folder`` and point it at the target."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for path in [*SOURCE.glob("*.tf"), SOURCE / ".terraform.lock.hcl"]:
        shutil.copy2(path, folder / path.name)
    write_target_override(folder)
    return folder


def terraform(folder: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run the course's Terraform in ``folder`` (no prompts, no colour); output captured."""
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    return subprocess.run([str(executable()), *args], cwd=folder, env=environment(), **kwargs)
