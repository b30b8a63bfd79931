"""Caddy as the proxy: one per app per host, run by the app's supervisor, admin API on a socket.

The boot config (JSON, `runtime/caddy.json`) puts the admin endpoint on
`runtime/caddy-admin.sock` (mode 0600; never a TCP port) and one plain-HTTP
server on the service's public address with a reverse proxy to the upstream
(which carries an `@id`). The upstream's `dial` is a `{file.*}` placeholder:
Caddy reads `runtime/<service>.upstream` on every request, so a switch is an
atomic rename of that file. Why not PATCH the dial through the admin API? Any
config change makes Caddy start a new server and shut the old one down, which
closes idle keep-alive connections; a client that sends on one at that moment
gets a reset (measured at ~150 req/s: 8 failed requests in 12 PATCH switches,
none in 12 file switches).
The file switch never touches connections: requests in flight finish on the
old colour, the next ones go to the new one, and a restarted Caddy reads the
same file.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from typing import Any

from conveyor.runtime.base import Program, check_socket_path, runtime_dir, socket_path

UPSTREAM_HOST = "127.0.0.1"
# How long a stop or reload lets requests in flight finish.
GRACE_PERIOD_S = 30

# Runs on the host with the tools venv's Python: write argv[2] to argv[1] atomically.
_WRITE = """\
import os, sys
path, text = sys.argv[1], sys.argv[2]
with open(path + ".tmp", "w") as f:
    f.write(text)
os.replace(path + ".tmp", path)
with open(path) as f:
    print(f.read(), end="")
"""

# Runs on the host with the tools venv's Python (hosts may lack curl):
# argv is socket, method, path, JSON body ("" for none); prints the response body.
_ADMIN = """\
import http.client, socket, sys
sock_path, method, path, body = sys.argv[1:5]
class Admin(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(sock_path)
try:
    conn = Admin("localhost", timeout=60)
    headers = {"Content-Type": "application/json"} if body else {}
    conn.request(method, path, body=body.encode() or None, headers=headers)
    response = conn.getresponse()
    text = response.read().decode()
except OSError as error:
    sys.exit(f"caddy admin socket {sock_path}: {error}")
if response.status >= 300:
    sys.exit(f"caddy admin {method} {path}: HTTP {response.status}: {text.strip()}")
sys.stdout.write(text)
"""


def caddy_config_path(app_dir: str) -> str:
    """The boot config Caddy runs with."""
    return posixpath.join(runtime_dir(app_dir), "caddy.json")


def caddy_admin_socket(app_dir: str) -> str:
    """The admin API's unix socket."""
    return socket_path(app_dir, "caddy-admin.sock")


def upstream_path(app_dir: str, service: str = "web") -> str:
    """The file holding the live upstream address of `service`."""
    return posixpath.join(runtime_dir(app_dir), f"{service}.upstream")


def upstream_id(service: str) -> str:
    """The `@id` of a service's upstream in the config."""
    return f"{service}-upstream"


def render_upstream(upstream_port: int) -> str:
    """The upstream file's content for 127.0.0.1:`upstream_port`."""
    return f"{UPSTREAM_HOST}:{upstream_port}\n"


def render_caddy_config(
    listen: str,
    upstream_file: str,
    admin_socket: str,
    *,
    service: str = "web",
    storage_dir: str | None = None,
    grace_period_s: int = GRACE_PERIOD_S,
) -> dict[str, Any]:
    """Caddy's JSON config: admin on the socket, `listen` proxied to the address in the file."""
    upstream = {"@id": upstream_id(service), "dial": f"{{file.{upstream_file}}}"}
    server = {
        "listen": [listen],
        # Plain HTTP on a private address: no certificates, no redirect server on :80.
        "automatic_https": {"disable": True},
        "routes": [{"handle": [{"handler": "reverse_proxy", "upstreams": [upstream]}]}],
    }
    config: dict[str, Any] = {
        "admin": {
            # "|0600": Caddy creates the socket with this mode; there is no TCP admin listener.
            "listen": f"unix/{check_socket_path(admin_socket)}|0600",
            # The file conveyor wrote is the source of truth; Caddy keeps no autosave copy.
            "config": {"persist": False},
        },
        "apps": {"http": {"grace_period": f"{grace_period_s}s", "servers": {service: server}}},
    }
    if storage_dir is not None:
        config["storage"] = {"module": "file_system", "root": storage_dir}
    return config


def caddy_run_argv(tools: str, config_path: str) -> list[str]:
    """Run Caddy in the foreground with the JSON boot config (supervisor keeps it up)."""
    return [posixpath.join(tools, "bin", "caddy"), "run", "--config", config_path]


def caddy_program(app_dir: str, tools: str, *, name: str = "caddy") -> Program:
    """Caddy as a supervisor program, its state and log under runtime/."""
    run = runtime_dir(app_dir)
    data = posixpath.join(run, "caddy")
    return Program(
        name=name,
        argv=tuple(caddy_run_argv(tools, caddy_config_path(app_dir))),
        cwd=run,
        stdout_log=posixpath.join(run, f"{name}.log"),
        env={"XDG_DATA_HOME": data, "XDG_CONFIG_HOME": data},
        stopsignal="TERM",
        stopwaitsecs=GRACE_PERIOD_S + 5,
    )


def caddy_switch_argv(tools: str, upstream_file: str, upstream_port: int) -> list[str]:
    """Route new requests to 127.0.0.1:`upstream_port`: an atomic rewrite of the upstream file,
    then the file read back (printed as `caddy_upstream_argv` prints it): one round trip."""
    python = posixpath.join(tools, "bin", "python")
    return [python, "-c", _WRITE, upstream_file, render_upstream(upstream_port)]


def caddy_upstream_argv(upstream_file: str) -> list[str]:
    """Print the live upstream, e.g. `127.0.0.1:8001`."""
    return ["cat", upstream_file]


def parse_upstream_port(output: str) -> int:
    """The port from the output of `caddy_upstream_argv`."""
    host, _, port = output.strip().rpartition(":")
    if host != UPSTREAM_HOST or not port.isdigit():
        raise ValueError(f"unexpected upstream: {output.strip()!r}")
    return int(port)


def caddy_admin_argv(
    tools: str, admin_socket: str, method: str, path: str, body: object = None
) -> list[str]:
    """One admin API request through the unix socket; prints the response body."""
    payload = "" if body is None else json.dumps(body)
    python = posixpath.join(tools, "bin", "python")
    return [python, "-c", _ADMIN, admin_socket, method, path, payload]


def caddy_config_argv(tools: str, admin_socket: str) -> list[str]:
    """Print Caddy's running config; exits 0 once Caddy is up (poll it after a start)."""
    return caddy_admin_argv(tools, admin_socket, "GET", "/config/")


@dataclass(frozen=True)
class Caddy:
    """The `Proxy` of one app on one host, for one HTTP service."""

    app_dir: str
    tools: str
    service: str = "web"

    @property
    def config_path(self) -> str:
        """`runtime/caddy.json`."""
        return caddy_config_path(self.app_dir)

    @property
    def admin_socket(self) -> str:
        """`runtime/caddy-admin.sock`."""
        return caddy_admin_socket(self.app_dir)

    @property
    def upstream_path(self) -> str:
        """`runtime/<service>.upstream`."""
        return upstream_path(self.app_dir, self.service)

    def render_config(self, listen: str) -> bytes:
        """The boot config as JSON bytes."""
        storage = posixpath.join(runtime_dir(self.app_dir), "caddy")
        config = render_caddy_config(
            listen, self.upstream_path, self.admin_socket, service=self.service, storage_dir=storage
        )
        return (json.dumps(config, indent=2) + "\n").encode()

    def render_upstream(self, upstream_port: int) -> bytes:
        """The upstream file's content."""
        return render_upstream(upstream_port).encode()

    def program(self) -> Program:
        """Caddy as a supervisor program."""
        return caddy_program(self.app_dir, self.tools)

    def ready_argv(self) -> list[str]:
        """Exits 0 once Caddy answers on its admin socket."""
        return caddy_config_argv(self.tools, self.admin_socket)

    def switch_argv(self, upstream_port: int) -> list[str]:
        """Rewrite the upstream file atomically."""
        return caddy_switch_argv(self.tools, self.upstream_path, upstream_port)

    def upstream_argv(self) -> list[str]:
        """Print the upstream file."""
        return caddy_upstream_argv(self.upstream_path)

    def parse_upstream(self, output: str) -> int:
        """The live upstream port."""
        return parse_upstream_port(output)
