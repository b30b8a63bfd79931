"""docker-compose.yml (one service per conveyor service) and one override per environment."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from conveyor.deploy.layout import listen_address
from conveyor.export.dockerfile import (
    HEADER,
    INTERVAL,
    RETRIES,
    START_PERIOD,
    TIMEOUT,
    Container,
    containers,
    health_argv,
)
from conveyor.project.model import ConveyorConfig

BASE_FILE = "docker-compose.yml"
MIGRATE = "migrate"
# Development's own database and cache; the app reaches them by service name.
POSTGRES_IMAGE, REDIS_IMAGE = "postgres:16-bookworm", "redis:7-bookworm"
POSTGRES_PACKAGES = frozenset(
    {"psycopg", "psycopg-binary", "psycopg2", "psycopg2-binary", "asyncpg"}
)
REDIS_PACKAGES = frozenset({"redis", "celery", "huey", "rq", "arq", "dramatiq"})


@dataclass(frozen=True)
class Needs:
    """The servers a development environment starts beside the app."""

    postgres: bool = False
    redis: bool = False


def needs_of(packages: Iterable[str], settings: Iterable[str]) -> Needs:
    """PostgreSQL and Redis, from the locked package names and the settings' keys."""
    names = set(packages)
    keys = [key.upper() for key in settings]
    postgres = bool(names & POSTGRES_PACKAGES) or any("POSTGRES" in k for k in keys)
    redis = bool(names & REDIS_PACKAGES) or any("REDIS" in k for k in keys)
    return Needs(postgres=postgres, redis=redis)


def duration(value: timedelta) -> str:
    """A compose duration: "30s", or "1500ms" when it is not whole seconds."""
    milliseconds = round(value.total_seconds() * 1000)
    return f"{milliseconds // 1000}s" if milliseconds % 1000 == 0 else f"{milliseconds}ms"


def override_file(environment: str) -> str:
    """docker-compose.<environment>.yml."""
    return f"docker-compose.{environment}.yml"


def usage(environment: str) -> str:
    """The command that runs an environment."""
    return f"docker compose -f {BASE_FILE} -f {override_file(environment)} up -d"


def published(config: ConveyorConfig, container: Container) -> str:
    """`[address:]port:container-port`: the service's public `listen` address, as Caddy's."""
    host, _, port = listen_address(config.services[container.name]).rpartition(":")
    return f"{host}:{port}:{container.port}" if host else f"{port}:{container.port}"


def base_compose(config: ConveyorConfig) -> dict[str, Any]:
    """Services, commands, ports, health checks and restart policies; no values."""
    image = f"{config.app.name}:latest"
    services: dict[str, Any] = {}
    for container in containers(config):
        service: dict[str, Any] = {
            "build": ".",
            "image": image,
            # Compose reads `$` in a command as its own variable; `$$` is a literal one.
            "command": [arg.replace("$", "$$") for arg in container.argv],
        }
        if container.health_url is not None:
            service["ports"] = [published(config, container)]
            service["healthcheck"] = {
                "test": ["CMD", *health_argv(container.health_url)],
                "interval": INTERVAL,
                "timeout": TIMEOUT,
                "retries": RETRIES,
                "start_period": START_PERIOD,
            }
        else:
            service["healthcheck"] = {"disable": True}  # the image's check is the web one
        service["restart"] = "unless-stopped"
        service["stop_grace_period"] = duration(config.services[container.name].drain)
        if config.migrations is not None:
            service["depends_on"] = {MIGRATE: {"condition": "service_completed_successfully"}}
        services[container.name] = service
    if config.migrations is not None:
        services[MIGRATE] = {
            "build": ".",
            "image": image,
            "command": ["alembic", "-c", config.migrations.config, "upgrade", "head"],
            "restart": "no",
            "healthcheck": {"disable": True},
        }
    return {"services": services}


def env_compose(config: ConveyorConfig, environment: str, needs: Needs) -> dict[str, Any]:
    """The environment's values file for every app service; development's servers."""
    env = config.environment(environment)
    app = [c.name for c in containers(config)]
    if config.migrations is not None:
        app.append(MIGRATE)
    services: dict[str, Any] = {name: {"env_file": [env.resolved_env_file]} for name in app}
    if env.is_production_like:
        return {"services": services}
    servers = _servers(config, needs)
    for name in app:
        services[name]["depends_on"] = {s: {"condition": "service_healthy"} for s in servers}
    services.update(servers)
    return {"services": services}


def _servers(config: ConveyorConfig, needs: Needs) -> dict[str, Any]:
    servers: dict[str, Any] = {}
    if needs.postgres:
        servers["postgres"] = {
            "image": POSTGRES_IMAGE,
            # A throwaway development database on the compose network only: no password.
            "environment": {"POSTGRES_DB": config.app.name, "POSTGRES_HOST_AUTH_METHOD": "trust"},
            "healthcheck": {
                "test": ["CMD", "pg_isready", "-U", "postgres"],
                "interval": "2s",
                "timeout": "5s",
                "retries": 30,
            },
        }
    if needs.redis:
        servers["redis"] = {
            "image": REDIS_IMAGE,
            "healthcheck": {
                "test": ["CMD", "redis-cli", "ping"],
                "interval": "2s",
                "timeout": "5s",
                "retries": 30,
            },
        }
    return servers


def header(environment: str, *, base: bool = False) -> str:
    """The comment at the top of a compose file: how it was made and how to run it."""
    if base:
        return f"{HEADER}\nRun with an environment's override, e.g.: {usage(environment)}"
    return f"{HEADER}\nRun: {usage(environment)}"
