"""Throwaway databases on the real PostgreSQL of this machine (127.0.0.1:5432, trust auth;
`make services` starts it where it does not run)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

SERVER = "postgresql://postgres@127.0.0.1:5432"


@contextmanager
def fresh_database(prefix: str = "conveyor_test") -> Iterator[str]:
    """A new, empty database `<prefix>_<hex>`; yields its URL (libpq form), drops it after."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER}/{name}"
    finally:
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
