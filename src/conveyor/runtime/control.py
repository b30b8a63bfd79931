"""Host scripts that drive an app's supervisord over its socket, in one Python process each.

A `supervisorctl` call costs a Python start-up and its imports; on a busy host that is more
than the round trip. These scripts run with the tools venv's Python (which has supervisor's
XML-RPC transport) and speak supervisorctl's words, so callers read them the same way.
Builders only: nothing here runs a command.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

from conveyor.runtime.base import supervisor_socket_path

# supervisorctl exit codes (LSB): `status` with a program not running, and no supervisord.
STATUS_NOT_RUNNING = 3
STATUS_UNREACHABLE = 4
_PID = re.compile(r"\bpid (\d+)")

# Runs on the host with the tools venv's Python, in one process (a supervisorctl call costs a
# Python start-up and its imports each): `stop=NAME` stops a program as `supervisorctl stop`
# does and says so in its words; then `update` (as supervisorctl's: reread the program files,
# stop and drop removed programs, restart changed ones, add new ones); then start the other
# NAMEs without waiting for each in turn (supervisorctl waits `startsecs` per program) and
# wait for all of them at once (`nowait`: not at all; each is said as "NAME: spawned";
# `started`: they were, by an earlier `nowait`: only waited for, never started again).
# A stop is waited for by asking supervisord how it goes (see `stopped`), not by its own wait.
# Prints supervisorctl's "NAME: started (pid N)" / "NAME: ERROR (...)" lines, then how long ago
# it started them ("@started 1.052s ago": a caller's settle time counts from the start itself,
# not from when it sent the script, which may first have drained a stop); exits 7 on any error
# starting, 9 when `update` failed (nothing is started then), 1 when a stop failed.
_CONTROL = r"""
import sys, time, xmlrpc.client
from supervisor.xmlrpc import SupervisorTransport
sock, deadline, words = sys.argv[1], time.time() + float(sys.argv[2]), sys.argv[3:]
rpc = xmlrpc.client.ServerProxy(
    "http://localhost", transport=SupervisorTransport(None, None, "unix://" + sock)
).supervisor
stop_failed = False


def stopped(group):
    # supervisord notices an exit at its next tick (up to 1 s later) unless something wakes
    # it: each of these questions does, so a stop ends when the process has. Asked often at
    # first (most programs stop at once), then every quarter second through a long drain.
    pause = 0.02
    while any(
        info["group"] == group and info["statename"] == "STOPPING"
        for info in rpc.getAllProcessInfo()
    ):
        time.sleep(pause)
        pause = min(pause * 1.5, 0.25)


for word in words:
    if word.startswith("stop="):
        name = word[len("stop="):]
        try:
            rpc.stopProcess(name, False)
            stopped(name)
            print(f"{name}: stopped")
        except xmlrpc.client.Fault as fault:
            said = {"NOT_RUNNING": "not running", "BAD_NAME": "no such process"}
            why = fault.faultString.split(":")[0]
            print(f"{name}: ERROR ({said.get(why, fault.faultString)})")
            stop_failed = True
if "update" in words:
    try:
        added, changed, removed = rpc.reloadConfig()[0]
        for group in removed:
            rpc.stopProcessGroup(group, False)
            stopped(group)
            rpc.removeProcessGroup(group)
        for group in changed:
            rpc.stopProcessGroup(group, False)
            stopped(group)
            rpc.removeProcessGroup(group)
            rpc.addProcessGroup(group)
        for group in added:
            rpc.addProcessGroup(group)
    except xmlrpc.client.Fault as fault:
        print(f"update: ERROR ({fault.faultString})")
        sys.exit(9)
names = [word for word in words if word not in ("update", "nowait", "started") and "=" not in word]
failed, pending, began = False, set(names), time.monotonic()
for name in names if "started" not in words else ():
    try:
        rpc.startProcess(name, False)
    except xmlrpc.client.Fault as fault:
        if "ALREADY_STARTED" not in fault.faultString:
            print(f"{name}: ERROR ({fault.faultString})")
            failed = True
            pending.discard(name)
if "nowait" in words:
    for name in sorted(pending):
        print(f"{name}: spawned")
    pending = set()
while pending and time.time() < deadline:
    for name in sorted(pending):
        info = rpc.getProcessInfo(name)
        state = info["statename"]
        if state == "RUNNING":
            print(f"{name}: started (pid {info['pid']})")
            pending.discard(name)
        elif state in ("BACKOFF", "EXITED", "FATAL", "STOPPED"):
            print(f"{name}: ERROR (spawn error)")
            failed = True
            pending.discard(name)
    time.sleep(0.05)
for name in sorted(pending):
    print(f"{name}: ERROR (still starting)")
    failed = True
if names:
    print(f"@started {time.monotonic() - began:.3f}s ago")
sys.exit(7 if failed else 1 if stop_failed else 0)
"""


def control_argv(
    app_dir: str,
    tools: str,
    names: Sequence[str],
    *,
    timeout: float = 30,
    update: bool = False,
    stop: Sequence[str] = (),
    wait: bool = True,
    started: bool = False,
) -> list[str]:
    """Start `names` together: each must reach RUNNING (stay up `startsecs`) within `timeout`
    (`wait=False`: started, not waited for; `started=True`: such a start, only waited for:
    one that has exited meanwhile fails, it is not started again).
    First, in the same process: stop `stop` (saying how each went), then `update`
    (supervisorctl's)."""
    python = posixpath.join(tools, "bin", "python")
    socket = supervisor_socket_path(app_dir)
    words = [
        *(f"stop={name}" for name in stop),
        *(["update"] if update else []),
        *names,
        *([] if wait else ["nowait"]),
        *(["started"] if started else []),
    ]
    return [python, "-c", _CONTROL, socket, f"{timeout:g}", *words]


# Runs on the host with the tools venv's Python: watch started programs (NAME=PID ...) for
# SECONDS, every 0.1 s, through supervisor's process info and /proc. The first one that is
# not RUNNING with its pid (it exited, was restarted, stopped) or whose child processes keep
# dying and being replaced (a master whose workers die) is printed as one JSON line; exit 8.
# A "." every round: once the caller has gone (SSH channel closed) the write fails, it ends.
_WATCH = r"""
import json, re, sys, time, xmlrpc.client
from supervisor.xmlrpc import SupervisorTransport
sock, deadline = sys.argv[1], time.time() + float(sys.argv[2])
expected = {name: int(pid) for name, _, pid in (a.rpartition("=") for a in sys.argv[3:])}
rpc = xmlrpc.client.ServerProxy(
    "http://localhost", transport=SupervisorTransport(None, None, "unix://" + sock)
).supervisor
seen = {name: None for name in expected}
died = {name: 0 for name in expected}
born = {name: 0 for name in expected}


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return {int(p) for p in f.read().split()}
    except (OSError, ValueError):
        return None


def exit_status(name, info):
    # A restarted process's info has lost the exit status; supervisord's log still says it.
    # Returns (status, whether supervisord logged an exit of it).
    try:
        log = rpc.readLog(-20000, 0)
    except xmlrpc.client.Fault:
        return info["exitstatus"], False
    found = re.findall(r"exited: " + re.escape(name) + r" \(exit status (\d+)", log)
    return (int(found[-1]), True) if found else (info["exitstatus"], False)


def verdict(name, info, workers_died=0):
    status, logged = exit_status(name, info)
    print(json.dumps({
        "program": name, "state": info["statename"].lower(), "pid": info["pid"],
        "expected_pid": expected[name], "exit_status": status, "exited": logged,
        "spawn_error": info["spawnerr"], "workers_died": workers_died,
    }), flush=True)
    sys.exit(8)


while True:
    for name, pid in expected.items():
        info = rpc.getProcessInfo(name)
        if info["statename"] != "RUNNING" or info["pid"] != pid:
            verdict(name, info)
        now = children(pid)
        if now is None:
            continue
        if seen[name] is not None:
            died[name] += len(seen[name] - now)
            if died[name]:
                born[name] += len(now - seen[name])
        seen[name] = now
        if died[name] >= 2 and born[name] >= 2:
            verdict(name, info, died[name])
    if time.time() >= deadline:
        break
    print(".", end="", flush=True)
    time.sleep(0.1)
"""


def watch_argv(app_dir: str, tools: str, pids: dict[str, int], *, seconds: float) -> list[str]:
    """Watch running programs (name -> the pid they started with) for `seconds` (0: look once);
    exits 8 with a JSON line describing the first that stopped, restarted or lost workers."""
    python = posixpath.join(tools, "bin", "python")
    socket = supervisor_socket_path(app_dir)
    pairs = [f"{name}={pid}" for name, pid in sorted(pids.items())]
    return [python, "-c", _WATCH, socket, f"{seconds:g}", *pairs]


def started_ago(output: str) -> float:
    """How long before the start script ended it started its programs (0.0 when not said)."""
    for line in output.splitlines():
        if line.startswith("@started ") and line.endswith("s ago"):
            try:
                return float(line[len("@started ") : -len("s ago")])
            except ValueError:
                break
    return 0.0


def parse_started(output: str) -> dict[str, int]:
    """Pids by program from the start script's "NAME: started (pid N)" lines."""
    found = {}
    for line in output.splitlines():
        name, _, outcome = line.partition(": ")
        match = _PID.search(outcome) if outcome.startswith("started") else None
        if match:
            found[name] = int(match[1])
    return found


# Runs on the host with the tools venv's Python: `supervisorctl status` without supervisorctl's
# start-up: the same lines (NAME STATE DESCRIPTION) and exit codes (4: nothing answers on the
# socket, 3: a program stopped, exited or fatal, 1: supervisord answered with a fault).
_STATUS = f"""
import errno, socket, sys, xmlrpc.client
from supervisor.xmlrpc import SupervisorTransport
rpc = xmlrpc.client.ServerProxy(
    "http://localhost", transport=SupervisorTransport(None, None, "unix://" + sys.argv[1])
).supervisor
try:
    infos = rpc.getAllProcessInfo()
except xmlrpc.client.Fault as fault:
    print(f"ERROR: {{fault.faultString}}")
    sys.exit(1)
except OSError as error:
    said = {{errno.ECONNREFUSED: "refused connection", errno.ENOENT: "no such file"}}
    print(f"unix://{{sys.argv[1]}} {{said.get(error.errno, error)}}")
    sys.exit({STATUS_UNREACHABLE} if error.errno in said else 1)
for info in infos:
    name = info["name"] if info["name"] == info["group"] else f"{{info['group']}}:{{info['name']}}"
    print(f"{{name:<32}} {{info['statename']:<10}} {{info['description']}}")
stopped = ("STOPPED", "EXITED", "FATAL", "UNKNOWN")
sys.exit({STATUS_NOT_RUNNING} if any(i["statename"] in stopped for i in infos) else 0)
"""


def status_argv(app_dir: str, tools: str) -> list[str]:
    """Every program's state, as `supervisorctl status` prints it and exits."""
    python = posixpath.join(tools, "bin", "python")
    return [python, "-c", _STATUS, supervisor_socket_path(app_dir)]


_ALIVE = f"""
import socket, sys
client = socket.socket(socket.AF_UNIX)
try:
    client.connect(sys.argv[1])
except OSError:
    sys.exit({STATUS_UNREACHABLE})
"""


def alive_argv(app_dir: str, python: str) -> list[str]:
    """Exits 4, as `supervisorctl status` does, when nothing answers on supervisord's socket;
    the host's Python and one connect, not supervisorctl's start-up."""
    return [python, "-c", _ALIVE, supervisor_socket_path(app_dir)]
