"""Caddy builders: the JSON config, the program, the switch and admin argv, compared from data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.errors import ConfigError
from conveyor.proxy.caddy import (
    Caddy,
    caddy_admin_argv,
    caddy_config_argv,
    caddy_program,
    caddy_run_argv,
    caddy_switch_argv,
    caddy_upstream_argv,
    parse_upstream_port,
    render_caddy_config,
    render_upstream,
)
from conveyor.runtime.base import Program

APP = "/srv/movies"
TOOLS = "/srv/movies/tools"
PYTHON = "/srv/movies/tools/bin/python"
SOCKET = "/srv/movies/runtime/caddy-admin.sock"
UPSTREAM = "/srv/movies/runtime/web.upstream"


def test_config() -> None:
    assert render_caddy_config("127.0.0.1:8080", UPSTREAM, SOCKET) == {
        "admin": {
            "listen": "unix//srv/movies/runtime/caddy-admin.sock|0600",
            "config": {"persist": False},
        },
        "apps": {
            "http": {
                "grace_period": "30s",
                "servers": {
                    "web": {
                        "listen": ["127.0.0.1:8080"],
                        "automatic_https": {"disable": True},
                        "routes": [
                            {
                                "handle": [
                                    {
                                        "handler": "reverse_proxy",
                                        "upstreams": [
                                            {
                                                "@id": "web-upstream",
                                                "dial": "{file./srv/movies/runtime/web.upstream}",
                                            }
                                        ],
                                    }
                                ]
                            }
                        ],
                    }
                },
            }
        },
    }


def test_config_options() -> None:
    config = render_caddy_config(
        ":80", "/srv/a/runtime/api.upstream", SOCKET, service="api",
        storage_dir="/srv/a/runtime/caddy", grace_period_s=5,
    )  # fmt: skip
    assert config["storage"] == {"module": "file_system", "root": "/srv/a/runtime/caddy"}
    assert config["apps"]["http"]["grace_period"] == "5s"
    server = config["apps"]["http"]["servers"]["api"]
    assert server["listen"] == [":80"]
    upstream = server["routes"][0]["handle"][0]["upstreams"][0]
    assert upstream == {"@id": "api-upstream", "dial": "{file./srv/a/runtime/api.upstream}"}


def test_config_refuses_a_socket_path_too_long() -> None:
    with pytest.raises(ConfigError, match="unix sockets allow 107"):
        render_caddy_config("127.0.0.1:8080", UPSTREAM, "/" + "s" * 120)


def test_run_argv_and_program() -> None:
    assert caddy_run_argv(TOOLS, "/srv/movies/runtime/caddy.json") == [
        "/srv/movies/tools/bin/caddy",
        "run",
        "--config",
        "/srv/movies/runtime/caddy.json",
    ]
    assert caddy_program(APP, TOOLS) == Program(
        name="caddy",
        argv=("/srv/movies/tools/bin/caddy", "run", "--config", "/srv/movies/runtime/caddy.json"),
        cwd="/srv/movies/runtime",
        stdout_log="/srv/movies/runtime/caddy.log",
        env={
            "XDG_DATA_HOME": "/srv/movies/runtime/caddy",
            "XDG_CONFIG_HOME": "/srv/movies/runtime/caddy",
        },
        stopsignal="TERM",
        stopwaitsecs=35,
    )


def test_switch_and_upstream_argv() -> None:
    argv = caddy_switch_argv(TOOLS, UPSTREAM, 8002)
    assert argv[:2] == [PYTHON, "-c"]
    assert argv[3:] == [UPSTREAM, "127.0.0.1:8002\n"]
    assert "os.replace(" in argv[2]
    compile(argv[2], "<switch>", "exec")
    assert caddy_upstream_argv(UPSTREAM) == ["cat", UPSTREAM]
    assert render_upstream(8001) == "127.0.0.1:8001\n"


def test_admin_argv() -> None:
    argv = caddy_admin_argv(TOOLS, SOCKET, "PATCH", "/id/web-upstream/dial", "127.0.0.1:8002")
    assert argv[:2] == [PYTHON, "-c"]
    assert argv[3:] == [SOCKET, "PATCH", "/id/web-upstream/dial", '"127.0.0.1:8002"']
    compile(argv[2], "<admin>", "exec")
    assert caddy_config_argv(TOOLS, SOCKET)[3:] == [SOCKET, "GET", "/config/", ""]


@pytest.mark.parametrize(
    ("output", "port"), [("127.0.0.1:8001\n", 8001), ("127.0.0.1:65535", 65535)]
)
def test_parse_upstream_port(output: str, port: int) -> None:
    assert parse_upstream_port(output) == port


@pytest.mark.parametrize("output", ["", "10.0.0.1:8001", "127.0.0.1:http", "{file./x}"])
def test_parse_upstream_port_refuses_anything_else(output: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_upstream_port(output)
    assert str(raised.value) == f"unexpected upstream: {output.strip()!r}"


def test_caddy_proxy_delegates_to_the_builders() -> None:
    proxy = Caddy(APP, TOOLS)
    assert proxy.config_path == "/srv/movies/runtime/caddy.json"
    assert proxy.admin_socket == SOCKET
    assert proxy.upstream_path == UPSTREAM
    config = json.loads(proxy.render_config("127.0.0.1:8080"))
    assert config == render_caddy_config(
        "127.0.0.1:8080", UPSTREAM, SOCKET, storage_dir="/srv/movies/runtime/caddy"
    )
    assert proxy.render_upstream(8001) == b"127.0.0.1:8001\n"
    assert proxy.program() == caddy_program(APP, TOOLS)
    assert proxy.ready_argv() == caddy_config_argv(TOOLS, SOCKET)
    assert proxy.switch_argv(8002) == caddy_switch_argv(TOOLS, UPSTREAM, 8002)
    assert proxy.upstream_argv() == ["cat", UPSTREAM]
    assert proxy.parse_upstream("127.0.0.1:8002\n") == 8002


def test_the_switch_prints_the_file_it_wrote_read_back(tmp_path: Path) -> None:
    """Run for real (a local Python): what it prints is what the upstream file now holds."""
    upstream = tmp_path / "web.upstream"
    upstream.write_text(render_upstream(8001))
    script = caddy_switch_argv(TOOLS, str(upstream), 8002)[2]
    done = subprocess.run(
        [sys.executable, "-c", script, str(upstream), render_upstream(8002)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == upstream.read_text() == "127.0.0.1:8002\n"
    assert parse_upstream_port(done.stdout) == 8002
