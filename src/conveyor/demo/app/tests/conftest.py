"""Fixtures: a fresh SQLite database per test, migrated and seeded on request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from movies import db

APP_DIR = Path(__file__).resolve().parents[1]
TEST_SECRET = "test-only-jwt-key-0123456789abcdefghij"

# Variables the app reads; a developer's shell must not leak into a test.
APP_ENV = (
    "ENVIRONMENT",
    "DATABASE_URL",
    "REDIS_URL",
    "JWT_SECRET_KEY",
    "API_PORT",
    "LOG_LEVEL",
    "RECOMMENDATIONS_LIMIT",
    "ADMIN_EMAIL",
    "WORKER_INTERVAL_SECONDS",
    "APP_VERSION",
    "CONVEYOR_COLOR",
)


def alembic_config() -> Config:
    """The app's alembic.ini, without reconfiguring the test run's logging."""
    config = Config(str(APP_DIR / "alembic.ini"))
    config.attributes["configure_logger"] = False
    return config


@pytest.fixture(autouse=True)
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A clean environment in an empty working directory (so no stray .env is read)."""
    for name in APP_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JWT_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'movies.db'}")
    db.reset()
    yield tmp_path
    db.reset()


@pytest.fixture
def migrated() -> Engine:
    """The test database at the head revision, empty."""
    command.upgrade(alembic_config(), "head")
    return db.get_engine()


@pytest.fixture
def seeded(migrated: Engine) -> Engine:
    """The test database with the bundled dataset loaded."""
    db.seed(migrated)
    return migrated


@pytest.fixture
def client(seeded: Engine) -> Iterator[TestClient]:
    """An HTTP client for the app, running its startup and shutdown."""
    from movies.main import app

    with TestClient(app) as test_client:
        yield test_client
