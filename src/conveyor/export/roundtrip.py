"""Compose files read back and compared with conveyor.toml: what drifted, file and key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conveyor.export.compose import BASE_FILE, MIGRATE, override_file, published
from conveyor.export.dockerfile import Container, containers, health_argv
from conveyor.export.yaml import load
from conveyor.project.model import ConveyorConfig


def merged(texts: Mapping[str, str], environment: str) -> dict[str, Any]:
    """The services of the base file with the environment's override laid over it."""
    services: dict[str, Any] = {}
    for name in (BASE_FILE, override_file(environment)):
        data = load(texts[name]) if name in texts else None
        layer = data.get("services") if isinstance(data, dict) else None
        _merge(services, layer if isinstance(layer, dict) else {})
    return services


def _merge(into: dict[str, Any], layer: Mapping[str, Any]) -> None:
    """Mappings merge key by key; anything else in the override replaces the base's."""
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def drift(config: ConveyorConfig, texts: Mapping[str, str]) -> list[str]:
    """Where the compose files disagree with conveyor.toml; [] when they match."""
    problems: list[str] = []
    for environment, env in config.environments.items():
        services = merged(texts, environment)
        override = override_file(environment)
        app = [c.name for c in containers(config)] + ([MIGRATE] if config.migrations else [])
        for name in app:
            if name not in services:
                problems.append(f"{BASE_FILE}: services.{name} is missing ({environment})")
                continue
            found = services[name].get("env_file")
            if found != [env.resolved_env_file]:
                problems.append(
                    f"{override}: services.{name}.env_file is {found!r}, "
                    f"conveyor.toml says [{env.resolved_env_file!r}]"
                )
        for container in containers(config):
            service = services.get(container.name)
            if not isinstance(service, dict):
                continue
            for key, value in _expected(config, container).items():
                got = _get(service, key)
                if got != value:
                    problems.append(
                        f"{BASE_FILE}: services.{container.name}.{key} is {got!r}, "
                        f"conveyor.toml says {value!r}"
                    )
        extra = set(services) - _known(config)
        problems += [f"{override}: services.{name} is not in conveyor.toml" for name in extra]
    return sorted(dict.fromkeys(problems))


def _expected(config: ConveyorConfig, container: Container) -> dict[str, Any]:
    """What conveyor.toml fixes for one service: its command, ports and health check."""
    expected: dict[str, Any] = {"command": [a.replace("$", "$$") for a in container.argv]}
    if container.health_url is None:
        expected["healthcheck.disable"] = True
    else:
        expected["ports"] = [published(config, container)]
        expected["healthcheck.test"] = ["CMD", *health_argv(container.health_url)]
    return expected


def _get(service: Mapping[str, Any], dotted: str) -> Any:
    value: Any = service
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _known(config: ConveyorConfig) -> set[str]:
    names = {c.name for c in containers(config)} | {MIGRATE, "postgres", "redis"}
    return names if config.migrations else names - {MIGRATE}
