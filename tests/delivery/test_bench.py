"""The benchmark's record: bench/README.md's table is bench/latest.json's, and the table says what the numbers mean.

No timing is asserted here (timings are printed by `make bench`, never tested);
these tests only read files and render tables.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest

from bench import cpubymodule, run
from bench.common import REPO, Measure, Part, machine
from bench.cpu import CpuAccount


def test_readme_block_is_generated_from_latest_json():
    text = (REPO / "bench" / "README.md").read_text()
    start, end = run.readme_span(text)
    assert text[start:end] == run.readme_block(run.load()), (
        "bench/README.md's bench block does not match bench/latest.json: run `.venv/bin/python bench/run.py --readme` "
        "and commit both files"
    )


def test_recorded_run_is_complete_and_names_its_machine():
    data = run.load()
    if data is None:
        pytest.skip("no bench/latest.json committed yet (make bench writes it)")
    assert data["complete"] is True
    assert set(data["parts"]) - set(run.RECORDED_EXTRAS) == {"graphviz", *run.PARTS}
    assert not any("error" in part for part in data["parts"].values())
    assert {"cpu", "cores", "ram_gb", "os", "python", "date"} <= set(data["machine"])


def sample() -> dict:
    """A run as run_parts records it, with made-up figures (only the rendering is under test)."""
    parts = {
        "foundation": Part([Measure("emulator cold start", 1.2, budget=2.0), Measure("first init", 2.1)]),
        "course": Part(
            [Measure("course / raw", 1.41, unit="x", budget=1.3), Measure("(c) 02-network", 25.04, text="re-run 5.1 s")]
        ),
        "setup": Part([Measure("environment", 1105.0, unit="MB", budget=1024)]),
    }
    return json.loads(
        json.dumps(
            {"machine": machine(), "complete": False, "parts": {name: part.to_json() for name, part in parts.items()}}
        )
    )


def test_rows_give_value_budget_verdict_and_share_of_budget():
    rows = run.rows(sample())
    assert rows[0] == ("emulator cold start", "1.20 s", "≤ 2 s", "✓ 60%", "")
    assert rows[1] == ("first init", "2.10 s", "", "", "")
    assert rows[2] == ("course / raw", "1.41×", "≤ 1.30×", "✗", "")
    assert rows[3] == ("(c) 02-network", "25.0 s", "", "", "re-run 5.1 s")
    assert rows[4] == ("environment", "1105 MB", "≤ 1024 MB", "✗ 108%", "")


def test_a_failed_part_shows_as_a_failed_row_with_its_reason():
    data = sample()
    data["parts"]["make-test"] = {"error": "RuntimeError: make test (clean clone) failed (exit 2): make test\nmore"}
    assert run.rows(data)[-1] == (
        "make-test: FAILED",
        "",
        "",
        "✗",
        "RuntimeError: make test (clean clone) failed (exit 2): make test",
    )


def test_terminal_table_and_readme_show_the_same_rows_and_the_machine():
    data = sample()
    table, block = run.table(data), run.readme_block(data)
    for line in run.rows(data):
        assert "| " + " | ".join(line) + " |" in block
        assert line[0] in table and line[1] in table
    for fact in ("cpu", "cores", "os", "python", "date"):
        assert str(data["machine"][fact]) in table and str(data["machine"][fact]) in block


def test_readme_without_markers_gets_one_clear_message(tmp_path, monkeypatch, capsys):
    readme, latest = tmp_path / "README.md", tmp_path / "latest.json"
    readme.write_text("# no block here\n")
    latest.write_text(json.dumps(sample()))
    monkeypatch.setattr(run, "README", readme)
    assert run.main(["--readme", "--json", str(latest)]) == 1
    assert "bench/README.md has no bench block" in capsys.readouterr().err
    assert readme.read_text() == "# no block here\n"  # nothing lost


def test_readme_rewrite_replaces_only_the_block(tmp_path, monkeypatch):
    readme, latest, guide = tmp_path / "README.md", tmp_path / "latest.json", tmp_path / "INSTRUCTOR.md"
    readme.write_text(f"before\n{run.START}\nold table\n{run.END}\nafter\n")
    table = "| Notebook | Machine (s) | Self-paced (min) |\n| --- | ---: | ---: |\n| 02 Network | 7 | 15 |"
    guide.write_text(f"intro\n{run.TIMING_START}\n{table}\n{run.TIMING_END}\nrest\n")
    data = copy.deepcopy(sample())
    latest.write_text(json.dumps(data))
    monkeypatch.setattr(run, "README", readme)
    monkeypatch.setattr(run, "INSTRUCTOR", guide)
    assert run.main(["--readme", "--json", str(latest)]) == 0
    assert readme.read_text() == f"before\n{run.readme_block(data)}\nafter\n"
    rewritten = guide.read_text()
    assert rewritten.startswith("intro\n") and rewritten.endswith("\nrest\n")
    assert "| 02 Network | 25 | 15 |" in rewritten  # the sample's "(c) 02-network" 25.04 s; the rest as written
    assert data["machine"]["date"] in rewritten


def test_instructor_timing_table_is_generated_from_latest_json():
    text = (REPO / "notebooks" / "INSTRUCTOR.md").read_text()
    start, end = run.readme_span(text, run.TIMING_START, run.TIMING_END, "notebooks/INSTRUCTOR.md")
    data = run.load()
    if data is None:
        pytest.skip("no bench/latest.json committed yet (make bench writes it)")
    block = text[start:end]
    assert block == run.instructor_block(data, block), (
        "notebooks/INSTRUCTOR.md's Machine column does not match bench/latest.json: run "
        "`.venv/bin/python bench/run.py --readme` and commit both files"
    )
    rows = [line for line in block.splitlines() if line[:4].removeprefix("| ")[:2].isdigit()]
    assert len(rows) == len(run.notebook_seconds(data)) == 11, rows  # every notebook has its measured time


def test_unknown_part_is_refused_with_the_choices(capsys):
    with pytest.raises(SystemExit) as exit_:
        run.main(["--only", "foundation,warp"])
    assert exit_.value.code == 2
    assert (
        "unknown part warp: choose from foundation, course, room, lab, hub, make-test, setup, before"
        in capsys.readouterr().err
    )


def test_before_part_is_only_run_when_named():
    assert run.parse_parts("before") == ["before"] and "before" not in run.PARTS


def test_clean_runs_and_harness_are_only_run_when_named_and_merged_into_the_record(monkeypatch):
    """Each is two or three runs of make test: opt-in. Run, it joins bench/latest.json beside the recorded parts,
    which stays complete."""
    assert run.parse_parts("clean-runs,harness") == ["clean-runs", "harness"]
    assert not {"clean-runs", "harness"} & set(run.PARTS)
    recorded = {
        "machine": machine(),
        "complete": True,
        "parts": {n: {"measures": []} for n in ["graphviz", *run.PARTS]},
    }
    monkeypatch.setattr(run, "load", lambda path=run.LATEST: copy.deepcopy(recorded))
    ran = sample()
    ran["parts"] = {
        "clean-runs": Part([Measure("failures over 3 clean-clone runs", 1, unit="count", budget=0)]).to_json()
    }
    data = run.merged(ran, ["clean-runs"])
    assert data["complete"] is True and data["parts"]["clean-runs"] == ran["parts"]["clean-runs"]
    assert set(data["merged"]) == {"clean-runs"}
    assert [line[3] for line in run.rows(data) if line[0].startswith("failures")] == ["✗"]


def test_the_failed_tests_of_a_run_are_named_from_pytests_junit_report(tmp_path):
    """A real pytest run's report (one passes, one fails, one errors in its fixture) gives the two names."""
    import subprocess
    import sys

    from bench import maketest

    (tmp_path / "test_three.py").write_text(
        "import pytest\n\n@pytest.fixture\ndef broken():\n    raise OSError('no')\n\n"
        "def test_passes():\n    pass\n\ndef test_fails():\n    assert 1 == 2\n\n"
        "def test_errors(broken):\n    pass\n"
    )
    junit = tmp_path / "junit.xml"
    env = {"PATH": "/usr/bin:/bin", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", "test_three.py"],
        cwd=tmp_path, env=env, capture_output=True, timeout=120,
    )  # fmt: skip
    assert maketest.failed_tests(junit) == ["test_three::test_errors", "test_three::test_fails"]
    assert maketest.failed_tests(tmp_path / "missing.xml") == []


def test_before_rows_say_the_course_figure_and_the_difference():
    from bench import before

    row = before.saving("9 inits", 9.0, 2.0, how=" (2)")
    assert (row.value, row.unit) == (9.0, "s") and row.budget is None
    assert row.text == "now 2.00 s (2): 7.00 s less (78%)"
    assert before.saving("venv", 1000.0, 800.0, unit="MB").text == "now 800 MB: 200 MB less (20%)"
    # what the rows count comes from the notebooks themselves
    assert before.NOTEBOOKS == len(before.SOURCES) >= before.TERRAFORM_NOTEBOOKS > before.INITS_NOW >= 1


def test_readme_before_block_is_generated_from_before_json():
    text = (REPO / "bench" / "README.md").read_text()
    start, end = run.readme_span(text, run.BEFORE_START, run.BEFORE_END)
    assert text[start:end] == run.before_block(run.load(run.BEFORE)), (
        "bench/README.md's block of what each choice saves does not match bench/before.json: run "
        "`.venv/bin/python bench/run.py --readme` and commit both files"
    )


def test_recorded_before_run_has_every_row():
    data = run.load(run.BEFORE)
    if data is None:
        pytest.skip("no bench/before.json committed yet (bench/run.py --only before writes it)")
    part = data["parts"]["before"]
    assert "error" not in part and len(part["measures"]) == 5
    assert all(" less (" in m["text"] for m in part["measures"])


def test_recorded_pip_settings_mask_credentials(monkeypatch):
    from bench import setup

    listing = (
        "global.index-url='https://alice:s3cret@pypi.example.invalid/simple'\n"
        "global.extra-index-url='file:///opt/pypi/simple'\n"
    )
    monkeypatch.setattr(
        setup.subprocess, "run", lambda *a, **k: setup.subprocess.CompletedProcess(a, 0, stdout=listing, stderr="")
    )
    recorded = setup.pip_config()
    assert recorded == [
        "global.index-url='https://***@pypi.example.invalid/simple'",
        "global.extra-index-url='file:///opt/pypi/simple'",
    ]


def test_raw_part_stops_its_emulator_even_when_terraform_fails(tmp_path, monkeypatch):
    # A raw run left running held port 4850, so the next part's emulator moved to another port.
    from bench import course
    from helpers.runtime import emulator
    from helpers.tf import standalone

    calls = []
    monkeypatch.setenv("COURSE_WORKSPACE", str(tmp_path / "before"))
    monkeypatch.setattr(emulator, "start", lambda quiet=False: calls.append("start"))
    monkeypatch.setattr(emulator, "stop", lambda: calls.append("stop"))
    monkeypatch.setattr(standalone, "prepare", lambda folder: folder)
    monkeypatch.setattr(
        standalone,
        "terraform",
        lambda folder, *args: type("Result", (), {"returncode": 1, "stdout": "", "stderr": "Error: boom"})(),
    )
    with pytest.raises(RuntimeError, match="raw terraform init failed"):
        course.raw(tmp_path)
    assert calls == ["stop", "start", "stop"]


def test_setup_notes_claim_downloads_only_when_pip_cached_some():
    from bench.setup import cache_notes

    warm, cold = cache_notes(0.0, 0.0)
    assert "same start" in warm and "no download is timed" in cold
    warm, cold = cache_notes(310.5, 120.0)
    assert warm == "machine pip cache 310.5 MB" and cold.startswith("includes downloads") and "120.0 MB" in cold
    assert cache_notes(None, 0.0)[0].startswith("no pip cache")


def test_the_cpu_account_counts_a_commands_descendants():
    """bench/cpu.py: a grandchild's CPU time (as its own os.times() reports it) is in the command's account."""
    busy = "import os, time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\nt = os.times()\n"
    busy += "print(t.user + t.system)"
    child = f"import subprocess, sys; print(subprocess.run([sys.executable, '-c', {busy!r}], capture_output=True,"
    child += " text=True, check=True).stdout)"
    with CpuAccount() as account:
        if account.folder is None:
            pytest.skip("no writable cgroup here (bench/cpu.py measures as root)")
        done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True,
                              preexec_fn=account.join)  # fmt: skip
    grandchild = float(done.stdout.split()[0])
    assert grandchild >= 0.3 and account.seconds >= grandchild
    assert not account.folder.exists(), "the account's cgroup is removed once its processes have ended"


def test_cpu_by_module_counts_each_test_and_sets_a_background_job_apart(tmp_path):
    """bench/cpubymodule.py: a test's busy child is that test's CPU; a background job it starts (as
    tests/plugin/session.py's are: ``-m tests.support.X``) is counted apart, not against the test."""
    busy = "import time\nend = time.process_time() + {0}\nwhile time.process_time() < end: pass\n"
    (tmp_path / "test_inner.py").write_text(
        "import subprocess, sys\n\n"
        f"def test_busy_child():\n    subprocess.run([sys.executable, '-c', {busy.format(0.4)!r}], check=True)\n\n"
        "def test_starts_a_job():\n"
        f"    job = subprocess.Popen([sys.executable, '-c', {busy.format(1.5)!r}, '-m', 'tests.support.fakejob'])\n"
        "    job.wait(timeout=60)\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    out = tmp_path / "cpu"
    env = dict(os.environ, COURSE_CPU_BY_MODULE=str(out), PYTHONPATH=str(REPO))
    for name in ("PYTEST_XDIST_WORKER", cpubymodule.RUN_GROUP, "PYTEST_ADDOPTS"):  # make test's, not the inner run's
        env.pop(name, None)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "bench.cpubymodule", "-p", "no:cacheprovider", "-c",
               str(tmp_path / "pytest.ini"), str(tmp_path / "test_inner.py")]  # fmt: skip
    if not cpubymodule.available():
        pytest.skip("no writable cgroup v1 cpuacct here (bench/cpubymodule.py measures as root, on cgroup v1)")
    with CpuAccount() as account:
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                              preexec_fn=account.join)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    found = json.loads((out / "main.json").read_text())
    tests = {name.rsplit("::", 1)[1]: seconds for name, seconds in found["tests"].items()}
    assert tests["test_busy_child"] >= 0.4
    assert found["daemons"]["job-fakejob"] >= 1.5 - 2 * cpubymodule.PARK_EVERY_S  # parked within a tick or two
    assert tests["test_starts_a_job"] < found["daemons"]["job-fakejob"]
    report = cpubymodule.report(out)
    assert "job-fakejob" in report and "test_inner.py::test_busy_child" in report
    assert not account.folder.exists(), "the run's groups made inside the account are removed with it"
