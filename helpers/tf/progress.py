"""Live progress for long commands, replaced by nothing when they finish.

In a notebook the progress is one display area that is updated in place
(elapsed time, a status line and the latest lines) and emptied at the end,
optionally followed by one printed line without times, so the cell's saved
output is only stable text: nbval compares saved and fresh outputs, and Terraform prints
parallel work in a different order each run. Outside a notebook each line goes
to stderr with the elapsed time (the status line is for the live display only).
"""

from __future__ import annotations

import sys
import time

KEEP_LINES = 12  # lines of live output shown in a notebook


def in_notebook() -> bool:
    try:
        from IPython import get_ipython  # heavy: only inside a notebook
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


class Progress:
    def __init__(self, title: str, stream=None):
        self.title = title
        self.began = time.monotonic()
        self.lines: list[str] = []
        self.status = ""  # one live line under the title, replaced by each new one (the lab's waits)
        self.stream = stream or sys.stderr
        self._last_render = 0.0
        self._handle = None
        if in_notebook():
            from IPython.display import display  # heavy: only inside a notebook

            self._handle = display({"text/plain": ""}, raw=True, display_id=True)
        else:
            print(f"{title} …", file=self.stream, flush=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def line(self, text: str) -> None:
        text = text.rstrip()
        if not text:
            return
        stamped = f"[{self.elapsed:4.0f}s] {text}"
        self.lines.append(stamped)
        if self._handle is None:
            print(stamped, file=self.stream, flush=True)
        else:
            self._render()

    def tick(self) -> None:
        """Called while waiting for output: shows held-back lines and keeps the clock moving."""
        if self._handle is not None:
            self._render()

    def _render(self) -> None:
        # At most two updates a second: each one is a message to the browser.
        now = time.monotonic()
        if now - self._last_render < 0.5:
            return
        self._last_render = now
        body = "\n".join(([self.status] if self.status else []) + self.lines[-KEEP_LINES:])
        text = f"… {self.title} — {self.elapsed:.0f} s elapsed\n{body}"  # "…": in every font (⏳ is not)
        self._handle.update({"text/plain": text}, raw=True)

    def close(self, final: str = "") -> None:
        """Empty the live display; ``final`` (stable text: no times) is then printed as the cell's own output.

        The display itself always ends empty: nbval compares a display's first state, nbclient and JupyterLab
        save its last one, and both are then the same empty text.
        """
        if self._handle is not None:
            self._handle.update({"text/plain": ""}, raw=True)
            if final:
                print(final, flush=True)
        elif final:
            print(final, file=self.stream, flush=True)
