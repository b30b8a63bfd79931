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
from dataclasses import dataclass
from typing import get_args

from conveyor.errors import ConfigError
from conveyor.runtime.base import (
    Program,
    ProgramState,
    ProgramStatus,
    program_conf_path,
    runtime_dir,
    supervisor_socket_path,
    supervisord_conf_path,
)
from conveyor.runtime.control import STATUS_UNREACHABLE, alive_argv, control_argv, status_argv

_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# supervisor's config parser ends a value at whitespace followed by ";" or "#".
_INLINE_COMMENT = re.compile(r"\s[;#]")
_STATUS_LINE = re.compile(r"^(\S+)\s+([A-Z]+)\s*(.*)$")
_PID = re.compile(r"\bpid (\d+)")
_STATES: dict[str, ProgramState] = {state.upper(): state for state in get_args(ProgramState)}
_MAIN = "supervisord.conf"
_HERE = "%(here)s"


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
        return alive_argv(self.app_dir, python)

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
        """`supervisorctl status`, its words and exit codes, without supervisorctl's start-up."""
        return status_argv(self.app_dir, self.tools)

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
