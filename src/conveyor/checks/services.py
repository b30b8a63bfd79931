"""The services a check step needs (a database, a cache): each must accept a connection first.

A step that needs PostgreSQL fails in a way a person can act on ("pytest needs
DATABASE_URL (127.0.0.1:5433), which does not accept a connection") instead of
deep inside a test's traceback. Only the host and port are ever shown: the URL
may carry a password.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit

# The port a URL means when it names none, by scheme (a "+driver" suffix aside).
DEFAULT_PORTS = {
    "postgresql": 5432,
    "postgres": 5432,
    "mysql": 3306,
    "mariadb": 3306,
    "redis": 6379,
    "rediss": 6379,
    "amqp": 5672,
    "amqps": 5671,
    "mongodb": 27017,
    "nats": 4222,
    "mqtt": 1883,
    "http": 80,
    "https": 443,
}
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TIMEOUT = 2.0


class ServiceProblem(Exception):
    """A needed service that is not set, cannot be read, or does not answer."""


def address(entry: str, environ: Mapping[str, str]) -> tuple[str, str, int]:
    """(what to call it, host, port) for a `services` entry: a key whose value is a URL or
    "host:port", or a "host:port" itself."""
    label, value = entry, entry
    if _KEY.fullmatch(entry):
        if not environ.get(entry):
            raise ServiceProblem(
                f"needs {entry}, which is not set: add it to the checks environment's file "
                "([checks] env) or export it"
            )
        value = environ[entry]
    unreadable = ServiceProblem(
        f"needs {label}, whose value is no URL or host:port it can read (a '#', '?' or '/' "
        "in a URL's password must be percent-encoded)"
    )
    try:
        if "://" in value:
            parts = urlsplit(value)
            # An "@" left outside the netloc: the password holds a '#', '?' or '/', and what
            # urlsplit calls the host would be part of the password.
            if "@" in value and "@" not in parts.netloc:
                raise unreadable
            scheme = parts.scheme.partition("+")[0].lower()
            host, port = parts.hostname, parts.port or DEFAULT_PORTS.get(scheme)
        else:
            if "@" in value or "/" in value:
                raise unreadable
            host, _, number = value.rpartition(":")
            port = int(number)
    except ValueError:
        host, port = None, None
    if not host or port is None:
        raise ServiceProblem(
            f"needs {label}, whose value names no host and port (expected a URL such as "
            "postgresql://host:5432/db, or host:port)"
        )
    return label, host, port


def unreachable(services: tuple[str, ...], environ: Mapping[str, str]) -> str | None:
    """Why the first of `services` cannot be used, or None when each accepts a connection."""
    for entry in services:
        try:
            label, host, port = address(entry, environ)
        except ServiceProblem as problem:
            return str(problem)
        try:
            socket.create_connection((host, port), timeout=TIMEOUT).close()
        except OSError as error:
            why = error.strerror or str(error) or type(error).__name__
            where = f"{host}:{port}"
            named = where if label == where else f"{label} ({where})"
            return (
                f"needs {named}, which does not accept a connection ({why}): "
                "start that service, or fix the value"
            )
    return None
