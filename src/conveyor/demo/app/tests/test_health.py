"""GET /health: the release, its colour, and whether the database answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from movies.main import app


def test_health_ok_with_defaults(client: TestClient) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": "dev", "color": None}


def test_health_reports_version_and_colour_from_the_environment(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_VERSION", "1.4.0+g1a2b3c4")
    monkeypatch.setenv("CONVEYOR_COLOR", "green")

    response = client.get("/health")

    assert response.json() == {"status": "ok", "version": "1.4.0+g1a2b3c4", "color": "green"}


def test_health_is_503_when_the_sqlite_file_cannot_be_opened(
    app_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{app_env / 'no-such-dir' / 'movies.db'}")

    with TestClient(app) as client:  # starts although the dataset cannot be loaded
        response = client.get("/health")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "version": "dev",
        "color": None,
        "detail": "database unreachable",
    }


def test_health_is_503_when_postgresql_refuses_and_leaks_no_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Port 1 on loopback: nothing listens, so the connection is refused at once.
    monkeypatch.setenv("DATABASE_URL", "postgresql://movies:s3cret-pw@127.0.0.1:1/movies")

    with TestClient(app) as client:
        response = client.get("/health")

    assert response.status_code == 503
    assert "s3cret-pw" not in response.text
    assert "127.0.0.1" not in response.text


def test_app_refuses_to_start_without_a_jwt_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWT_SECRET_KEY")

    with pytest.raises(ValidationError, match="JWT_SECRET_KEY"), TestClient(app):
        pass
