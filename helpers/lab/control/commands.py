"""The lab's commands, as the CLI (python -m helpers lab ...) and the notebooks (helpers/lab/lesson.py) use them.

    up()               start the supervisor (detached: it outlives the notebook's kernel); idempotent
    down()             stop it; every namespace, link, rule and process of the lab is removed
    status()           is it running, what it built, what it could not (and whether the lab can run here)
    wait_synced()      return once the lab's kernel has every write the emulator had served when it was called
    curl(url, source)  one request from a lab namespace, through the lab's DNS, router and groups
    place(source)      the namespace of a lab place ("internet", a host id)
    rules(id)          a host's compiled rules next to the group rules they came from

The supervisor itself (the process that follows the emulator) is supervisor.py; its programs, programs.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

from ... import workspace
from ...errors import CourseError
from ...runtime import aws, lab_machine, processes
from ...tf import certificate
from .. import changes, client, model
from ..ecs import containers
from ..net import filters, kernel, netns, sandbox
from ..net.netns import Netns
from . import state

START_TIMEOUT = 60.0  # seconds up() waits for the first sync (about 1 s idle; several on a busy machine)
STOP_TIMEOUT = 10.0  # seconds down() waits for the supervisor to clean up before killing it
SUPERVISOR_MODULE = "helpers.lab.control.supervisor"  # python -m this: the supervisor process
# The supervisor's environment beside the caller's (a variable the caller set wins). glibc's malloc serves each block of
# 128 KiB or more with its own mmap, returned to the kernel when freed; by default it raises that threshold to the
# largest block freed (up to 32 MiB), so the supervisor's start (botocore reading each service model's JSON, ec2's
# several MB at once) left about 9 MB of freed heap in its PSS (after bench (h)'s load, median of 3: 57 -> 47 MB).
# https://sourceware.org/glibc/manual/latest/html_node/Memory-Allocation-Tunables.html (glibc.malloc.mmap_threshold)
SUPERVISOR_ENVIRONMENT = {"MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}
# seconds wait_synced() waits at most: the supervisor follows a write within about 0.1 s (make bench: re-sync);
# a whole rebuild (new hosts: namespaces, links, programs) takes a few seconds on a busy machine.
SYNC_WITHIN = 20.0


def require_machine() -> None:
    verdict = lab_machine.check()
    if not verdict.ok:
        raise CourseError("The traffic lab cannot run on this machine.", verdict.detail, verdict.fix)


# ---------------------------------------------------------------- the API


def up(endpoint: str | None = None, *, vpcs: list[str] | None = None, quiet: bool = False) -> dict:
    """Start the lab (idempotent); returns status(). ``vpcs`` limits it to these VPCs (tests)."""
    require_machine()
    endpoint = endpoint or aws.endpoint_url()
    if not endpoint:
        raise CourseError(
            "The traffic lab runs only on the emulator.",
            "On real AWS the packets flow through AWS itself; the lab builds the emulator's network in this kernel.",
            "python -m helpers target emulator, then python -m helpers lab up",
        )
    _require_answering(endpoint)
    running = lab_machine.supervisor()
    if running:
        if running.get("endpoint") != endpoint or running.get("vpcs") != (vpcs or None):
            raise CourseError(
                "A lab already runs in this workspace, for another emulator or other VPCs.",
                f"One lab per workspace: the supervisor (pid {running['pid']}) follows {running.get('endpoint')}.",
                "python -m helpers lab down, then python -m helpers lab up",
            )
        return status()
    log = open(state.path(state.LOG), "ab")
    argv = [sys.executable, "-m", SUPERVISOR_MODULE, "supervise", "--endpoint", endpoint]
    for vpc in vpcs or []:
        argv += ["--vpc", vpc]
    env = {**SUPERVISOR_ENVIRONMENT, **os.environ}
    env |= {"COURSE_WORKSPACE": str(workspace.root()), "PYTHONPATH": str(workspace.REPO)}
    if sandbox.needed():
        sandbox.ensure()
    proc = subprocess.Popen(
        netns.command(argv, cwd=workspace.REPO),  # rootless: nsenter execs, so proc.pid is the supervisor's
        cwd=workspace.REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,  # its own session: a kernel restart or Ctrl-C does not reach it
    )
    log.close()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        now = state.read(state.STATUS)
        if now.get("pid") == proc.pid and now.get("synced"):
            break
        if proc.poll() is not None:
            raise CourseError(
                "The lab's supervisor stopped at once.",
                state.log_tail() or f"exit status {proc.returncode}",
                "python -m helpers lab status; python -m helpers lab down removes whatever it left",
            )
        time.sleep(0.1)
    else:
        raise CourseError(
            f"The lab did not finish its first sync within {START_TIMEOUT:.0f} s.",
            state.log_tail() or "the emulator may be slow or down",
            "python -m helpers lab status (it keeps trying); python -m helpers lab down to stop it",
        )
    if not quiet:
        print(f"Lab up: {len(status().get('hosts', []))} hosts (pid {proc.pid}).")
    return status()


def _require_answering(endpoint: str) -> None:
    """One clear message, at once, when nothing answers at the emulator's address."""
    parts = urlsplit(endpoint)
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=3):
            return
    except (OSError, ValueError):
        raise CourseError(
            f"Nothing answers at {endpoint}: the lab has no emulator to follow.",
            "The lab builds the network the emulator holds; that emulator is stopped or unreachable.",
            "python -m helpers emulator start, then python -m helpers lab up",
        ) from None


def down() -> list[str]:
    """Stop the supervisor and remove every namespace, link, rule and process the lab made; returns the names."""
    running = lab_machine.supervisor()
    if running:
        pid = running["pid"]
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while processes.alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.05)
        if processes.alive(pid):
            os.kill(pid, signal.SIGKILL)
        _reap(pid)
    removed = list(state.read(state.STATUS).get("removed_on_exit", [])) if running else []
    removed += kernel.remove_all(kernel.tag()) if lab_machine.check().ok and _reachable() else []
    if sandbox.needed():
        sandbox.stop()
    for name in (lab_machine.SUPERVISOR_FILE, state.STATUS):
        state.path(name).unlink(missing_ok=True)
    return removed


def _reachable() -> bool:
    """Can this process reach the lab's namespaces (as root, or through a running sandbox)?"""
    return not sandbox.needed() or sandbox.keeper() is not None


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def status() -> dict:
    """What the lab is doing now (and, when it cannot run here, why and the fix)."""
    verdict = lab_machine.check()
    running = lab_machine.supervisor()
    current = state.read(state.STATUS) if running else {}
    return {
        "can_run": verdict.ok,
        "machine": verdict.detail,
        "fix": verdict.fix,
        "running": bool(running),
        "pid": running.get("pid"),
        "endpoint": running.get("endpoint"),
        "ws": kernel.tag(),
        "mode": ("rootless: a user namespace of its own (helpers/lab/net/sandbox.py)" if sandbox.needed() else "root")
        if verdict.ok
        else None,
        "namespaces": kernel.namespaces(kernel.tag()) if verdict.ok and _reachable() else [],
        **{
            k: current.get(k)
            for k in ("hosts", "errors", "programs", "synced_at", "emulator", "fingerprint", "rebuilt")
        },
    }


def curl(
    url: str, source: str = "internet", *, timeout: float = 15.0, method: str = "GET", headers=None, insecure=False
):
    """One HTTP(S) request from ``source`` ("internet", an instance id or an ALB node), as curl -i shows it.

    The request is made by the lab's client running inside that namespace, so it takes the path a
    real request would: the lab's DNS, the router, the security groups, the load balancer. HTTPS
    verifies the certificate against the course's CA, which signs the lab's listener certificates
    (helpers/tf/certificate.py); ``insecure`` skips the check, as curl -k.
    """
    extra = [a for name, value in (headers or {}).items() for a in ("-H", f"{name}: {value}")]
    trust = ["--insecure"] if insecure else ["--cacert", str(certificate.authority_file())]
    argv = [sys.executable, "-m", "helpers.lab.client", url, "--json", "--timeout", str(timeout), "-X", method]
    argv += [*trust, *extra]
    env = {**os.environ, "PYTHONPATH": str(workspace.REPO)}
    net = place(source, "curl")
    done = net.exec(argv, cwd=workspace.REPO, env=env, capture_output=True, text=True, timeout=3 * timeout + 30)
    if done.returncode == 2 or not done.stdout.strip():
        raise CourseError(
            f"The lab's client could not send {method} {url}.",
            (done.stderr.strip().splitlines() or ["it printed nothing"])[-1],
            "check the URL (http:// or https://, a name the lab's DNS knows: lab status), then try again",
        )
    return client.Reply.from_dict(json.loads(done.stdout))


def place(source: str = "internet", command: str = "exec") -> Netns:
    """The namespace of ``source`` in the running lab: "internet", an instance id or an ALB node (lab status).

    ``command`` ("curl", "exec") names the lab command in the messages."""
    info = status()
    if not info["running"]:
        raise CourseError(
            f"The traffic lab is down, so lab {command} has nowhere to run.",
            "Requests and programs go through the lab's namespaces, which only exist while the lab runs.",
            "python -m helpers lab up   (in a notebook: lab.up())",
        )
    places = {"internet": kernel.internet_ns(info["ws"]), **{h["id"]: h["ns"] for h in info.get("hosts") or []}}
    if source not in places:
        raise CourseError(
            f"{source!r} is not a place in the lab.",
            f"lab {command} starts from the internet or from a lab host: {', '.join(sorted(places))}.",
            "python -m helpers lab status lists the hosts; name one with --from (default: internet)",
        )
    return Netns(places[source])


def status_text(info: dict | None = None) -> str:
    info = info or status()
    if not info["can_run"]:
        return f"✗ The traffic lab cannot run here: {info['machine']}\n  Fix: {info['fix']}"
    if not info["running"]:
        left = f" ({len(info['namespaces'])} namespaces left over: lab down removes them)" if info["namespaces"] else ""
        return f"The lab is down{left}. Start it: python -m helpers lab up"
    lines = [f"Lab up (supervisor pid {info['pid']}, following {info['endpoint']}; {info['emulator'] or ''})"]
    lines.append(f"  mode: {info['mode']}")
    for host in info.get("hosts") or []:
        public = f", public {host['public_ip']}" if host.get("public_ip") else ""
        lines.append(f"  {host['role']:<4} {host['id']}  {host['private_ip']}{public}  ns {host['ns']}")
    for host_id, error in (info.get("errors") or {}).items():
        lines.append(f"  ✗ {host_id}: everything dropped:\n    " + error.replace("\n", "\n    "))
    for program in info.get("programs") or []:
        now = "running" if program.get("alive") else "restarting"
        again = f", restarted {program['restarts']}x" if program.get("restarts") else ""
        lines.append(f"  program {program['role']} {program['host']}: thread {program['thread']}, {now}{again}")
    return "\n".join(lines)


def rules(host_id: str) -> str:
    """The host's compiled nftables rules next to the group rules they came from."""
    m = model.read()
    host = m.host(host_id)
    text = filters.listing(m, host)
    if host.role != "ec2" or not Netns(kernel.host_ns(kernel.tag(), host)).exists():
        return text
    mappings = containers.port_mappings(kernel.host_ns(kernel.tag(), host))
    lines = [f"  docker ({'table ip ' + containers.TABLE}: bridge-mode port mappings, after the filters above):"]
    lines += [
        f"    tcp {host.private_ip}:{one['host_port']} → {one['address']}:{one['container_port']}  dnat  ({one['container']})"
        for one in mappings
    ] or ["    (no container runs here)"]
    return "\n".join([text, *lines])


def wait_synced(within: float = SYNC_WITHIN) -> dict:
    """Return once the lab's kernel has every write the emulator had served when this was called (its filters
    built from the security groups as they are now): the supervisor answers on its sync socket as soon as it has
    followed them (supervisor.py). Its answer: {"synced", "boot", "seq", "fingerprint"}. A clear error after
    ``within`` seconds, or at once when the lab is down."""
    running = lab_machine.supervisor()
    if not running:
        raise CourseError(
            "The traffic lab is down, so it cannot follow the emulator's changes.",
            status_text(),
            "python -m helpers lab up   (in a notebook: lab.up())",
        )
    deadline = time.monotonic() + within
    while True:  # asks again only when the emulator restarted meanwhile (another boot): bounded by ``within``
        now = changes.fetch(running["endpoint"])
        left = deadline - time.monotonic()
        answer = _ask_synced(now["boot"], int(now["seq"]), left) if now and left > 0 else {}
        if answer.get("synced"):
            return answer
        if time.monotonic() >= deadline:
            raise CourseError(
                f"The lab did not follow the emulator's last change within {within:.0f} s.",
                status_text(),
                "python -m helpers lab status; if it is down: lab.up()",
            )
        time.sleep(min(changes.TIMEOUT, max(0.0, deadline - time.monotonic())))  # the emulator restarting


def _ask_synced(boot: str, seq: int, seconds: float) -> dict:
    """One question on the supervisor's sync socket; {} when it does not answer."""
    try:
        with state.socket_address(state.SYNC_SOCKET) as address, socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(seconds + 2.0)
            conn.connect(address)
            conn.sendall(json.dumps({"boot": boot, "seq": seq, "wait": seconds}).encode() + b"\n")
            return json.loads(conn.makefile("rb").readline(4096) or b"{}")
    except (OSError, ValueError):
        return {}
