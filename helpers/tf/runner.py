"""Terraform for one stack, as notebooks run it: python-terraform's API, streamed, summarised.

    from helpers import Terraform
    tf = Terraform("00-hello")          # a python_terraform.Terraform
    tf.init()
    tf.apply(skip_plan=True)            # streams live, returns a stable summary

Before every command the runner checks the stack's state (a damaged one is named before
anything else, the account and costs included), runs the registered hooks, writes the override for the current cloud (helpers/tf/override.py), runs
``init`` when the stack has none yet and backs the state up before a risky
command (helpers/tf/state.py); then it streams Terraform's output live.
"""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
from pathlib import Path

import python_terraform

from ..errors import CourseError
from . import state
from .diagnosis import explain_failure
from .override import write_target_override
from .progress import Progress
from .result import TerraformResult
from .state import stack_dir
from .toolchain import environment, executable


def _message(event: dict) -> str:
    """One line of live progress from a Terraform JSON event."""
    if event.get("type") == "diagnostic":
        diag = event.get("diagnostic", {})
        return f"{diag.get('severity', '').upper()}: {diag.get('summary', '')}"
    return event.get("@message", "")


class Terraform(python_terraform.Terraform):
    """python-terraform's ``Terraform`` for one stack of the course workspace.

    The methods are python-terraform's (``init``, ``plan``, ``apply``,
    ``destroy``, ``cmd`` ...). Differences, all for notebooks: output streams
    live into the cell with the elapsed time; the result's repr is a stable
    summary; a failure raises a CourseError saying what, why and how to fix.

    ``HOOKS``: callables ``hook(tf, command, args, kwargs)`` run before every command
    (after the state is checked, before the override, init and backup); the course
    session (helpers/course/session.py) registers its own there, in one visible place.
    """

    HOOKS: list = []

    def __init__(self, stack: str, **kwargs):
        self.stack = stack
        folder = stack_dir(stack)
        kwargs.setdefault("terraform_bin_path", str(executable()))
        super().__init__(working_dir=str(folder), **kwargs)

    @property
    def folder(self) -> Path:
        return Path(self.working_dir)

    # python-terraform 0.10.1 predates Terraform 1.x in two places:
    def apply(self, dir_or_plan=None, input=False, skip_plan=True, **kwargs):
        # a notebook cannot answer "yes": apply without the interactive prompt
        return super().apply(dir_or_plan, input=input, skip_plan=skip_plan, **kwargs)

    def destroy(self, dir_or_plan=None, **kwargs):
        # "-force" was removed in Terraform 0.15; "-auto-approve" replaces it
        kwargs.setdefault("auto_approve", python_terraform.IsFlagged)
        return super().destroy(dir_or_plan, force=python_terraform.IsNotFlagged, **kwargs)

    def cmd(self, cmd, *args, **kwargs):
        kwargs.pop("capture_output", None)  # output is always captured and streamed
        kwargs.pop("synchronous", None)
        raise_on_error = kwargs.pop("raise_on_error", True)
        name = cmd.split()[0]
        if name in ("init", "plan", "apply", "destroy", "validate"):
            kwargs["json"] = python_terraform.IsFlagged
        if name in ("plan", *state.RISKY):
            state.check(self.stack, self.folder / state.STATE)  # damaged: say which copy to restore
        for hook in self.HOOKS:  # the course session's: account, costs, rejected cells, recovery
            hook(self, name, args, kwargs)
        write_target_override(self.folder)
        if name in ("plan", "apply", "destroy") and not (self.folder / ".terraform").is_dir():
            self.init()
        if name in state.RISKY:
            state.before(self.stack, name, self.folder)  # fails, with nothing changed, if it cannot
        argv = self.generate_cmd_string(cmd, *args, **kwargs)
        try:
            code, out, err, events = self._stream(argv, f"terraform {name} · stack {self.stack}")
        finally:
            self.temp_var_files.clean_up()
        result = self._result(name, code, out, err, events)
        if code == 0 or (name == "plan" and code == 2):
            self.read_state_file()
        elif raise_on_error:
            raise explain_failure(self.stack, name, result, err)
        return result

    def _stream(self, argv, title):
        progress = Progress(title)
        proc = subprocess.Popen(
            argv,
            cwd=self.working_dir,
            env=environment(),
            text=True,
            bufsize=1,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            # Its own process group: Jupyter's "interrupt kernel" signals the kernel's whole
            # group, and a second SIGINT makes Terraform quit at once, losing state.
            # We forward exactly one (below), so it stops cleanly.
            start_new_session=True,
        )
        out_lines, err_lines, events = [], [], []
        selector = selectors.DefaultSelector()
        selector.register(proc.stdout, selectors.EVENT_READ, out_lines)
        selector.register(proc.stderr, selectors.EVENT_READ, err_lines)
        open_streams = 2
        try:
            while open_streams:
                ready = selector.select(timeout=0.5)
                if not ready:
                    progress.tick()
                for key, _ in ready:
                    line = key.fileobj.readline()
                    if not line:
                        selector.unregister(key.fileobj)
                        open_streams -= 1
                        continue
                    key.data.append(line)
                    if key.data is out_lines and line.startswith("{"):
                        try:
                            event = json.loads(line)
                        except ValueError:
                            progress.line(line)
                            continue
                        events.append(event)
                        progress.line(_message(event))
                    else:
                        progress.line(line)
            code = proc.wait()
        except KeyboardInterrupt:
            # Like one Ctrl-C in a terminal: Terraform finishes what is in flight and saves state.
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=300)
            finally:
                progress.close()
            raise CourseError(
                f"{title} was interrupted.",
                "You interrupted the kernel; Terraform finished the operations already under way "
                "and saved its state, then stopped.",
                "re-run this cell: Terraform continues from the saved state.",
            ) from None
        finally:
            selector.close()
        progress.close()
        return code, "".join(out_lines), "".join(err_lines), events

    def _result(self, name, code, out, err, events) -> TerraformResult:
        changes, resources, outputs, diagnostics = {}, {}, {}, []
        for event in events:
            kind = event.get("type")
            if kind == "change_summary":
                changes = {k: v for k, v in event.get("changes", {}).items() if k in ("add", "change", "remove")}
            elif kind == "planned_change" and name == "plan":
                change = event.get("change", {})
                resources[change.get("resource", {}).get("addr", "?")] = change.get("action", "?")
            elif kind == "apply_complete":
                hook = event.get("hook", {})
                address = hook.get("resource", {}).get("addr", "?")
                action = hook.get("action", "?")
                resources[address] = "replace" if resources.get(address) in ("delete", "create") else action
            elif kind == "outputs":
                outputs = {k: v.get("value") for k, v in event.get("outputs", {}).items()}
            elif kind == "diagnostic":
                diagnostics.append(event.get("diagnostic", {}))
        if name == "destroy":
            resources = {address: "delete" for address in resources if not address.startswith("data.")}
        return TerraformResult(
            code,
            out,
            err,
            command=name,
            stack=self.stack,
            changes=changes,
            resources=resources,
            outputs=outputs,
            diagnostics=diagnostics,
        )
