"""The course's benchmark: every part in one run, one table, bench/latest.json.

    make bench                                      every part (20-25 min on 2 cores)
    .venv/bin/python bench/run.py --only setup      some parts (comma-separated), for development
    .venv/bin/python bench/run.py --readme          bench/README.md's blocks <- bench/latest.json, bench/before.json

Parts, in the order they run (Graphviz is checked first: the course needs it):
  foundation  (e) emulator cold start, offline terraform init, doctor   (~1 min)
  course      (a) raw terraform/, (b) the course cold, (c) each notebook,
              (d) re-running each applied notebook                      (~7 min)
  room        (g) 30 learners apply and destroy terraform/ at once on one
              room emulator, an account each                            (~6 min)
  lab         (h) the traffic lab on terraform/: lab up, re-sync, the lab
              ALB's added latency and throughput, the lab's memory      (~3 min)
  make-test   `make test` on a clean clone (its installs timed apart)   (~7 min)
  setup       (f) empty venv with/without pip cache, sizes on disk      (~6 min)
Not in make bench, only with --only (bench/before.py writes bench/before.json; the two others are merged
into bench/latest.json beside the recorded parts):
  before      each speed/size choice beside the alternative it replaced (~25 min)
  clean-runs  three clean clones in a row, `make test` in each (installs
              included): each run's time and failed tests     (~3 x make test)
  harness     `make test` with and without the CPU favouring and the
              course-first scheduling (tests/plugin/session.py)  (~2 x make test)
  hub-room    (j) N learners at once (HUB_ROOM_LEARNERS, 6) run notebooks 02-07
              through the workshop hub, against one alone  (~15-25 min)

Every part uses throw-away workspaces and fresh emulators; nothing touches the
learner's .course or the tests' .course-test. Timings are printed and stored,
never asserted in tests. Only a complete run (every part, none failed) writes
bench/latest.json (or --json PATH); then --readme renders it into bench/README.md
between the bench markers, and tests/delivery/test_bench.py checks the two agree.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import the bench package from the repository
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import before, cleanruns, course, foundation, harness, hub, hubroom, lab, maketest, room, setup  # noqa: E402
from bench.common import HERE, REPO, Measure, Part, machine  # noqa: E402
from helpers.errors import CourseError  # noqa: E402

PARTS = {
    "foundation": foundation.run,
    "course": course.run,
    "room": room.run,
    "lab": lab.run,
    "hub": hub.run,
    "make-test": maketest.run,
    "setup": setup.run,
}
EXTRA_PARTS = {  # only with --only
    "before": before.run,
    "clean-runs": cleanruns.run,
    "harness": harness.run,
    "hub-room": hubroom.run,
}
RECORDED_EXTRAS = (
    "clean-runs",
    "harness",
    "hub-room",
)  # merged into bench/latest.json when run (before has its own file)
LATEST = HERE / "latest.json"
BEFORE = HERE / "before.json"
README = HERE / "README.md"  # bench/README.md: the blocks --readme rewrites
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
BEFORE_START, BEFORE_END = "<!-- before:start -->", "<!-- before:end -->"
INSTRUCTOR = REPO / "notebooks" / "INSTRUCTOR.md"  # its timing table's Machine column: --readme rewrites it
TIMING_START, TIMING_END = "<!-- timing:start -->", "<!-- timing:end -->"
COLUMNS = ("measure", "value", "budget", "verdict", "notes")


# --------------------------------------------------------------------------
# Rows: the same for the terminal and bench/README.md, always from the JSON
# --------------------------------------------------------------------------


def number(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}×"
    if unit == "MB":
        return f"{value:.0f} MB"
    if unit == "count":
        return f"{value:.0f}"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "req/s":
        return f"{value:.0f} req/s"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def row(m: dict) -> tuple[str, ...]:
    measure = Measure(**m)
    value = measure.text if measure.value is None else number(measure.value, measure.unit)
    notes = "" if measure.value is None else measure.text
    if measure.ok is None:
        return measure.name, value, "", "", notes
    unit = "" if measure.unit == "count" else f" {measure.unit}"
    budget = f"{measure.budget:.2f}×" if measure.unit == "x" else f"{measure.budget:g}{unit}"
    share = f" {measure.value / measure.budget:.0%}" if measure.unit != "x" and measure.budget else ""
    if measure.at_least:  # a floor: the share of the floor reached
        return measure.name, value, f"≥ {budget}", ("✓" if measure.ok else "✗") + share, notes
    return measure.name, value, f"≤ {budget}", ("✓" if measure.ok else "✗") + share, notes


def rows(data: dict) -> list[tuple[str, ...]]:
    out = []
    for name, part in data["parts"].items():
        if "error" in part:
            out.append((f"{name}: FAILED", "", "", "✗", part["error"].splitlines()[0]))
        out.extend(row(m) for m in part.get("measures", []))
    return out


def machine_line(data: dict) -> str:
    m = data["machine"]
    load = f", load average {m['load_average'][0]} at start" if m.get("load_average") else ""
    line = (
        f"{m['date']} · {m['cpu']} · {m['cores']} cores · {m['ram_gb']} GB RAM · {m['os']} · Python {m['python']}{load}"
    )
    for name, other in data.get("merged", {}).items():  # parts measured in a later run (--merge)
        line += f"; part {name}: {other['date']} · {other['cpu']} · {other['cores']} cores"
    return line


def table(data: dict) -> str:
    """The table for a terminal (aligned columns; "verdict" shows the share of the budget used)."""
    lines = [COLUMNS, *rows(data)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=False)).rstrip() for line in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    return f"Benchmark · {machine_line(data)}\n" + "\n".join(text)


def readme_block(data: dict | None) -> str:
    """bench/README.md's bench block (between the markers) for ``data`` (None: no complete run yet)."""
    if data is None:
        body = (
            "No complete `make bench` run is recorded yet (bench/latest.json is missing): run `make bench`, "
            "then `.venv/bin/python bench/run.py --readme`."
        )
    else:
        cells = [COLUMNS, tuple("---" for _ in COLUMNS), *rows(data)]
        body = (
            f"Latest complete `make bench` run, {machine_line(data)}. Generated from `bench/latest.json` by "
            f'`.venv/bin/python bench/run.py --readme`; "verdict" shows the share of the budget used.\n\n'
            + "\n".join("| " + " | ".join(line) + " |" for line in cells)
        )
    return f"{START}\n{body}\n{END}"


def before_block(data: dict | None) -> str:
    """bench/README.md's block of what each choice saves, from bench/before.json (None: not measured yet)."""
    if data is None:
        body = "Not measured yet: run `.venv/bin/python bench/run.py --only before`, then `--readme`."
    else:
        savings = {"parts": {name: part for name, part in data["parts"].items() if name != "graphviz"}}
        cells = [
            ("the alternative", "its figure", "the course's choice"),
            ("---", "---", "---"),
            *((name, value, notes) for name, value, _, _, notes in rows(savings)),
        ]
        body = (
            f"Measured by `.venv/bin/python bench/run.py --only before`, {machine_line(data)}; "
            f"from `bench/before.json`.\n\n" + "\n".join("| " + " | ".join(line) + " |" for line in cells)
        )
    return f"{BEFORE_START}\n{body}\n{BEFORE_END}"


def notebook_seconds(data: dict) -> dict[str, float]:
    """{"07": seconds}: each notebook's measured run, the course part's "(c) NN-name" rows."""
    measures = data["parts"]["course"]["measures"]
    return {m["name"][4:6]: m["value"] for m in measures if m["name"].startswith("(c) ") and m["name"][4:6].isdigit()}


def instructor_block(data: dict, block: str) -> str:
    """INSTRUCTOR.md's timing block with its Machine column (the second) and caption from ``data``.

    Only the first two cells of each notebook row are generated; the other columns stay as written.
    """
    seconds = notebook_seconds(data)
    course = data.get("merged", {}).get("course", data["machine"])
    caption = (
        f"*Machine*, in seconds: `make bench`'s run of each notebook on the emulator, with the traffic lab, "
        f"{course['date']} · {course['cpu']} · {course['cores']} cores (the course part of `bench/latest.json`, "
        "written here by `.venv/bin/python bench/run.py --readme`)."
    )
    lines = []
    for line in block.splitlines()[1:-1]:
        cells = line.split(" | ")
        number = cells[0].removeprefix("| ")[:2]
        if line.startswith("| ") and number.isdigit() and number in seconds:
            cells[1] = f"{seconds[number]:.0f}"
            line = " | ".join(cells)
        if not line.startswith("*Machine*, in seconds"):
            lines.append(line)
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join([TIMING_START, caption, "", *lines, TIMING_END])


def readme_span(
    text: str, start_marker: str = START, end_marker: str = END, where: str = "bench/README.md"
) -> tuple[int, int]:
    """Where the block between the two markers (included) is in ``where``'s text."""
    start, end = text.find(start_marker), text.find(end_marker)
    if start < 0 or end < start:
        raise CourseError(
            f"{where} has no bench block ({start_marker} ... {end_marker}).",
            "bench/run.py --readme rewrites only the text between those two markers.",
            f"put the two marker lines, in that order, where the table belongs in {where}, then run again",
        )
    return start, end + len(end_marker)


def load(path: Path = LATEST) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def write_readme(path: Path = LATEST) -> None:
    data = load(path)
    if data is None:
        raise CourseError(
            f"{path.name} does not exist.",
            "bench/README.md's table is generated from a complete run.",
            "run `make bench` first (it writes bench/latest.json), then --readme",
        )
    text = README.read_text()
    start, end = readme_span(text)
    text = text[:start] + readme_block(data) + text[end:]
    if BEFORE_START in text:  # the block of what each choice saves, if bench/README.md has one
        start, end = readme_span(text, BEFORE_START, BEFORE_END)
        text = text[:start] + before_block(load(BEFORE)) + text[end:]
    README.write_text(text)
    print(
        f"bench/README.md: bench block rewritten from {path.relative_to(REPO) if path.is_relative_to(REPO) else path}"
    )
    if "measures" in data["parts"].get("course", {}):
        guide = INSTRUCTOR.read_text()
        start, end = readme_span(guide, TIMING_START, TIMING_END, "notebooks/INSTRUCTOR.md")
        INSTRUCTOR.write_text(guide[:start] + instructor_block(data, guide[start:end]) + guide[end:])
        print("notebooks/INSTRUCTOR.md: the timing table's Machine column rewritten")


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


def run_parts(names: list[str], root: Path) -> dict:
    data = {"machine": machine(), "parts": {}}
    try:
        data["parts"]["graphviz"] = Part([setup.graphviz()]).to_json()
    except RuntimeError as exc:  # dot missing and not installable here: the course part cannot run
        data["parts"]["graphviz"] = {"error": str(exc)}
        names = [n for n in names if n != "course"]
    for name in names:
        print(f"… {name}", file=sys.stderr, flush=True)
        try:
            data["parts"][name] = {**PARTS, **EXTRA_PARTS}[name](root / name).to_json()
        except Exception as exc:  # one failed part must not lose the others' numbers
            data["parts"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"✗ {name} failed: {exc}", file=sys.stderr)
    data["complete"] = set(names) == set(PARTS) and not any("error" in p for p in data["parts"].values())
    return data


def parse_parts(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in PARTS and n not in EXTRA_PARTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown part {', '.join(unknown) or '(none)'}: choose from {', '.join([*PARTS, *EXTRA_PARTS])}"
        )
    return names


def merged(data: dict, names: list[str]) -> dict:
    """bench/latest.json with ``names``' parts replaced by this run's (None parts failed: nothing merged)."""
    recorded = load()
    if recorded is None or any("error" in data["parts"].get(n, {"error": 1}) for n in names):
        print("not merged: bench/latest.json is missing, or a part failed", file=sys.stderr)
        return data
    recorded = dict(recorded)
    recorded["parts"] = {**recorded["parts"], **{n: data["parts"][n] for n in names}}
    recorded["merged"] = {**recorded.get("merged", {}), **{n: data["machine"] for n in names}}
    recorded["complete"] = {"graphviz", *PARTS} <= set(recorded["parts"]) and not any(
        "error" in p for p in recorded["parts"].values()
    )
    return recorded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--only",
        type=parse_parts,
        metavar="PART[,PART]",
        help=f"run only these parts ({', '.join([*PARTS, *EXTRA_PARTS])}); bench/latest.json is "
        "not written (before: bench/before.json is)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="also write the results here, even from a partial run (with --readme: read them from here)",
    )
    parser.add_argument(
        "--readme",
        action="store_true",
        help="rewrite bench/README.md's blocks from bench/latest.json and bench/before.json",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="with --only: put these parts' results into bench/latest.json in place of the recorded ones "
        "(the file then names the machine and date of each merged part)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (workspaces, logs)")
    args = parser.parse_args(argv)
    try:
        if args.readme:
            write_readme(args.json or LATEST)
            return 0
        names = args.only or list(PARTS)
        root = Path(tempfile.mkdtemp(prefix="course-bench-"))
        # mkdtemp's 0700 would hide the clean clone from the ordinary user of make test's rootless lab test
        root.chmod(0o755)
        try:
            data = run_parts([n for n in [*PARTS, *EXTRA_PARTS] if n in names], root)
        finally:
            if args.keep:
                print(f"kept: {root}")
            else:
                shutil.rmtree(root, ignore_errors=True)
        ran = data  # this run's parts alone (bench/before.json gets these)
        recorded = [n for n in args.only or () if args.merge or n in RECORDED_EXTRAS]
        if recorded:
            data = merged(ran, recorded)
        print(table(data))
        before_ok = "before" in ran["parts"] and "error" not in ran["parts"]["before"]
        targets = [
            (args.json, data),
            (LATEST if data["complete"] else None, data),
            (BEFORE if before_ok else None, ran),
        ]
        for path, written in [(path, written) for path, written in targets if path]:
            path.write_text(json.dumps(written, indent=2, ensure_ascii=False) + "\n")
            print(f"written: {path}")
        if not data["complete"] and names != ["before"]:
            print("bench/latest.json not written: only a complete run (every part, none failed) is recorded.")
        elif not args.json:
            print("bench/README.md: .venv/bin/python bench/run.py --readme")
        failed = any(verdict.startswith("✗") for _, _, _, verdict, _ in rows(data))
        return 1 if failed else 0
    except CourseError as exc:
        print(exc.render(), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
