"""Where things live on a host, and which ports each colour of a service gets."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from conveyor.deploy.state import Colour
from conveyor.project.environment import EnvironmentConfig
from conveyor.project.fields import parse_host
from conveyor.project.model import ConveyorConfig, ServiceConfig

BASE_PORT = 8100
DEFAULT_LISTEN = ":8080"


class KnowsHome(Protocol):
    """What expands "~" in an app_dir: the host's connector, once connected."""

    @property
    def home(self) -> str | None:
        """The login user's home on the host, or None when not known (yet)."""
        ...


def expand_home(app_dir: str, home: str | None, *, host: str = "the host") -> str:
    """`~/x` under the host's `home`; a path without "~" as it is."""
    if app_dir != "~" and not app_dir.startswith("~/"):
        return app_dir
    if home is None:
        # A programming error, not a user's: paths are read only after connecting.
        raise RuntimeError(f"{app_dir} on {host}: the host's home is not known before connecting")
    return posixpath.join(home, app_dir[2:]) if app_dir != "~" else home


@dataclass(frozen=True)
class HostPaths:
    """The app's directories on one host (DESIGN.md, "On a host"); `written` may start with
    "~", the host's home, which `home` (its connector) knows once connected."""

    written: str
    home: KnowsHome | None = None

    @property
    def app_dir(self) -> str:
        """The app's directory, "~" expanded on the host's terms."""
        return expand_home(self.written, None if self.home is None else self.home.home)

    def _join(self, *parts: str) -> str:
        return posixpath.join(self.app_dir, *parts)

    @property
    def releases(self) -> str:
        """`releases/`: one immutable directory per release."""
        return self._join("releases")

    def release(self, release_id: str) -> str:
        """`releases/<id>`."""
        return self._join("releases", release_id)

    @property
    def objects(self) -> str:
        """Content-addressed store the uploads link from."""
        return self._join("objects")

    def venv(self, key: str) -> str:
        """`venvs/<lock hash + python>`: shared by every release with the same lock."""
        return self._join("venvs", key)

    @property
    def env_file(self) -> str:
        """`shared/.env`, mode 0600."""
        return self._join("shared", ".env")

    @property
    def state(self) -> str:
        """`state.json`: the host's own record of what runs."""
        return self._join("state.json")

    @property
    def schema(self) -> str:
        """`schema.json`: the migration host's record of the database's schema
        (`migrations/record.py`)."""
        return self._join("schema.json")

    @property
    def current(self) -> str:
        """`current -> releases/<id>`."""
        return self._join("current")

    @property
    def launcher(self) -> str:
        """The script that starts a service with the release's venv and `.env`."""
        return self._join("runtime", "launch.py")

    @property
    def migrator(self) -> str:
        """The script that runs the project's Alembic migrations under conveyor's locks."""
        return self._join("runtime", "host_alembic.py")

    @property
    def backuper(self) -> str:
        """The module beside it that dumps, verifies and restores the database."""
        return self._join("runtime", "host_backup.py")

    @property
    def rehearser(self) -> str:
        """The module beside it that rehearses pending migrations on a copy."""
        return self._join("runtime", "host_rehearse.py")

    @property
    def backups(self) -> str:
        """Where the database's dumps are kept (`backups/<id>.dump`)."""
        return self._join("backups")

    @property
    def retirer(self) -> str:
        """The script that stops an old colour once its warm time is over."""
        return self._join("runtime", "retire.py")

    @property
    def tools(self) -> str:
        """The tools venv (supervisor, caddy)."""
        return self._join("tools")

    def log(self, program: str) -> str:
        """A program's log file."""
        return self._join("logs", f"{program}.log")


def app_dir_for(config: ConveyorConfig, env: EnvironmentConfig, host: str, root: Path) -> str:
    """The app's directory on `host` for this environment: the host's own `app_dir`, else the
    environment's; one starting with "~" is left for the host to expand (`expand_home`)."""
    address = parse_host(host)
    chosen = env.host_options(host).app_dir or env.app_dir
    if chosen is not None:
        chosen = chosen.replace("{host}", address.host)
        return chosen if chosen.startswith(("/", "~")) else str(root / chosen)
    if address.is_local:
        return str(root / ".conveyor" / "hosts" / env.name)
    return f"/srv/{config.app.name}/{env.name}"


def ports(config: ConveyorConfig, name: str) -> dict[Colour, int]:
    """The blue and green ports of service `name`."""
    service = config.services[name]
    base = service.port or BASE_PORT + 2 * list(config.services).index(name)
    return {"blue": base, "green": base + 1}


def listen_address(service: ServiceConfig, host_listen: str | None = None) -> str:
    """Where Caddy listens for an http service: the host's own address for it (a host table's
    `listen`), else the service's `listen`, else ":8080"."""
    return host_listen or service.listen or DEFAULT_LISTEN


def loopback_port(listen: str) -> tuple[str, int]:
    """The address a probe on the host itself uses for `listen` (":8080" -> 127.0.0.1)."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    return (host if host not in ("", "0.0.0.0", "::") else "127.0.0.1"), int(port)


def services_on(
    config: ConveyorConfig, roles: Mapping[str, Sequence[str]], host: str
) -> dict[str, ServiceConfig]:
    """The command services `host` runs: those of its roles; a singleton only on the first
    host (in the environment's order) that has one of its roles."""
    mine = set(roles[host])
    chosen = {}
    for name, service in config.services.items():
        if service.command is None or not mine & set(service.roles):
            continue
        if service.resolved_kind == "singleton":
            first = next(h for h, r in roles.items() if set(r) & set(service.roles))
            if first != host:
                continue
        chosen[name] = service
    return chosen


def syncs_on(
    config: ConveyorConfig, roles: Mapping[str, Sequence[str]], host: str
) -> dict[str, ServiceConfig]:
    """The sync services (files copied into place, then `after`) of `host`'s roles."""
    mine = set(roles[host])
    return {
        name: service
        for name, service in config.services.items()
        if service.sync is not None and mine & set(service.roles)
    }


def has_work(config: ConveyorConfig, roles: Mapping[str, Sequence[str]], host: str) -> bool:
    """True when `host` runs a service, receives a sync, or may run the migrations or the
    release command; a host with none of these (say a database host with a role of its
    own) gets nothing at all."""
    for once in (config.migrations, config.release):
        if once is not None and once.run_on in roles[host]:
            return True
    return bool(services_on(config, roles, host) or syncs_on(config, roles, host))


def idle_reason(roles: Sequence[str]) -> str:
    """What the plan and the deploy say of a host with nothing to run."""
    return f"nothing to run here (roles {', '.join(roles)}): gets no tools and no release"


@dataclass(frozen=True)
class HostServices:
    """A host's command services by how they change over: behind Caddy, beside, one at a time."""

    http: dict[str, ServiceConfig]
    workers: dict[str, ServiceConfig]
    singletons: dict[str, ServiceConfig]


def services_by_kind(
    config: ConveyorConfig, roles: Mapping[str, Sequence[str]], host: str
) -> HostServices:
    """`services_on`, split by kind."""
    services = services_on(config, roles, host)

    def of(kind: str) -> dict[str, ServiceConfig]:
        return {n: s for n, s in services.items() if s.resolved_kind == kind}

    return HostServices(of("http"), of("worker"), of("singleton"))
