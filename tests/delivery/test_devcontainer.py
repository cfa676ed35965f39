"""The dev container (.devcontainer/): its devcontainer.json and Dockerfile agree with the Makefile.

`make image-test` builds the image and runs the lab in it (too long for `make test`); these checks keep the
files it reads honest: devcontainer.json parses the way image-test.sh reads it, each capability or security
option it grants says why, JupyterLab's port is the Makefile's, and the image installs the course's one
environment (requirements.txt and the Makefile's targets), not a second list.
Reference: https://containers.dev/implementors/json_reference/ (build.dockerfile, build.context, runArgs,
forwardPorts).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = REPO / ".devcontainer"


def _lines() -> list[str]:
    return (HERE / "devcontainer.json").read_text().splitlines()


def _config() -> dict:
    """devcontainer.json as image-test.sh reads it: comment lines dropped (comments stay on lines of their own)."""
    return json.loads("\n".join(line for line in _lines() if not line.lstrip().startswith("//")))


def test_devcontainer_json_builds_the_dockerfile_from_the_repository():
    build = _config()["build"]
    assert (HERE / build["dockerfile"]).is_file()
    assert (HERE / build["context"]).resolve() == REPO  # COPY . . copies the course


def test_every_capability_and_security_option_says_why():
    granted = [a for a in _config()["runArgs"] if a.startswith(("--cap-add", "--security-opt"))]
    assert {"--cap-add=NET_ADMIN", "--cap-add=SYS_ADMIN", "--security-opt=systempaths=unconfined"} <= set(granted)
    lines = [line.strip() for line in _lines()]
    for arg in granted:
        at = lines.index(f'"{arg}",') if f'"{arg}",' in lines else lines.index(f'"{arg}"')
        comment = []
        for line in reversed(lines[:at]):
            if not line.startswith("//"):
                break
            comment.append(line)
        name = arg.split("=", 1)[1]
        assert comment and comment[-1].startswith(f"// {name}:"), f"{arg} has no comment saying why"


def test_jupyterlab_port_forwarded_is_the_makefiles():
    port = re.search(r"^LAB_PORT \?= (\d+)$", (REPO / "Makefile").read_text(), re.M).group(1)
    assert _config()["forwardPorts"] == [int(port)]


def test_the_image_installs_the_course_environment_with_the_makefile():
    text = (HERE / "Dockerfile").read_text()
    runs = re.findall(r"^RUN ((?:[^\n]*\\\n)*[^\n]*)", text, re.M)  # with its continued lines
    pip = [r for r in runs if "pip" in r and " install" in r]
    assert pip and all(re.search(r"pip\" install (--[\w-]+ )*-r requirements\.txt$", r, re.M) for r in pip), pip
    assert any("make --no-print-directory graphviz labtools" in r for r in runs)
    assert any("make --no-print-directory install" in r for r in runs)
    # apt-get here installs only what the Makefile needs to run; the rest comes from its own targets.
    apt = " ".join(r for r in runs if "apt-get install" in r)
    assert set(re.findall(r"--no-install-recommends ([\w\s-]+?) >", apt)[0].split()) == {
        "python3",
        "python3-venv",
        "make",
        "ca-certificates",
    }
