"""Supervisor builders: config text, argv lists and status parsing, compared from data."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.errors import ConfigError
from conveyor.runtime.base import (
    Program,
    ProgramStatus,
    program_conf_path,
    socket_dir,
    socket_dir_argv,
    supervisor_socket_path,
)
from conveyor.runtime.control import STATUS_UNREACHABLE
from conveyor.runtime.supervisor import (
    Supervisor,
    parse_status,
    render_program,
    render_supervisord_conf,
    supervisorctl,
    supervisorctl_shutdown,
    supervisorctl_start,
    supervisorctl_update,
    supervisord_start,
)

APP = "/srv/movies"
TOOLS = "/srv/movies/tools"
CTL = ["/srv/movies/tools/bin/supervisorctl", "-c", "/srv/movies/runtime/supervisord.conf"]


def web_blue(**changes: object) -> Program:
    fields: dict[str, object] = {
        "name": "web-blue",
        "argv": ("/srv/movies/venvs/abc/bin/uvicorn", "movies.main:app", "--port", "8001"),
        "cwd": "/srv/movies/releases/r1",
        "stdout_log": "/srv/movies/runtime/web-blue.log",
        "env": {"PORT": "8001", "APP_ENV": "staging"},
        "stopwaitsecs": 20,
    }
    fields.update(changes)
    return Program(**fields)  # type: ignore[arg-type]


def test_supervisord_conf() -> None:
    assert render_supervisord_conf(APP) == (
        "; Written by conveyor: the app's supervisord. Do not edit.\n"
        "[unix_http_server]\n"
        "file = /srv/movies/runtime/supervisor.sock\n"
        "chmod = 0700\n"
        "\n"
        "[supervisord]\n"
        "logfile = /srv/movies/runtime/supervisord.log\n"
        "logfile_maxbytes = 10MB\n"
        "logfile_backups = 3\n"
        "pidfile = /srv/movies/runtime/supervisord.pid\n"
        "childlogdir = /srv/movies/runtime\n"
        "directory = /srv/movies\n"
        "umask = 027\n"
        "\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
        "\n"
        "[supervisorctl]\n"
        "serverurl = unix:///srv/movies/runtime/supervisor.sock\n"
        "\n"
        "[include]\n"
        "files = /srv/movies/runtime/programs/*.conf\n"
    )


def test_supervisord_conf_has_no_inet_server() -> None:
    assert "inet_http_server" not in render_supervisord_conf(APP)


def test_program() -> None:
    assert render_program(web_blue()) == (
        "[program:web-blue]\n"
        "command = /srv/movies/venvs/abc/bin/uvicorn movies.main:app --port 8001\n"
        "directory = /srv/movies/releases/r1\n"
        'environment = APP_ENV="staging",PORT="8001"\n'
        "autostart = false\n"
        "autorestart = true\n"
        "startsecs = 1\n"
        "startretries = 3\n"
        "stopsignal = TERM\n"
        "stopwaitsecs = 20\n"
        "stopasgroup = true\n"
        "killasgroup = true\n"
        "redirect_stderr = true\n"
        "stdout_logfile = /srv/movies/runtime/web-blue.log\n"
        "stdout_logfile_maxbytes = 10MB\n"
        "stdout_logfile_backups = 3\n"
    )


def test_program_options() -> None:
    text = render_program(
        web_blue(env={}, stopsignal="INT", autorestart="unexpected", startsecs=0, autostart=True)
    )
    assert "environment" not in text
    assert "stopsignal = INT\n" in text
    assert "autorestart = unexpected\n" in text
    assert "startsecs = 0\n" in text
    assert "autostart = true\n" in text


def test_program_splits_the_here_placeholder_in_a_command() -> None:
    text = render_program(web_blue(argv=("echo", "%(here)s", "%%(here)s")))
    assert "command = echo '%%(''here)s' '%%%%(''here)s'\n" in text


def test_program_quotes_arguments_and_escapes_percent() -> None:
    program = web_blue(argv=("celery", "-A", "app worker", "--fmt", "%(x)s"), env={"P": "50%"})
    text = render_program(program)
    assert "command = celery -A 'app worker' --fmt '%%(x)s'\n" in text
    assert 'environment = P="50%%"\n' in text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"argv": ("sh", "-c", "a ;b")},
            'program "web-blue": command cannot be written to a supervisor config: it contains a line break, a NUL or whitespace before ; or #: "sh -c \'a ;b\'"',
        ),
        (
            {"cwd": "/srv/a\nb"},
            "program \"web-blue\": cwd cannot be written to a supervisor config: it contains a line break, a NUL or whitespace before ; or #: '/srv/a\\nb'",
        ),
        (
            {"env": {"TOKEN": 'a"b'}},
            'program "web-blue": the value of TOKEN cannot be written to a supervisor config: it contains a double quote or starts or ends with \'\n'
            "Put the value in the environment's .env file instead.",
        ),
        (
            {"env": {"TOKEN": "'quoted'"}},
            'program "web-blue": the value of TOKEN cannot be written to a supervisor config: it contains a double quote or starts or ends with \'\n'
            "Put the value in the environment's .env file instead.",
        ),
        ({"env": {"1X": "v"}}, "program \"web-blue\": invalid environment name '1X'"),
        (
            {"stdout_log": "/srv/%(here)s.log"},
            "program \"web-blue\": stdout_log cannot be written to a supervisor config: it contains %(here)s: '/srv/%(here)s.log'",
        ),
    ],
)
def test_program_refuses_what_supervisor_cannot_hold(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        render_program(web_blue(**changes))
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "web:blue"}, "program name 'web:blue' must match ^[A-Za-z0-9][A-Za-z0-9_.-]*$"),
        ({"argv": ()}, "program 'web-blue' has an empty argv"),
        ({"stopwaitsecs": -1}, "program 'web-blue': stopwaitsecs and startsecs must be >= 0"),
    ],
)
def test_program_is_validated(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        web_blue(**changes)
    assert str(raised.value) == message


def test_a_deep_app_dir_gets_its_sockets_in_a_short_private_directory() -> None:
    app = "/srv/" + "a" * 90
    conf = render_supervisord_conf(app)
    digest = hashlib.sha256(app.encode()).hexdigest()[:16]
    assert f"file = /tmp/conveyor-{digest}/supervisor.sock" in conf
    assert socket_dir(app) == f"/tmp/conveyor-{digest}"
    assert socket_dir("/srv/movies") == "/srv/movies/runtime"


def test_socket_dir_is_created_private_and_a_foreign_one_refused(tmp_path: Path) -> None:
    app = str(tmp_path / ("d" * 100))
    done = subprocess.run(socket_dir_argv(app, sys.executable), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(os.stat(socket_dir(app)).st_mode) == 0o700
    os.chmod(socket_dir(app), 0o777)
    refused = subprocess.run(socket_dir_argv(app, sys.executable), capture_output=True, text=True)
    assert refused.returncode == 1
    assert "is not a private directory of this user" in refused.stderr
    os.rmdir(socket_dir(app))


def test_argv_builders() -> None:
    assert supervisord_start(APP, TOOLS) == [
        "/srv/movies/tools/bin/supervisord",
        "-c",
        "/srv/movies/runtime/supervisord.conf",
    ]
    assert supervisorctl(APP, TOOLS, "tail", "web-blue") == [*CTL, "tail", "web-blue"]
    assert supervisorctl_update(APP, TOOLS) == [*CTL, "update"]
    assert supervisorctl_start(APP, TOOLS, "web-green") == [*CTL, "start", "web-green"]
    assert supervisorctl_shutdown(APP, TOOLS) == [*CTL, "shutdown"]
    assert program_conf_path(APP, "web-blue") == "/srv/movies/runtime/programs/web-blue.conf"


def test_supervisor_runtime_delegates_to_the_builders() -> None:
    runtime = Supervisor(APP, TOOLS)
    assert runtime.files() == {"/srv/movies/runtime/supervisord.conf": render_supervisord_conf(APP)}
    assert runtime.boot_argv() == supervisord_start(APP, TOOLS)
    assert [runtime.unreachable(code) for code in (0, 3, 4)] == [False, False, True]
    assert runtime.program_path("web-blue") == "/srv/movies/runtime/programs/web-blue.conf"
    assert runtime.render_program(web_blue()) == render_program(web_blue())
    assert runtime.apply_argv() == [*CTL, "update"]
    assert runtime.start_argv("web-blue") == [*CTL, "start", "web-blue"]
    # A stop, as supervisorctl's, in the one-process control script (control_argv).
    assert runtime.stop_argv("web-blue")[-3:] == [
        supervisor_socket_path(APP),
        "30",
        "stop=web-blue",
    ]
    # supervisorctl status's words and exit codes, in the status script (the integration
    # test compares the two on a real supervisord).
    assert runtime.status_argv()[0] == "/srv/movies/tools/bin/python"
    assert runtime.status_argv()[-1] == supervisor_socket_path(APP)
    assert runtime.parse_status("") == {}


def test_alive_says_4_as_supervisorctl_status_does_when_nothing_answers(tmp_path: Path) -> None:
    """Run for real with this Python: no socket, and a socket file nobody listens on."""
    absent = subprocess.run(Supervisor(str(tmp_path), TOOLS).alive_argv(sys.executable))
    assert absent.returncode == STATUS_UNREACHABLE
    stale = socket.socket(socket.AF_UNIX)
    path = supervisor_socket_path(str(tmp_path))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    stale.bind(path)
    stale.close()  # the file stays; nothing listens (a supervisord that died)
    refused = subprocess.run(Supervisor(str(tmp_path), TOOLS).alive_argv(sys.executable))
    assert refused.returncode == STATUS_UNREACHABLE


STATUS = """\
caddy                            RUNNING   pid 4100, uptime 0:03:12
web-blue                         RUNNING   pid 4101, uptime 0:03:10
web-green                        STOPPED   Nov 23 03:14 PM
web-broken                       FATAL     Exited too quickly (process log may have details)
worker-r2                        STARTING
worker-r1                        BACKOFF   Exited too quickly (process log may have details)
nosuch: ERROR (no such process)
"""


def test_parse_status() -> None:
    states = parse_status(STATUS)
    assert states["caddy"] == ProgramStatus("caddy", "running", 4100, "pid 4100, uptime 0:03:12")
    assert states["web-green"] == ProgramStatus("web-green", "stopped", None, "Nov 23 03:14 PM")
    assert {name: s.state for name, s in states.items()} == {
        "caddy": "running",
        "web-blue": "running",
        "web-green": "stopped",
        "web-broken": "fatal",
        "worker-r2": "starting",
        "worker-r1": "backoff",
    }
    assert [name for name, s in states.items() if s.running] == ["caddy", "web-blue"]


def test_parse_status_of_unreachable_supervisord() -> None:
    output = "unix:///srv/movies/runtime/supervisor.sock no such file\n"
    assert parse_status(output) == {}
