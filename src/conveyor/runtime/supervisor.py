"""Supervisor as the runtime: one supervisord per app per host, driven through its socket.

Layout under `<app_dir>/runtime/`: `supervisord.conf`, `supervisor.sock` (mode
0700, no inet server), `supervisord.log`, `supervisord.pid` and `programs/`
with one `<name>.conf` per program, so adding a colour never rewrites the main
config. Builders only: nothing here runs a command.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import get_args

from conveyor.errors import ConfigError
from conveyor.runtime.base import Program, ProgramState, ProgramStatus, socket_path

# supervisorctl exit codes (LSB): `status` with a program not running, and no supervisord.
STATUS_NOT_RUNNING = 3
STATUS_UNREACHABLE = 4
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# supervisor's config parser ends a value at whitespace followed by ";" or "#".
_INLINE_COMMENT = re.compile(r"\s[;#]")
_STATUS_LINE = re.compile(r"^(\S+)\s+([A-Z]+)\s*(.*)$")
_PID = re.compile(r"\bpid (\d+)")
_STATES: dict[str, ProgramState] = {state.upper(): state for state in get_args(ProgramState)}
_MAIN = "supervisord.conf"
_HERE = "%(here)s"


def runtime_dir(app_dir: str) -> str:
    """`<app_dir>/runtime`: supervisor's and Caddy's files."""
    return posixpath.join(app_dir, "runtime")


def supervisord_conf_path(app_dir: str) -> str:
    """The main supervisord config file."""
    return posixpath.join(runtime_dir(app_dir), "supervisord.conf")


def supervisor_socket_path(app_dir: str) -> str:
    """The unix socket supervisorctl talks to."""
    return socket_path(app_dir, "supervisor.sock")


def program_conf_path(app_dir: str, name: str) -> str:
    """Where program `name`'s config file goes."""
    return posixpath.join(runtime_dir(app_dir), "programs", f"{name}.conf")


def render_supervisord_conf(app_dir: str) -> str:
    """The main config: socket-only control, logs and pid under runtime/, programs included."""
    run = runtime_dir(app_dir)
    socket = _ini(_MAIN, "socket", supervisor_socket_path(app_dir))
    return "\n".join(
        [
            "; Written by conveyor: the app's supervisord. Do not edit.",
            "[unix_http_server]",
            f"file = {socket}",
            "chmod = 0700",
            "",
            "[supervisord]",
            f"logfile = {_ini(_MAIN, 'logfile', posixpath.join(run, 'supervisord.log'))}",
            "logfile_maxbytes = 10MB",
            "logfile_backups = 3",
            f"pidfile = {_ini(_MAIN, 'pidfile', posixpath.join(run, 'supervisord.pid'))}",
            f"childlogdir = {_ini(_MAIN, 'childlogdir', run)}",
            f"directory = {_ini(_MAIN, 'directory', app_dir)}",
            "umask = 027",
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[supervisorctl]",
            f"serverurl = unix://{socket}",
            "",
            "[include]",
            f"files = {_ini(_MAIN, 'include', posixpath.join(run, 'programs', '*.conf'))}",
            "",
        ]
    )


def render_program(program: Program) -> str:
    """One `[program:x]` section; each process is its own group, so `start x` names it."""
    where = f'program "{program.name}"'
    lines = [
        f"[program:{program.name}]",
        f"command = {_ini(where, 'command', shlex.join(program.argv), quoted=True)}",
        f"directory = {_ini(where, 'cwd', program.cwd)}",
    ]
    if program.env:
        lines.append(f"environment = {_ini(where, 'environment', _environment(program))}")
    restart = program.autorestart
    lines += [
        f"autostart = {str(program.autostart).lower()}",
        f"autorestart = {restart if isinstance(restart, str) else str(restart).lower()}",
        f"startsecs = {program.startsecs}",
        "startretries = 3",
        f"stopsignal = {program.stopsignal}",
        f"stopwaitsecs = {program.stopwaitsecs}",
        # Signals go to the whole process group, so a worker's children stop with it.
        "stopasgroup = true",
        "killasgroup = true",
        "redirect_stderr = true",
        f"stdout_logfile = {_ini(where, 'stdout_log', program.stdout_log)}",
        "stdout_logfile_maxbytes = 10MB",
        "stdout_logfile_backups = 3",
        "",
    ]
    return "\n".join(lines)


def supervisord_start(app_dir: str, tools: str) -> list[str]:
    """Start the app's supervisord; it daemonizes once its socket listens."""
    return [posixpath.join(tools, "bin", "supervisord"), "-c", supervisord_conf_path(app_dir)]


def supervisorctl(app_dir: str, tools: str, *args: str) -> list[str]:
    """`supervisorctl ARGS...` against the app's supervisord, through its socket."""
    ctl = posixpath.join(tools, "bin", "supervisorctl")
    return [ctl, "-c", supervisord_conf_path(app_dir), *args]


def supervisorctl_update(app_dir: str, tools: str) -> list[str]:
    """Reread program files: add new programs, restart changed ones, stop and drop removed ones."""
    return supervisorctl(app_dir, tools, "update")


def supervisorctl_start(app_dir: str, tools: str, name: str) -> list[str]:
    """Start a program; exits 0 once it has stayed up `startsecs` (or was already running)."""
    return supervisorctl(app_dir, tools, "start", name)


# Runs on the host with the tools venv's Python, in one process (a supervisorctl call costs a
# Python start-up and its imports each): `stop=NAME` stops a program as `supervisorctl stop`
# does and says so in its words; then `update` (as supervisorctl's: reread the program files,
# stop and drop removed programs, restart changed ones, add new ones); then start the other
# NAMEs without waiting for each in turn (supervisorctl waits `startsecs` per program) and
# wait for all of them at once.
# Prints supervisorctl's "NAME: started (pid N)" / "NAME: ERROR (...)" lines; exits 7 on any
# error starting, 9 when `update` failed (nothing is started then), 1 when a stop failed.
_CONTROL = r"""
import sys, time, xmlrpc.client
from supervisor.xmlrpc import SupervisorTransport
sock, deadline, words = sys.argv[1], time.time() + float(sys.argv[2]), sys.argv[3:]
rpc = xmlrpc.client.ServerProxy(
    "http://localhost", transport=SupervisorTransport(None, None, "unix://" + sock)
).supervisor
stop_failed = False
for word in words:
    if word.startswith("stop="):
        name = word[len("stop="):]
        try:
            rpc.stopProcess(name)
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
            rpc.stopProcessGroup(group)
            rpc.removeProcessGroup(group)
        for group in changed:
            rpc.stopProcessGroup(group)
            rpc.removeProcessGroup(group)
            rpc.addProcessGroup(group)
        for group in added:
            rpc.addProcessGroup(group)
    except xmlrpc.client.Fault as fault:
        print(f"update: ERROR ({fault.faultString})")
        sys.exit(9)
names = [word for word in words if word != "update" and "=" not in word]
failed, pending = False, set(names)
for name in names:
    try:
        rpc.startProcess(name, False)
    except xmlrpc.client.Fault as fault:
        if "ALREADY_STARTED" not in fault.faultString:
            print(f"{name}: ERROR ({fault.faultString})")
            failed = True
            pending.discard(name)
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
) -> list[str]:
    """Start `names` together: each must reach RUNNING (stay up `startsecs`) within `timeout`.
    First, in the same process: stop `stop` (saying how each went), then `update`
    (supervisorctl's)."""
    python = posixpath.join(tools, "bin", "python")
    socket = supervisor_socket_path(app_dir)
    words = [
        *(f"stop={name}" for name in stop),
        *(["update"] if update else []),
        *names,
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


def parse_started(output: str) -> dict[str, int]:
    """Pids by program from the start script's "NAME: started (pid N)" lines."""
    found = {}
    for line in output.splitlines():
        name, _, outcome = line.partition(": ")
        match = _PID.search(outcome) if outcome.startswith("started") else None
        if match:
            found[name] = int(match[1])
    return found


_ALIVE = f"""
import socket, sys
client = socket.socket(socket.AF_UNIX)
try:
    client.connect(sys.argv[1])
except OSError:
    sys.exit({STATUS_UNREACHABLE})
"""


def supervisorctl_status(app_dir: str, tools: str) -> list[str]:
    """Every program's state; exits 3 when one is not running, 4 when supervisord is not up."""
    return supervisorctl(app_dir, tools, "status")


def supervisorctl_shutdown(app_dir: str, tools: str) -> list[str]:
    """Stop every program gracefully, then supervisord itself."""
    return supervisorctl(app_dir, tools, "shutdown")


def parse_status(output: str) -> dict[str, ProgramStatus]:
    """Program states by name from `supervisorctl status`; other lines are ignored."""
    states: dict[str, ProgramStatus] = {}
    for line in output.splitlines():
        match = _STATUS_LINE.match(line.strip())
        if match is None or match[2] not in _STATES:
            continue
        pid = _PID.search(match[3])
        states[match[1]] = ProgramStatus(
            name=match[1],
            state=_STATES[match[2]],
            pid=int(pid[1]) if pid else None,
            description=match[3],
        )
    return states


@dataclass(frozen=True)
class Supervisor:
    """The `Runtime` of one app on one host: its app_dir and the tools venv holding supervisor."""

    app_dir: str
    tools: str

    def files(self) -> dict[str, str]:
        """`runtime/supervisord.conf`."""
        return {supervisord_conf_path(self.app_dir): render_supervisord_conf(self.app_dir)}

    def boot_argv(self) -> list[str]:
        """`supervisord -c runtime/supervisord.conf`."""
        return supervisord_start(self.app_dir, self.tools)

    def unreachable(self, status_exit_code: int) -> bool:
        """supervisorctl exits 4 when it cannot reach supervisord."""
        return status_exit_code == STATUS_UNREACHABLE

    def alive_argv(self, python: str) -> list[str]:
        """Exits 4, as `supervisorctl status` does, when nothing answers on supervisord's
        socket; the host's Python and one connect, not supervisorctl's start-up."""
        return [python, "-c", _ALIVE, supervisor_socket_path(self.app_dir)]

    def program_path(self, name: str) -> str:
        """Where program `name`'s config file goes."""
        return program_conf_path(self.app_dir, name)

    def render_program(self, program: Program) -> str:
        """One `[program:x]` section."""
        return render_program(program)

    def apply_argv(self) -> list[str]:
        """`supervisorctl update`."""
        return supervisorctl_update(self.app_dir, self.tools)

    def start_argv(self, name: str) -> list[str]:
        """`supervisorctl start NAME`."""
        return supervisorctl_start(self.app_dir, self.tools, name)

    def stop_argv(self, name: str) -> list[str]:
        """`supervisorctl stop NAME`, its words included, without supervisorctl's start-up."""
        return control_argv(self.app_dir, self.tools, [], stop=[name])

    def shutdown_argv(self) -> list[str]:
        """`supervisorctl shutdown`: every program stops gracefully, then supervisord exits."""
        return supervisorctl_shutdown(self.app_dir, self.tools)

    def status_argv(self) -> list[str]:
        """`supervisorctl status`."""
        return supervisorctl_status(self.app_dir, self.tools)

    def parse_status(self, output: str) -> dict[str, ProgramStatus]:
        """Program states by name."""
        return parse_status(output)


def _environment(program: Program) -> str:
    """`KEY="value",...`: the only quoting supervisor's environment parser understands."""
    pairs = []
    for key, value in sorted(program.env.items()):
        if not _ENV_KEY.fullmatch(key):
            raise ConfigError(f'program "{program.name}": invalid environment name {key!r}')
        # The parser strips every quote at either end and has no escapes.
        if '"' in value or value.startswith("'") or value.endswith("'"):
            raise ConfigError(
                f'program "{program.name}": the value of {key} cannot be written to a '
                "supervisor config: it contains a double quote or starts or ends with '",
                hint="Put the value in the environment's .env file instead.",
            )
        pairs.append(f'{key}="{value}"')
    return ",".join(pairs)


def _ini(where: str, what: str, value: str, *, quoted: bool = False) -> str:
    """`value` escaped for supervisor's config (`%` -> `%%`), or a ConfigError if it cannot be."""
    if any(c in value for c in "\n\r\0") or _INLINE_COMMENT.search(value):
        raise ConfigError(
            f"{where}: {what} cannot be written to a supervisor config: "
            f"it contains a line break, a NUL or whitespace before ; or #: {value!r}"
        )
    escaped = value.replace("%", "%%")
    # supervisor replaces the text "%(here)s" before any other expansion, even in "%%(here)s".
    if _HERE in escaped:
        if not quoted:
            raise ConfigError(
                f"{where}: {what} cannot be written to a supervisor config: "
                f"it contains {_HERE}: {value!r}"
            )
        # shlex.join single-quoted the argument (it has "("): an empty '' splits the text.
        escaped = escaped.replace("%%(here)s", "%%(''here)s")
    return escaped
