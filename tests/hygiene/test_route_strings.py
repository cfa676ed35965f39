"""The emulator's own routes (``/_course/...``) are spelled once, in helpers/runtime/emulator_routes.py:
the server that answers them and the clients that call them import the same constant."""

from __future__ import annotations

import ast
from pathlib import Path

HELPERS = Path(__file__).resolve().parents[2] / "helpers"
ROUTES = HELPERS / "runtime" / "emulator_routes.py"


def route_literals(source: str) -> list[tuple[int, str]]:
    """(line, value) of every string in ``source``'s code that holds a course route; docstrings (prose) aside."""
    tree = ast.parse(source)
    prose = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                prose.add(id(first.value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose
        if "/_course/" in node.value
    ]


def test_every_course_route_is_spelled_only_in_emulator_routes():
    copies = [
        f"{path.relative_to(HELPERS.parent)}:{line}: {value!r}"
        for path in sorted(HELPERS.rglob("*.py"))
        if path != ROUTES
        for line, value in route_literals(path.read_text())
    ]
    assert not copies, "import the route from helpers/runtime/emulator_routes.py instead:\n" + "\n".join(copies)


def test_a_copied_route_is_found_and_prose_is_not():
    source = '"""Calls ``/_course/changes``."""\n\nURL = "http://127.0.0.1:4850" + "/_course/changes"\n'
    assert route_literals(source) == [(3, "/_course/changes")]


def test_each_route_is_one_distinct_course_path():
    tree = ast.parse(ROUTES.read_text())
    values = [n.value.value for n in tree.body if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)]
    assert len(values) >= 5 and all(v.startswith("/_course/") for v in values), values
    assert len(set(values)) == len(values), values
