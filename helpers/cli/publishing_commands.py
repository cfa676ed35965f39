"""python -m helpers notebooks | exercises | site | slides: for maintainers and instructors."""

from __future__ import annotations

from pathlib import Path

from ..exercises import generator
from ..publishing import notebooks, site, slides
from .parsing import Commands, arg

PUBLISHING = Commands()


@PUBLISHING.command(
    "notebooks",
    "(maintainers) re-execute notebooks and save fresh outputs",
    arg("paths", nargs="*", metavar="NOTEBOOK", type=Path, help="only these notebooks (default: all)"),
)
def refresh_notebooks(args) -> int:
    notebooks.refresh([p.resolve() for p in args.paths] or None)
    return 0


@PUBLISHING.command(
    "exercises",
    "(maintainers) generate the exercise notebooks from the solutions",
    arg("--check", action="store_true", help="write nothing; exit 1 if the exercises are out of date"),
)
def generate_exercises(args) -> int:
    stale = generator.generate(check=args.check)
    if args.check and stale:
        print("Out of date (run: python -m helpers exercises):", *stale, sep="\n  ")
        return 1
    print(
        f"{'Would write' if args.check else 'Wrote'} {len(stale)} exercise notebook(s)"
        if stale
        else "The exercise notebooks are up to date."
    )
    return 0


def _shown(path) -> str:
    """A path as the user can type it: relative to here when below here, else absolute."""
    path = Path(path).resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


@PUBLISHING.command(
    "site",
    "(instructors) render the course to a static HTML site",
    arg("out", nargs="?", metavar="OUT", type=Path, help="output folder (default: <workspace>/site)"),
)
def build_site(args) -> int:
    index = site.build_site(args.out)
    print(
        f"Site built: open {_shown(index)} in a browser (no network needed).\n"
        f"Search works when it is served: python -m http.server --directory {_shown(index.parent)} 8000"
    )
    return 0


@PUBLISHING.command(
    "slides",
    "(instructors) reveal.js slides from the notebooks",
    arg("out", nargs="?", metavar="OUT", type=Path, help="output folder (default: <workspace>/slides)"),
    arg("-n", "--notebook", action="append", metavar="NOTEBOOK", type=Path, help="only this notebook (repeatable)"),
)
def build_slides(args) -> int:
    index = slides.build_slides(args.out, args.notebook)
    print(f"Slides built: {_shown(index)} lists the decks (open one in a browser; S opens the speaker view).")
    return 0
