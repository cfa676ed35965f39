"""One object for a network namespace: no module of helpers/ but helpers/lab/net/netns.py builds an
``ip netns …`` or ``ip -n …`` command line (issue 23).

Every command, process and socket in a lab namespace goes through ``Netns`` (helpers/lab/net/netns.py), so
that each one goes through the rootless sandbox when the lab is rootless. The code is read as Python
(ast): an argv with "ip" followed by "netns" or "-n", or a string (not a docstring) that spells such a
command, is refused. Docstrings and comments may name the commands to explain them.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

HELPERS = Path(__file__).resolve().parents[2] / "helpers"
NAMESPACE_MODULE = HELPERS / "lab" / "net" / "netns.py"
SPELLED = re.compile(r"\bip\s+(netns|-n)\b")


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring constants of the module, its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def namespace_commands(source: str) -> list[str]:
    """Where ``source`` builds an ip netns / ip -n command: "line N: what"."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        items = (
            node.elts if isinstance(node, (ast.List, ast.Tuple)) else node.args if isinstance(node, ast.Call) else []
        )
        words = [item.value if isinstance(item, ast.Constant) else None for item in items]
        for first, second in zip(words, words[1:], strict=False):
            if first == "ip" and second in ("netns", "-n"):
                found.append(f"line {node.lineno}: an argv with 'ip', {second!r}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if SPELLED.search(node.value):
                found.append(f"line {node.lineno}: {node.value[:60]!r}")
    return found


def test_only_the_namespace_module_builds_ip_netns_commands():
    offenders = {
        str(path.relative_to(HELPERS.parent)): hits
        for path in sorted(HELPERS.rglob("*.py"))
        if path != NAMESPACE_MODULE and (hits := namespace_commands(path.read_text()))
    }
    assert offenders == {}, "use helpers/lab/net/netns.py's Netns (run, ip, nft, popen, exec) instead"


def test_the_check_sees_each_way_of_writing_one():
    """The check itself: an argv list, a call's arguments, a message; not a docstring or a comment."""
    assert namespace_commands('argv = ["ip", "netns", "exec", ns, "true"]\n')
    assert namespace_commands('run("ip", "-n", ns, "link", "show")\n')
    assert namespace_commands('hint = f"see ip -n {ns} addr"\n')
    assert namespace_commands('text = "use ip netns exec NAME"\n')
    assert not namespace_commands('"""Made with ip netns exec."""\n# ip -n NS link\nx = ["ip", "addr"]\n')
    assert namespace_commands(NAMESPACE_MODULE.read_text()), "the namespace module itself does build them"
