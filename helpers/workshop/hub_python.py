"""The Python each learner's server runs: the course's environment, as a learner's Unix user can run it.

The hub runs the course's environment (the venv ``make install`` built). Its learners are ordinary users, so
its interpreter must be one they may execute. Where it is not (a pyenv build under ``/root``, mode 700, as on
this Debian machine), the hub gives them the system's own Python of the same version (``/usr/bin/python3.11``,
the same ABI) in a small environment of its own, ``<workspace>/hub-python/``, whose one ``.pth`` line adds the
course's site-packages (site.addsitedir: their ``.pth`` files too, so the editable ``helpers`` install works).
The packages are the course's own, installed once; only the interpreter differs.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

from .. import workspace
from ..errors import CourseError

NOBODY = {"user": 65534, "group": 65534, "extra_groups": []}  # as the spawner starts a server: setuid, no groups
FOLDER = "hub-python"  # in the workspace; world-readable: every learner runs it


def runs_as_learner(python: str) -> bool:
    """Can an ordinary user (nobody) run ``python`` and import the hub's single-user server with it?"""
    probe = [python, "-c", "import jupyterhub.singleuser, helpers"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=60, cwd="/", **NOBODY).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def learner_python() -> str:
    """The interpreter learners' servers run: this one when they may, else the shim environment's."""
    if runs_as_learner(sys.executable):
        return sys.executable
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = next((p for p in (f"/usr/bin/{version}", f"/usr/local/bin/{version}") if Path(p).exists()), None)
    if system is None:
        raise CourseError(
            f"Learners cannot run this environment's Python ({sys.executable}), and this host has no {version}.",
            "Each learner's server runs as their own Unix user; the interpreter must be one they may execute.",
            f"build the course's environment from a system Python: make PYTHON=/usr/bin/{version} VENV=/opt/course "
            "hub   (or: chmod o+rx on the interpreter's folders)",
        )
    shim = workspace.path(FOLDER)
    python = shim / "bin" / "python"
    if not python.exists():
        subprocess.run([system, "-m", "venv", "--without-pip", str(shim)], check=True, capture_output=True, timeout=120)
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
    )
    course_site = sysconfig.get_paths()["purelib"]
    (site / "course-environment.pth").write_text(f"import site; site.addsitedir({course_site!r})\n")
    for path in [workspace.root(), shim, *shim.rglob("*")]:
        if not path.is_symlink():  # bin/python links to the system's own: leave that alone
            path.chmod(path.stat().st_mode | (0o005 if path.is_dir() else 0o004))
    if not runs_as_learner(str(python)):
        raise CourseError(
            f"Learners cannot run the course's packages from {course_site}.",
            "The hub gave them the system's Python over the course's packages, and it still failed to import them.",
            f"make the environment readable to every user (chmod -R o+rX {Path(course_site).parents[2]})",
        )
    return str(python)
