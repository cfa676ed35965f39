"""`make install` gives JupyterLab settings that never ask about "official Jupyter news" (the course is offline).

Fast and static: the Makefile's overrides.json must be valid JSON, set values that the installed JupyterLab's
own schema accepts ("false" is "Never"; the default "none" is the question on first start), and be a
prerequisite of `install`, which `make lab` runs. tests/delivery/test_lab.py checks the served settings.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SETTING = "@jupyterlab/apputils-extension:notification"


def makefile_overrides() -> tuple[str, dict]:
    text = (REPO / "Makefile").read_text()
    path = re.search(r"^LAB_OVERRIDES\s*:=\s*(\S+)$", text, re.M)
    body = re.search(r"^\$\(LAB_OVERRIDES\):.*\n(?:\t.*\n)*?\t@printf '%s\\n' '(.+)' > \$@$", text, re.M)
    assert path and body, "the Makefile should write LAB_OVERRIDES with one printf line"
    assert re.search(r"^install:.*\$\(LAB_OVERRIDES\)", text, re.M), "`install` (and so `make lab`) must write it"
    return path.group(1), json.loads(body.group(1))


def test_makefile_writes_overrides_where_jupyterlab_reads_them():
    path, _ = makefile_overrides()
    # JupyterLab reads <sys.prefix>/share/jupyter/lab/settings/overrides.json (its app settings folder).
    assert path == "$(VENV)/share/jupyter/lab/settings/overrides.json"


def test_overrides_never_ask_about_news_and_fit_jupyterlabs_schema():
    _, overrides = makefile_overrides()
    settings = overrides[SETTING]
    assert settings == {"fetchNews": "false", "checkForUpdates": False}
    package, plugin = SETTING.split(":")
    schema_file = Path(sys.prefix) / "share/jupyter/lab/schemas" / package / f"{plugin}.json"
    if not schema_file.exists():
        pytest.skip(f"JupyterLab's schema is not installed in this environment ({schema_file})")
    properties = json.loads(schema_file.read_text())["properties"]
    news = {choice["const"]: choice["title"] for choice in properties["fetchNews"]["oneOf"]}
    assert news[settings["fetchNews"]] == "Never", news
    assert properties["fetchNews"]["default"] == "none", "JupyterLab's default is to ask; the override must stay"
    assert properties["checkForUpdates"]["type"] == "boolean"
