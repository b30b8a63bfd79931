"""A host of an environment: "user@host", or a table with settings of that host's own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field, GetJsonSchemaHandler, PlainValidator, WithJsonSchema
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from conveyor.project.fields import HOST_PATTERN, NAME_PATTERN, Host, Section, _check_host, show
from conveyor.project.references import Problem
from conveyor.suggest import suggestion_suffix

if TYPE_CHECKING:
    from conveyor.project.model import ConveyorConfig

LISTEN_PATTERN = r"^([A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$"
# Absolute, or under the SSH user's home: "~" is expanded on the host, never on the controller.
APP_DIR_PATTERN = r"^(/|~/|~$)"
_LISTEN = 'an address like ":80" or "10.0.0.5:80"'
# A key people may expect per host, refused saying why (the SSH port is in `host`).
PORT_REFUSAL = (
    "\"port\" cannot vary per host: a service's blue and green ports are on the host's "
    "loopback, behind Caddy, and the same on every host (services.NAME.port); what the "
    'world reaches is "listen" (per host here), and the SSH port goes in "host" '
    '("user@host:2222")'
)


def _check_listen(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(LISTEN_PATTERN, value):
        raise ValueError(f"expected {_LISTEN}, got {show(value)}")
    if not 0 < int(value.rpartition(":")[2]) < 65536:
        raise ValueError(f"expected a port from 1 to 65535, got {show(value)}")
    return value


def _check_listen_override(value: object) -> str | dict[str, str]:
    """A string (the one http service of the host), or a table by http service."""
    if isinstance(value, str):
        return _check_listen(value)
    if not isinstance(value, dict):
        raise ValueError(
            f'expected {_LISTEN}, or a table by service like {{ web = ":80" }}, got {show(value)}'
        )
    checked: dict[str, str] = {}
    for name, address in value.items():
        if not re.fullmatch(NAME_PATTERN, name):
            raise ValueError(f'expected service names as keys, got "{name}"')
        try:
            checked[name] = _check_listen(address)
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None
    return checked


def _check_app_dir(value: object) -> str:
    if not isinstance(value, str) or not re.match(APP_DIR_PATTERN, value):
        raise ValueError(
            'expected an absolute path or one under the SSH user\'s home ("~/app"), '
            f"got {show(value)}"
        )
    return value


AppDir = Annotated[
    str,
    PlainValidator(_check_app_dir),
    WithJsonSchema({"type": "string", "pattern": APP_DIR_PATTERN, "format": "host path"}),
]
ListenOverride = Annotated[
    str | dict[str, str],
    PlainValidator(_check_listen_override),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": LISTEN_PATTERN},
                {
                    "type": "object",
                    "additionalProperties": {"type": "string", "pattern": LISTEN_PATTERN},
                },
            ]
        }
    ),
]


class HostOptions(Section):
    """One host written as a table: the host, and what differs on it (never the ports)."""

    host: Host = Field(description='"local", "user@host" or "user@host:port".')
    app_dir: AppDir | None = Field(
        default=None,
        description="The app's directory on this host; \"~\" is the SSH user's home there "
        '(asked of the host when conveyor connects), "{host}" the host\'s name. '
        "Not set: the environment's `app_dir`.",
    )
    listen: ListenOverride | None = Field(
        default=None,
        description="Where Caddy listens on this host, replacing the service's `listen`: "
        '"10.0.0.5:80" for the host\'s one http service, or a table by service, '
        '{ web = "10.0.0.5:80", admin = "127.0.0.1:8081" }.',
    )

    def listen_for(self, service: str) -> str | None:
        """This host's own address for http `service`, if it has one."""
        if isinstance(self.listen, str):
            return self.listen
        return None if self.listen is None else self.listen.get(service)


def _entry(value: Any) -> Any:
    """A plain "user@host" becomes a table with only `host`, checked as a host first so that
    its error is the one a host string always had."""
    if isinstance(value, str):
        return {"host": _check_host(value)}
    if not isinstance(value, dict):
        raise ValueError(
            'expected "user@host", "user@host:port", "local" or a table '
            f'{{ host = "user@host", ... }}, got {show(value)}'
        )
    if "port" in value:
        raise ValueError(PORT_REFUSAL)
    return value


class _EntrySchema:
    """The JSON schema of an entry: a host string, or the HostOptions table."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "anyOf": [
                {"type": "string", "format": "host", "pattern": HOST_PATTERN},
                handler(schema),
            ]
        }


HostEntry = Annotated[HostOptions, BeforeValidator(_entry), _EntrySchema()]


def listen_problems(config: ConveyorConfig) -> Iterator[Problem]:
    """A host's `listen` must name http services that run on that host; a plain address
    needs exactly one of them there."""
    for env_name, env in config.environments.items():
        roles: dict[str, set[str]] = {}
        for role, hosts in env.hosts.items():
            for host in hosts:
                roles.setdefault(host, set()).add(role)
        for role, entries in env.entries.items():
            for index, entry in enumerate(entries):
                if entry.listen is None:
                    continue
                path = ("environments", env_name, "hosts", role, index, "listen")
                http = [
                    name
                    for name, service in config.services.items()
                    if service.resolved_kind == "http" and roles[entry.host] & set(service.roles)
                ]
                yield from _listen_names(entry, http, path)


def _listen_names(
    entry: HostOptions, http: list[str], path: tuple[str | int, ...]
) -> Iterator[Problem]:
    here = f"{entry.host} runs"
    runs = f"{here} the http services {', '.join(http)}" if http else f"{here} no http service"
    if isinstance(entry.listen, str):
        if len(http) != 1:
            yield Problem(
                path,
                f"a plain address is for a host with one http service, and {runs}: "
                f"give a table by service, e.g. {{ {http[0] if http else 'web'} = "
                f'"{entry.listen}" }}',
            )
        return
    for name in entry.listen or {}:
        if name not in http:
            yield Problem(
                (*path, name),
                f'no http service "{name}" runs on {entry.host}{suggestion_suffix(name, http)}; '
                f"{runs}",
            )


def local_hosts(data: dict[str, Any]) -> dict[str, list[str]]:
    """Roles named by the raw services, migrations and release tables, each on "local"."""
    roles: list[object] = []
    services = data.get("services")
    for service in services.values() if isinstance(services, dict) else ():
        if isinstance(service, dict) and isinstance(service.get("roles"), list):
            roles.extend(service["roles"])
    for section in ("migrations", "release"):
        table = data.get(section)
        if isinstance(table, dict):
            roles.append(table.get("run_on"))
    # Misspelt roles are left out here; validation reports them against the services.
    named = [r for r in roles if isinstance(r, str) and re.fullmatch(NAME_PATTERN, r)]
    return {role: ["local"] for role in dict.fromkeys(named)} or {"app": ["local"]}
