"""Each diagram is reproducible from its script in diagrams/ (with real icons)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p for p in (REPO / "diagrams").glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_diagram_script_regenerates_its_png(script, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(script.parent))  # as when run: python diagrams/NAME.py
    spec = importlib.util.spec_from_file_location(script.stem, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    png = module.draw(tmp_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    committed = REPO / "diagrams" / png.name
    assert committed.exists(), f"commit the rendered {png.name} beside its script"
    # Icons make a diagram several times larger than boxes and text alone.
    assert png.stat().st_size > 20_000
