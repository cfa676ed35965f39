"""(f) Setting the course up from nothing: time and size on disk.

    .venv/bin/python bench/run.py --only setup      (part of: make bench)

- Graphviz (checked first by bench/run.py: the course needs it): "present" when ``dot`` is on PATH; otherwise the Makefile's
  ``graphviz`` step is run and timed (it installs with apt-get as root, and
  otherwise stops with the line to run, which this part reports).
- Install: the Makefile's own ``install`` step (``make install VENV=<tmp>``:
  an empty venv, ``pip install -r requirements.txt``, ``pip install -e .``),
  timed (i) with this machine's pip cache as it is, and (ii) with an empty
  temporary one (``PIP_CACHE_DIR``). (ii) downloads every package that no
  local index or wheel folder configured for pip provides, so it measures
  the network too. The sizes of both caches are recorded: a "warm" cache
  that holds nothing makes (i) a download as well. (i) runs first, so (ii)
  may profit from the OS's file cache and any caching proxy on the way to
  the registry: compare the two with that in mind.
- Size: ``du`` of the new venv, plus the workspace the helpers fill outside
  it on first use (the unpacked provider mirror, the ``terraform`` shim, one
  initialised stack); their sum is the environment (budget 1 GB). The
  repository's own ``.venv`` is reported for comparison; pip's cache and
  Graphviz (a system package) are not counted.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from bench.common import REPO, Measure, Part, run_timed, size_mb

BUDGET_MB = 1024
# Run by the new venv's Python: fills a workspace as a learner's first init does
# (the override it writes points at the emulator, which starts on demand: stopped after).
FIRST_INIT = """
from helpers.runtime import emulator
from helpers.tf import runner
from helpers.tf import state
from helpers.tf import toolchain
try:
    state.stack_dir("size").joinpath("main.tf").write_text(toolchain.HEADER_HCL)
    runner.Terraform("size").init()
finally:
    emulator.stop()
"""


def graphviz() -> Measure:
    name = "Graphviz dot (make graphviz)"
    dot = shutil.which("dot")
    if dot:
        version = subprocess.run([dot, "-V"], capture_output=True, text=True).stderr.strip()
        return Measure(name, None, text=f"present ({version})")
    return Measure(
        name, run_timed(["make", "-C", str(REPO), "graphviz"], "make graphviz"), text="installed with apt-get"
    )


def pip_cache_dir() -> Path | None:
    result = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True)
    return Path(result.stdout.strip()) if result.returncode == 0 and result.stdout.strip() else None


def pip_config() -> list[str]:
    """pip's settings here (indexes, wheel folders): what an "empty cache" install may still find locally.

    Credentials in index URLs (https://user:token@host) are masked: the result is committed.
    """
    result = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    return [re.sub(r"://[^/\s@']+@", "://***@", line) for line in result.stdout.splitlines()]


def cache_notes(warm_cache_mb: float | None, cold_cache_mb: float) -> tuple[str, str]:
    """What the two setup rows include, from the sizes of the machine's pip cache and of the new one.

    pip caches what it downloads; a new cache that stays empty means every package came from a
    local index or wheel folder of pip's configuration (see pip_config), so no download was timed.
    """
    warm = f"machine pip cache {warm_cache_mb} MB" if warm_cache_mb is not None else "no pip cache"
    if (warm_cache_mb or 0) < 1:
        warm += " (nothing kept): the same start as the empty-cache row"
    if cold_cache_mb < 1:
        cold = (
            "pip cached nothing: every package came from this machine's local indexes and wheel folders "
            "(pip config), so no download is timed"
        )
    else:
        cold = f"includes downloads; pip then kept {cold_cache_mb} MB in the new cache"
    return warm, cold


def install(venv: Path, **env: str) -> float:
    """Seconds the Makefile's install step takes into the empty folder ``venv``."""
    clean = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MAKEFLAGS", "MAKELEVEL")}
    return run_timed(["make", "-C", str(REPO), "install", f"VENV={venv}"], "make install", env={**clean, **env})


def run(root: Path) -> Part:
    root.mkdir(parents=True, exist_ok=True)
    machine_cache = pip_cache_dir()
    warm_cache_mb = size_mb(machine_cache) if machine_cache else None
    venv, workspace = root / "venv-warm", root / "workspace"
    warm = install(venv)
    run_timed(
        [str(venv / "bin" / "python"), "-c", FIRST_INIT],
        "terraform init with the new environment",
        env={**os.environ, "COURSE_WORKSPACE": str(workspace)},
    )
    sizes = {
        "venv": size_mb(venv),
        "workspace": size_mb(workspace),
        "provider mirror": size_mb(workspace / "providers"),
        "one stack's .terraform": size_mb(workspace / "stacks" / "size" / ".terraform"),
        "repository .venv": size_mb(REPO / ".venv"),
    }
    shutil.rmtree(venv)

    empty_cache = root / "pip-cache"
    cold = install(root / "venv-cold", PIP_CACHE_DIR=str(empty_cache))
    cold_cache_mb = size_mb(empty_cache) or 0.0
    shutil.rmtree(root / "venv-cold")
    shutil.rmtree(empty_cache, ignore_errors=True)

    total = sizes["venv"] + sizes["workspace"]
    warm_note, cold_note = cache_notes(warm_cache_mb, cold_cache_mb)
    measures = [
        Measure("(f) setup, empty venv, machine's pip cache", warm, text=warm_note),
        Measure("(f) setup, empty venv, empty pip cache", cold, text=cold_note),
        Measure(
            "environment: venv + workspace",
            total,
            unit="MB",
            budget=BUDGET_MB,
            text=f"venv {sizes['venv']:.0f} MB, workspace {sizes['workspace']:.0f} MB "
            f"(provider mirror {sizes['provider mirror']:.0f} MB)",
        ),
    ]
    if sizes["repository .venv"] is not None:
        measures.append(Measure("  repository's .venv (for comparison)", sizes["repository .venv"], unit="MB"))
    return Part(
        measures,
        {
            "install_warm_cache_s": round(warm, 1),
            "install_empty_cache_s": round(cold, 1),
            "machine_pip_cache": str(machine_cache),
            "machine_pip_cache_mb": warm_cache_mb,
            "pip_config": pip_config(),
            "empty_cache_after_install_mb": cold_cache_mb,
            "sizes_mb": sizes,
            "environment_mb": round(total, 1),
            "counted": "the new venv + the workspace (provider mirror, terraform shim, one stack's .terraform: "
            "Terraform links the provider from the unpacked mirror, so more stacks add next to nothing); "
            "not pip's cache, not Graphviz",
        },
    )
