"""The house's layers: every module of helpers/ imports only from its own layer or the ones below it.

    errors, workspace  →  runtime/  →  tf/  →  course/  →  verify/  →  lab/  →  exercises/  →  workshop/  →  publishing/  →  cli

(helpers/README.md draws it.) The facade ``helpers/__init__.py`` and ``__main__.py`` stand
on top. Inside a layer, modules may import each other, with no cycle. An import inside a
function is kept only for a heavy third-party package, with the reason on its line.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

HELPERS = Path(__file__).resolve().parents[2] / "helpers"
LAYERS = [
    "errors",
    "workspace",
    "runtime",
    "tf",
    "course",
    "verify",
    "lab",
    "exercises",
    "workshop",
    "publishing",
    "cli",
]
TOP = {"helpers", "helpers.__main__"}  # the facade and the entry point: above every layer


def module_name(path: Path) -> str:
    parts = path.relative_to(HELPERS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    """The index of the layer ``module`` belongs to (helpers.tf.runner → tf)."""
    name = module.split(".")[1]
    return LAYERS.index(name)


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported helpers module, line, inside a function) of every import in ``path``."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []

    def visit(node, in_function: bool):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.rsplit(".", child.level - 1)[0] if child.level > 1 else package
                    target = f"{base}.{child.module}" if child.module else base
                else:
                    target = child.module or ""
                if target == "helpers" or target.startswith("helpers."):
                    # from .runtime import aws: the module helpers.runtime.aws where there is one
                    found.extend((resolve(f"{target}.{a.name}"), child.lineno, inner) for a in child.names)
                elif inner:
                    found.append((target, child.lineno, inner))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    found.append((alias.name, child.lineno, inner))
            visit(child, inner)

    visit(ast.parse(path.read_text()), False)
    return found


MODULES = sorted(HELPERS.rglob("*.py"))
# (path, first line) -> last line of every import statement, for the reason comment
ENDS = {
    (path, node.lineno): node.end_lineno
    for path in MODULES
    for node in ast.walk(ast.parse(path.read_text()))
    if isinstance(node, (ast.Import, ast.ImportFrom))
}


def resolve(name: str) -> str:
    """A dotted name as the module it lives in (helpers.course.stack.start → helpers.course.stack)."""
    while name.count(".") and not (
        (HELPERS.parent / Path(*name.split("."))).with_suffix(".py").exists()
        or (HELPERS.parent / Path(*name.split(".")) / "__init__.py").exists()
    ):
        name = name.rsplit(".", 1)[0]
    return name


def test_every_import_goes_down_the_layers():
    wrong = []
    for path in MODULES:
        module = module_name(path)
        if module in TOP:
            continue
        for target, line, _ in imports(path):
            if not target.startswith("helpers."):
                continue
            target = resolve(target)
            if target in TOP:
                wrong.append(f"{path.relative_to(HELPERS.parent)}:{line} imports the facade {target}")
            elif layer(target) > layer(module):
                wrong.append(
                    f"{path.relative_to(HELPERS.parent)}:{line}: {module} ({LAYERS[layer(module)]}) "
                    f"imports {target} ({LAYERS[layer(target)]}), a layer above it"
                )
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_no_import_cycle():
    graph = {module_name(p): set() for p in MODULES}
    for path in MODULES:
        for target, _, _in_function in imports(path):
            if target.startswith("helpers."):
                target = resolve(target)
                if target in graph and target != module_name(path):
                    graph[module_name(path)].add(target)
    # A package's __init__ importing its own submodules is how a facade works; a submodule
    # importing a name of its package comes through the package's __init__ and back: that is no cycle.
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    seen, stack, cycles = set(), [], []

    def walk(node):
        if node in stack:
            cycles.append(" → ".join(stack[stack.index(node) :] + [node]))
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for nxt in sorted(graph[node]):
            walk(nxt)
        stack.pop()

    for node in sorted(graph):
        walk(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_imports_inside_functions_are_heavy_third_party_packages_with_a_reason():
    light = []
    for path in MODULES:
        lines = path.read_text().splitlines()
        for target, line, in_function in imports(path):
            if not in_function:
                continue
            if target.startswith("helpers") or target.split(".")[0] in STDLIB:
                light.append(f"{path.relative_to(HELPERS.parent)}:{line}: {target} (import it at the top)")
            elif not any("#" in text for text in lines[line - 1 : ENDS[(path, line)]]):  # on the import's own lines
                light.append(
                    f"{path.relative_to(HELPERS.parent)}:{line}: {target} has no comment saying why it is imported here"
                )
    assert not light, "imports inside functions:\n" + "\n".join(light)


STDLIB = sys.stdlib_module_names


@pytest.mark.parametrize("module", ["helpers.tf.runner", "helpers.runtime.aws"])
def test_low_layers_call_up_only_through_hooks(module):
    """The runner and the clients know nothing of the course: what runs around them is registered."""
    path = HELPERS.parent / (module.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "HOOKS" in names
    called_up = names & {"recovery", "costs", "announce", "rejected_cells", "course"}
    assert not called_up, f"{module} calls up into the course: {sorted(called_up)}"
