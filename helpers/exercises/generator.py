"""Exercise notebooks, generated from the solution notebooks (one source).

    python -m helpers exercises            write notebooks/exercises/NN-*.ipynb
    python -m helpers exercises --check    exit 1 if they differ from what the solutions give

The solution notebooks (notebooks/NN-*.ipynb) stay the only source. ``SPEC``
(helpers/exercises/spec.py) says, per notebook, which lines become blanks (``____``, with a hint),
which cells are replaced (the solution's boto3 assertions become the
exercise's check cell, from helpers/exercises/lessons/) and which are left
out. Lines and cells are found by their content; when a solution changes so
that a match disappears (or becomes ambiguous), generation stops and names the
entry to update. Running it twice writes the same bytes.

The generated notebooks keep the solution's explanations, carry no outputs
(learners produce them) and start with a note saying where the solution is
and how to catch up. Two rules keep the prose true, and generation (so
``--check`` too) stops when a SPEC breaks one: the lab's demonstration cells
(``lab.needed(...)``) stay, and no explanation introduces a cell that is not
there (when a markdown cell that ends with ":" or speaks of "the next cell" /
"the cell below" stays, the cell after it stays, or is replaced).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from .. import workspace
from ..errors import CourseError
from .spec import BLANK, CHECK, SPEC, Blank, Exercise, check_of

SOLUTIONS = workspace.NOTEBOOK_DIR
EXERCISES = SOLUTIONS / "exercises"

LINK = re.compile(r"\]\((\d\d-[a-z0-9-]+\.ipynb)\)")
LINE_LIMIT = 100  # characters: a code line fits a laptop's JupyterLab with the file browser open
LAB_CELL = "lab.needed("  # the first line of the lab's demonstration cells (helpers/lab/lesson.py)
NEEDS_THE_STACK = "exercise.needs_the_stack()  # stops this cell, with one line, until the notebooks before are applied"
INTRODUCES_A_CELL = ("the next cell", "the cell below")


def _spec_error(exercise: Exercise, what: str) -> CourseError:
    return CourseError(
        f"Exercise {exercise.notebook}: {what}",
        f"The exercises are generated from notebooks/{exercise.notebook}.ipynb, and that notebook has changed "
        "since helpers/exercises/spec.py's SPEC was written for it.",
        f"update the {exercise.notebook} entry of SPEC in helpers/exercises/spec.py to match the solution, then run: "
        "python -m helpers exercises",
    )


def _find_one(cells, exercise: Exercise, text: str, kinds: tuple[str, ...] = ("code",)) -> int:
    found = [n for n, cell in enumerate(cells) if cell.cell_type in kinds and text in cell.source]
    if len(found) != 1:
        raise _spec_error(exercise, f"{len(found)} {' or '.join(kinds)} cells contain {text!r} (expected exactly one).")
    return found[0]


def _blank_line(line: str, blank: Blank, exercise: Exercise, filled: bool) -> str:
    if blank.answer is None:
        if " = " not in line:
            raise _spec_error(exercise, f"the line {line.strip()!r} has no ' = ' to blank after.")
        head, answer = line.split(" = ", 1)
        head += " = "
        rest = ""
    else:
        if line.count(blank.answer) != 1:
            raise _spec_error(exercise, f"{blank.answer!r} is not exactly once in {line.strip()!r}.")
        head, rest = line.split(blank.answer)
        answer = blank.answer
        if " = " in answer:  # "hostPort = 0": keep the name, blank the value
            name, answer = answer.split(" = ", 1)
            head += f"{name} = "
    value = answer if filled else BLANK
    code = f"{head}{value}{rest}"
    if len(f"{code}  # hint: {blank.hint}") <= LINE_LIMIT:
        return f"{code}  # hint: {blank.hint}"
    # Too long for one line: the hint goes on comment lines just above, at the line's indentation.
    indent = code[: len(code) - len(code.lstrip())]
    hint = textwrap.wrap(
        blank.hint, LINE_LIMIT, initial_indent=f"{indent}# hint: ", subsequent_indent=f"{indent}#       "
    )
    return "\n".join([*hint, code])


def _note(exercise: Exercise, title: str) -> str:
    number = exercise.notebook[:2]
    return (
        f"> **Exercise {number}.** The key lines of this notebook are blanks, `____`, each with a `# hint:`. Replace "
        "every `____` (and the hint if you like), run the cell, then the Terraform cell after it. A cell that still "
        "holds a blank writes and applies nothing; it says which line to fill in. The **check** cells read what is "
        "deployed and say *✓ done* or what is still wrong.\n>\n"
        f"> - **Solution:** [`notebooks/{exercise.notebook}.ipynb`](../{exercise.notebook}.ipynb), the notebook of "
        "the same number one folder up.\n"
        "> - **Catching up:** this exercise needs the notebooks before it applied to the same stack. If you skipped "
        "or could not finish one, open its *solution* notebook (one folder up) and run all its cells "
        "(*Run > Run All Cells*): it writes the solution's files into the stack and applies them. Then come back "
        "here; the Setup cell below says which notebook is missing, if any.\n"
        "> - Running the solution of *this* notebook overwrites your version of its files: do that to compare, "
        "not before you try."
    )


def build(exercise: Exercise, filled: bool = False):
    """The exercise notebook for one SPEC entry (``filled``: blanks replaced by the solution's answers)."""
    import nbformat  # heavy: only for this command

    source = SOLUTIONS / f"{exercise.notebook}.ipynb"
    solution = nbformat.read(source, as_version=4)
    cells = list(solution.cells)
    names = {e.notebook for e in SPEC}

    # Which solution cells go, and which are replaced (matched by content, once each).
    new_source: dict[int, str | tuple[str, ...] | None] = {}
    setup = _find_one(cells, exercise, "course.start(")
    for text in exercise.drop:
        new_source[_find_one(cells, exercise, text, ("code", "markdown"))] = None
    for text, replacement in exercise.replace.items():
        new_source[_find_one(cells, exercise, text)] = replacement
    for n in new_source:
        if LAB_CELL in cells[n].source:
            raise _spec_error(
                exercise,
                f"a drop or replace entry takes out a lab cell ({cells[n].source.splitlines()[0]!r}): the exercises "
                "keep the lab's demonstration cells.",
            )
    if not any(CHECK == r or (isinstance(r, tuple) and CHECK in r) for r in exercise.replace.values()):
        raise _spec_error(exercise, "no cell is replaced by the check cell.")
    if exercise.setup is not None:
        new_source[setup] = exercise.setup
    else:
        code = cells[setup].source
        if "tf = course.start(" not in code or "from helpers import " not in code:
            raise _spec_error(exercise, "the Setup cell has no 'from helpers import' and 'tf = course.start(' lines.")
        code = re.sub(
            r"^from helpers import (.*)$",
            lambda m: "from helpers import " + ", ".join(sorted([*m.group(1).split(", "), "exercise"], key=str.lower)),
            code,
            count=1,
            flags=re.M,
        )
        new_source[setup] = code.replace("tf = course.start(", "tf = exercise.start(")
    if exercise.split_setup:
        code = new_source[setup]
        end = code.find("\n", code.index("tf = exercise.start("))
        head, rest = (code, "") if end < 0 else (code[:end], code[end:].strip())
        new_source[setup] = (head, f"{NEEDS_THE_STACK}\n{rest}") if rest else head

    _no_prose_without_its_cell(exercise, cells, new_source)
    for old in exercise.markdown:
        found = [c for c in cells if c.cell_type == "markdown" and old in c.source]
        if len(found) != 1 or found[0].source.count(old) != 1:
            raise _spec_error(exercise, f"the explanation {old!r} is not exactly once in the markdown.")
    out = []
    for n, cell in enumerate(cells):
        text = new_source.get(n, cell.source)
        if text is None:
            continue
        cell_id = cell.get("id") or f"cell{n}"
        if cell.cell_type == "markdown":
            for old, new in exercise.markdown.items():
                text = text.replace(old, new)
            text = LINK.sub(lambda m: f"]({m.group(1)})" if m.group(1)[:-6] in names else f"](../{m.group(1)})", text)
            text = text.replace("](../diagrams/", "](../../diagrams/")
            if n == 0:
                text = re.sub(r"^# (\d\d) · ", r"# Exercise \1 · ", text, count=1)
            out.append(nbformat.v4.new_markdown_cell(text, id=cell_id))
            if n == 0:
                out.append(nbformat.v4.new_markdown_cell(_note(exercise, text), id=f"{cell_id}-exercise"))
            continue
        for part, code in enumerate((text,) if isinstance(text, str) else text):
            part_id = cell_id if part == 0 else f"{cell_id}-{part}"
            if code == CHECK:
                out.append(
                    nbformat.v4.new_markdown_cell(
                        "**Check your work.** The cell below reads what is deployed and says *✓ done*, or names what "
                        "is still wrong and how to fix it. Fix, re-run the cells above, and check again.",
                        id=f"{part_id}-note",
                    )
                )
                code = f"exercise.{check_of(exercise)}()"
            out.append(nbformat.v4.new_code_cell(code.replace('"../diagrams/', '"../../diagrams/'), id=part_id))

    # Blanks, found by content among the code cells.
    for blank in exercise.blanks:
        scope = [c for c in out if c.cell_type == "code" and (blank.cell is None or blank.cell in c.source)]
        hits = [(c, i) for c in scope for i, line in enumerate(c.source.split("\n")) if blank.find in line]
        if len(hits) != 1:
            where = f" in the cell containing {blank.cell!r}" if blank.cell else ""
            raise _spec_error(exercise, f"{len(hits)} lines contain {blank.find!r}{where} (expected exactly one).")
        cell, index = hits[0]
        lines = cell.source.split("\n")
        lines[index] = _blank_line(lines[index], blank, exercise, filled)
        cell.source = "\n".join(lines)

    nb = nbformat.v4.new_notebook(cells=out)
    nb.nbformat_minor = solution.nbformat_minor
    nb.metadata = {"kernelspec": dict(solution.metadata["kernelspec"]), "language_info": {"name": "python"}}
    return nb


def _no_prose_without_its_cell(exercise: Exercise, cells, new_source: dict) -> None:
    """An explanation the exercise keeps that introduces the next cell ("...:", "the next cell") keeps that cell."""
    for n, cell in enumerate(cells[:-1]):
        if cell.cell_type != "markdown" or new_source.get(n, "") is None:
            continue
        text = cell.source.strip()
        for old, new in exercise.markdown.items():
            text = text.replace(old, new)
        introduces = text.endswith(":") or any(phrase in text.lower() for phrase in INTRODUCES_A_CELL)
        if introduces and new_source.get(n + 1, "") is None:
            raise _spec_error(
                exercise,
                f"the explanation ending {text[-80:]!r} introduces a cell that the exercise leaves out: drop or "
                "rewrite it too (SPEC's markdown), or keep the cell.",
            )


def render(exercise: Exercise, filled: bool = False) -> str:
    import nbformat  # heavy: only for this command

    return nbformat.writes(build(exercise, filled)) + "\n"


def path(exercise: Exercise) -> Path:
    return EXERCISES / f"{exercise.notebook}.ipynb"


def generate(check: bool = False) -> list[str]:
    """Write every exercise notebook; with ``check``, write nothing and return the stale ones."""
    stale = []
    expected = {path(e) for e in SPEC}
    for exercise in SPEC:
        text = render(exercise)
        target = path(exercise)
        if not target.exists() or target.read_text() != text:
            stale.append(workspace.relative(target))
            if not check:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
    extra = sorted(p for p in EXERCISES.glob("*.ipynb") if p not in expected) if EXERCISES.is_dir() else []
    stale += [f"{workspace.relative(p)} (no SPEC entry: delete it)" for p in extra]
    return stale
