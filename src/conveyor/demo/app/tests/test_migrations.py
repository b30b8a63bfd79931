"""Alembic: the migrations build the models' schema on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, inspect, text

from movies import db, worker
from movies.models import Base
from tests.conftest import APP_DIR, alembic_config

TABLES = {"alembic_version", "movies", "ratings", "recommendations"}
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def alembic(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the alembic command line the way a deploy does."""
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(APP_DIR / "alembic.ini"), *args],
        cwd=cwd,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=True,
    )


def test_alembic_upgrade_head_on_a_fresh_sqlite_file(app_env: Path) -> None:
    alembic("upgrade", "head", cwd=app_env)

    engine = create_engine(f"sqlite:///{app_env / 'movies.db'}")
    with engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) == TABLES
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == "0002"
    engine.dispose()


def test_downgrade_to_base_and_up_again(migrated: Engine) -> None:
    command.downgrade(alembic_config(), "base")
    with migrated.connect() as connection:
        assert set(inspect(connection).get_table_names()) == {"alembic_version"}

    command.upgrade(alembic_config(), "head")
    with migrated.connect() as connection:
        assert set(inspect(connection).get_table_names()) == TABLES


def test_migrations_match_the_models(migrated: Engine) -> None:
    with migrated.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_offline_sql_for_postgresql_builds_the_index_concurrently(
    monkeypatch: pytest.MonkeyPatch, app_env: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://movies@127.0.0.1:5432/movies")

    sql = alembic("upgrade", "head", "--sql", cwd=app_env).stdout

    assert "CREATE TABLE movies" in sql
    assert "CREATE INDEX CONCURRENTLY ix_recommendations_user_rank" in sql
    assert "UPDATE alembic_version SET version_num='0002'" in sql


@pytest.fixture
def postgres_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A throwaway PostgreSQL database, dropped afterwards; skips if the server is down."""
    admin = create_engine(
        ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = f"movies_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any failure here means "no server to test on"
        admin.dispose()
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 is not usable: {type(exc).__name__}")
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    monkeypatch.setenv("DATABASE_URL", url)
    db.reset()
    try:
        yield url
    finally:
        db.reset()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_whole_app_on_postgresql(postgres_url: str, app_env: Path) -> None:
    alembic("upgrade", "head", cwd=app_env)
    engine = db.get_engine()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []

    from movies.main import app

    with TestClient(app) as client:  # startup seeds the empty database
        assert client.get("/health").json()["status"] == "ok"
        live = client.get("/api/v1/predict?user_id=3").json()
        assert worker.run_once(engine, limit=10).rows == 300
        stored = client.get("/api/v1/predict?user_id=3").json()

    assert (live["source"], stored["source"]) == ("live", "precomputed")
    assert stored["recommendations"] == live["recommendations"]
    alembic("downgrade", "base", cwd=app_env)
