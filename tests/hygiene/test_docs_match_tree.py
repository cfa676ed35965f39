"""helpers/README.md's layer block is the one list of helpers/'s modules, and it matches the tree.

Every module under helpers/ (a package by its folder's line) has a line in the block, indented under its
folder, and every name in the block exists: adding a module is one line there. The block's top-level
entries go in the layer order that tests/hygiene/test_layering.py enforces. Package docstrings keep no
second list of modules (they point at the block); every module file a docstring names exists.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.hygiene.test_layering import LAYERS

HELPERS = Path(__file__).resolve().parents[2] / "helpers"
README = HELPERS / "README.md"
# An entry: indented two spaces per level below helpers/, a module (name.py) or a package (name/), then its description.
ENTRY = re.compile(r"^(?P<indent>(?:  )+)(?P<name>[a-z_][a-z0-9_]*(?:\.py|/))(?:\s|$)")


def layer_block(text: str) -> str:
    """The code block of the "## Layers" section."""
    section = text.split("\n## Layers\n", 1)[1]
    return section.split("```\n", 2)[1]


def listed(block: str) -> list[str]:
    """Every path the block names, relative to helpers/ (``runtime/``, ``runtime/aws.py``), in its order.

    A line that is no entry continues the description above it (it starts in the description column).
    """
    lines = block.splitlines()
    assert lines[0] == "helpers/", f"the block starts with helpers/, not {lines[0]!r}"
    folders: list[str] = []  # the folder of each level above the current line
    found = []
    for line in lines[1:]:
        entry = ENTRY.match(line)
        if not entry:
            continue
        level = len(entry["indent"]) // 2 - 1
        assert level <= len(folders), f"{line.strip()!r} is indented below no folder"
        del folders[level:]
        found.append("".join(folders) + entry["name"])
        if entry["name"].endswith("/"):
            folders.append(entry["name"])
    return found


def in_tree() -> set[str]:
    """Every module under helpers/, relative to it; a package as its folder (``lab/``), with its top's __init__.py."""
    found = {"__init__.py"}
    for path in HELPERS.rglob("*.py"):
        relative = path.relative_to(HELPERS).as_posix()
        if path.name == "__init__.py":
            if path.parent != HELPERS:
                found.add(relative.removesuffix("__init__.py"))
        else:
            found.add(relative)
    return found


def test_the_layer_block_names_every_module_and_nothing_else():
    named = listed(layer_block(README.read_text()))
    tree = in_tree()
    assert len(named) == len(set(named)), f"named twice: {sorted({n for n in named if named.count(n) > 1})}"
    missing, stale = sorted(tree - set(named)), sorted(set(named) - tree)
    assert not missing, f"modules with no line in helpers/README.md's layer block: {missing}"
    assert not stale, f"names in helpers/README.md's layer block that are not in helpers/: {stale}"


def test_the_layer_block_lists_the_layers_in_their_order():
    top = [name for name in listed(layer_block(README.read_text())) if "/" not in name.rstrip("/")]
    layers = [name.removesuffix(".py").removesuffix("/") for name in top]
    assert [name for name in layers if name in LAYERS] == LAYERS
    assert set(layers) - set(LAYERS) == {"__init__", "__main__"}, "the facade and the entry point stand on top"


def test_the_parser_reads_nesting_and_descriptions():
    block = (
        "helpers/\n"
        "  errors.py          the floor\n"
        "  lab/               the lab\n"
        "    net/             namespaces\n"
        "      netns.py       one namespace; a description long enough\n"
        "                     to wrap: continues here (not.py an entry)\n"
        "    alb.py           the data plane\n"
        "  cli/               the command line\n"
    )
    assert listed(block) == ["errors.py", "lab/", "lab/net/", "lab/net/netns.py", "lab/alb.py", "cli/"]


# ------------------------------------------------------------------ package docstrings

MODULE_FILE = re.compile(r"(?<![\w./-])((?:[a-z_][a-z0-9_]*/)*[a-z_][a-z0-9_]*\.py)\b")
BULLET = re.compile(r"^\s*- ``([a-z_][a-z0-9_]*)``", re.M)


def packages() -> list[Path]:
    return sorted(p.parent for p in HELPERS.rglob("__init__.py"))


def docstring(package: Path) -> str:
    return ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""


def resolves(name: str, package: Path) -> bool:
    """``name`` (lessons/network.py, helpers/course/steps.py, report.py) is a file from the package or the repo."""
    return any((base / name).is_file() for base in (package, HELPERS, HELPERS.parent))


def test_package_docstrings_name_only_modules_that_exist():
    wrong = []
    for package in packages():
        text = docstring(package)
        for name in MODULE_FILE.findall(text):
            if not resolves(name, package):
                wrong.append(f"{package.relative_to(HELPERS.parent)}: {name}")
    assert not wrong, "package docstrings name modules that do not exist:\n" + "\n".join(wrong)


def test_package_docstrings_keep_no_second_list_of_modules():
    """A bulleted ``module`` list in a package docstring goes stale beside the layer block: point at the block."""
    lists = [
        f"{package.relative_to(HELPERS.parent)}: {names}"
        for package in packages()
        if (names := BULLET.findall(docstring(package)))
    ]
    assert not lists, "package docstrings listing modules (helpers/README.md's layer block lists them):\n" + "\n".join(
        lists
    )


def test_package_docstrings_number_no_layers():
    """The layers' order is the block's (and test_layering's); a number in a docstring goes stale when one is added."""
    numbered = [str(p.relative_to(HELPERS.parent)) for p in packages() if re.search(r"\bLayer \d", docstring(p))]
    assert not numbered, f"package docstrings numbering their layer: {numbered}"


def test_the_docstring_check_sees_a_stale_name():
    assert MODULE_FILE.findall("collect() (snapshot.py) and lessons/network.py; helpers/course/steps.py.") == [
        "snapshot.py",
        "lessons/network.py",
        "helpers/course/steps.py",
    ]
    assert resolves("lessons/network.py", HELPERS / "exercises") and not resolves("gone.py", HELPERS / "lab")
    assert BULLET.findall("- ``model``   reads\n- ``filters`` compiles") == ["model", "filters"]
