"""The hub's learners as Unix users: one each, with a home of their own, their notebooks and their credential.

A learner named ``ana`` on the hub is the Unix user ``course-ana`` (the prefix keeps every learner name, 1 to
12 letters or digits, clear of the system's own users such as ``root`` or ``daemon``), with the home
``/home/course-ana`` (mode 700: no other learner reads or writes it). At the first start of their server the
course's notebooks are copied there (``~/notebooks``, with the diagrams they show in ``~/diagrams``; later starts
leave the learner's copy alone), and the
room this workspace serves issues them a credential (helpers/workshop/room.py) that their server's environment
carries: their kernels and terminals use the room's emulator in an account of their own, and their lab signs
its writes with it. The hub's record of its learners: ``<workspace>/hub/learners.json``.

A name belongs to the browser that first logged in with it. Everyone in the room shares the workshop's password,
so the name alone cannot tell two people apart: the first login gets a key (a cookie of that name, signed by
the hub), and the record keeps the key's SHA-256. A later login with the name must bring the key, else the
name is taken. The instructor frees a name for its owner on a new browser: ``python -m helpers hub release NAME``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .. import workspace
from ..errors import CourseError
from ..runtime import emulator, learner
from . import hub_limits, room

PREFIX = "course-"
HOMES = Path("/home")
RECORD = "hub/learners.json"
COMMENT = "ecs-alb course hub learner"  # the GECOS field: how remove_all() knows the users it made
DIAGRAMS = workspace.REPO / "diagrams"  # the PNGs the notebooks show, and the scripts that draw them
KEY_COOKIE = "course-learner-key-"  # + the learner's name: one browser may hold several names' keys
KEY_DAYS = 30  # how long a browser keeps a name's key


def unix_name(name: str) -> str:
    return PREFIX + learner.check(name)


def home(name: str) -> Path:
    return HOMES / unix_name(name)


def known() -> list[dict]:
    return list(workspace.read_json(RECORD).get("learners", {}).values())


def ensure(name: str) -> pwd.struct_passwd:
    """The learner's Unix user, made with a private home and their copy of the notebooks when new."""
    user = unix_name(name)
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--home-dir", str(home(name)), "--shell", "/bin/bash", "--user-group"]
            + ["--comment", COMMENT, user],
            check=True,
            capture_output=True,
            timeout=30,
        )
        entry = pwd.getpwnam(user)
    os.chmod(entry.pw_dir, 0o700)
    # The notebooks, and beside them the diagrams they show (Image(filename="../diagrams/..."), as in the repository)
    for source, ignore in ((workspace.NOTEBOOK_DIR, ".ipynb_checkpoints"), (DIAGRAMS, ".ipynb_checkpoints")):
        copy = Path(entry.pw_dir) / source.name
        if not copy.exists():
            shutil.copytree(source, copy, ignore=shutil.ignore_patterns(ignore, "__pycache__"))
            for path in [copy, *copy.rglob("*")]:
                os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    with _record() as record:
        record["learners"].setdefault(name, {"learner": name, "user": user, "home": entry.pw_dir})
    return entry


@contextlib.contextmanager
def _record():
    """The learners' record to read and change, written back at the end, under a lock: the hub (claim, ensure)
    and the instructor's CLI (release) are two processes."""
    workspace.path(RECORD).parent.mkdir(parents=True, exist_ok=True)
    with open(workspace.path(RECORD + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = workspace.read_json(RECORD) or {"learners": {}}
        yield record
        workspace.write_json(RECORD, record)


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def claim(name: str, presented: str | None, seats: int) -> str | None:
    """The key that holds ``name``: ``presented`` when it is the name's key, a new one when the name is free
    (recorded), None when another browser holds the name (another learner chose it first). A new name when the
    hub has its ``seats`` learners already: CourseError (the hub is full)."""
    with _record() as record:
        if name not in record["learners"] and len(record["learners"]) >= seats:
            taken = f"{seats} learner" + ("s" if seats != 1 else "")
            raise CourseError(
                f"The hub is full ({taken}, the number it was started for), so {name} cannot join.",
                "The instructor started it for this many learners (what the host's memory and CPUs hold).",
                "free the seat of a name nobody uses (sudo .venv/bin/python -m helpers hub release NAME), or start "
                "the hub again with more (hub start --learners N)",
            )
        default = {"learner": name, "user": unix_name(name), "home": str(home(name))}
        entry = record["learners"].setdefault(name, default)
        held = entry.get("key_sha256")
        if held is None:
            key = secrets.token_urlsafe(24)
            entry["key_sha256"] = _key_hash(key)
            return key
        if presented and hmac.compare_digest(_key_hash(presented), held):
            return presented
        return None


def release(name: str) -> str | None:
    """Free ``name`` for the next browser that logs in with it: "seat" when the name never had a server (a typo,
    a name tried once: its seat is given back), "name" when its learner's files stay theirs; None when nobody
    has logged in with it on this hub."""
    with _record() as record:
        entry = record["learners"].get(learner.check(name))
        if not entry or "key_sha256" not in entry:
            return None
        try:
            pwd.getpwnam(entry["user"])
        except KeyError:
            del record["learners"][name]
            return "seat"
        del entry["key_sha256"]
        return "name"


def credential(name: str) -> dict:
    """The learner's room credential: the one issued before while it is valid for another hour, else a new one."""
    issued = emulator.room_roster().get(name)
    if issued and issued["expires"] > time.time() + 3600:
        return issued
    return dict(room.issue([name])[0][1])


def environment(name: str, entry: pwd.struct_passwd, python: str) -> dict[str, str]:
    """What the learner's server (and every kernel and terminal in it, ``python`` first on their PATH) gets in
    its environment."""
    given = credential(name)
    return {
        emulator.ROOM_ENV: room.room_address() or "",
        emulator.KEY_ENV: given["access_key"],
        emulator.SECRET_ENV: given["secret_key"],
        learner.ENV: name,
        "COURSE_WORKSPACE": str(Path(entry.pw_dir) / ".course"),
        "PATH": os.pathsep.join([str(Path(python).parent), "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"]),
        # Jupyter's files of the course's environment (JupyterLab's server extension, its app and settings):
        # found under sys.prefix, which differs where learners run the system's Python (hub_python.py).
        # https://docs.jupyter.org/en/latest/use/jupyter-directories.html
        "JUPYTER_CONFIG_PATH": str(Path(sys.prefix) / "etc" / "jupyter"),
        "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter"),
        "JUPYTERLAB_DIR": str(Path(sys.prefix) / "share" / "jupyter" / "lab"),
    }


def remove_all() -> list[str]:
    """Delete every learner user this hub made, with their homes; their names."""
    removed = []
    for entry in known():
        try:
            if pwd.getpwnam(entry["user"]).pw_gecos != COMMENT:
                continue  # not one of ours: never delete a user the hub did not make
        except KeyError:
            continue
        subprocess.run(["pkill", "-KILL", "-u", entry["user"]], capture_output=True, timeout=30)
        subprocess.run(["userdel", "--remove", entry["user"]], capture_output=True, timeout=30)
        hub_limits.remove(entry["learner"])
        removed.append(entry["user"])
    workspace.path(RECORD).unlink(missing_ok=True)
    return removed
