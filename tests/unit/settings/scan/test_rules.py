"""Which literal values break which rule."""

from __future__ import annotations

import pytest

from conveyor.settings.scan.rules import (
    RULES,
    classify,
    classify_url,
    is_dev_host,
    is_reference,
    is_secret_target,
    masked,
    severity_for,
)

SEED_DB = "postgresql://admin:admin123@localhost:5435/stocktrading"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DATABASE_URL", SEED_DB, ("url-credentials", SEED_DB)),
        (None, SEED_DB, ("url-credentials", SEED_DB)),
        (
            None,
            "mysql+pymysql://app:pw123@db.internal/app",
            ("url-credentials", "mysql+pymysql://app:pw123@db.internal/app"),
        ),
        (
            None,
            "mongodb+srv://u:p4ss@cluster0.example.net/db",
            ("url-credentials", "mongodb+srv://u:p4ss@cluster0.example.net/db"),
        ),
        (
            None,
            "rediss://:s3cret@cache.example.com:6380/0",
            ("url-credentials", "rediss://:s3cret@cache.example.com:6380/0"),
        ),
        (
            None,
            "amqps://guest:guest@rabbit:5671//",
            ("url-credentials", "amqps://guest:guest@rabbit:5671//"),
        ),
        (
            "API_BASE_URL",
            "http://localhost:8000/api/v1",
            ("dev-host-url", "http://localhost:8000/api/v1"),
        ),
        (None, "http://127.0.0.1:8000", ("dev-host-url", "http://127.0.0.1:8000")),
        (None, "http://0.0.0.0:8080/", ("dev-host-url", "http://0.0.0.0:8080/")),
        (None, "http://[::1]:8000/x", ("dev-host-url", "http://[::1]:8000/x")),
        (
            None,
            "http://host.docker.internal:9000",
            ("dev-host-url", "http://host.docker.internal:9000"),
        ),
        (None, "http://192.168.219.103:8086", ("dev-host-url", "http://192.168.219.103:8086")),
        (None, "redis://10.0.0.5:6379/0", ("dev-host-url", "redis://10.0.0.5:6379/0")),
        (
            "DOCS_URL",
            "https://docs.example.com/x",
            ("hard-coded-url", "https://docs.example.com/x"),
        ),
        (
            "DATABASE_URL",
            "postgresql://u@db.example.com/a",
            ("hard-coded-url", "postgresql://u@db.example.com/a"),
        ),
        ("DB_PASSWORD", "admin123", ("hard-coded-secret", "admin123")),
        ("password", "x", ("hard-coded-secret", "x")),
        (
            "JWT_SECRET_KEY",
            "dev-secret-key-change-in-production",
            ("hard-coded-secret", "dev-secret-key-change-in-production"),
        ),
        ("API_TOKEN", "abc12345", ("hard-coded-secret", "abc12345")),
        ("DB_HOST", "localhost", ("hard-coded-host", "localhost")),
        ("DB_HOST", "db.example.com", ("hard-coded-host", "db.example.com")),
        ("DB_PORT", "5435", ("hard-coded-port", "5435")),
        ("NOTE", "key AKIAIOSFODNN7EXAMPLE here", ("known-token", "AKIAIOSFODNN7EXAMPLE")),
        (None, "ghp_" + "a" * 36, ("known-token", "ghp_" + "a" * 36)),
        (
            None,
            "see postgresql://a:hunter22@db/x for details",
            ("url-credentials", "postgresql://a:hunter22@db/x"),
        ),
    ],
)
def test_findings(name: str | None, value: str, expected: tuple[str, str]) -> None:
    match = classify(name, value)
    assert match is not None
    assert (match.rule, match.value) == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "postgresql://${DB_USER}:${DB_PASSWORD}@${DB_HOST}/app"),
        ("DATABASE_URL", "postgresql://{user}:{password}@{host}:{port}/{name}"),
        ("DATABASE_URL", "postgresql://user:<password>@db/app"),
        (None, "postgresql://user:********@db/app"),
        (None, "postgresql://user@db.example.com/app"),
        ("API_KEY_URL", "https://${HOST}/v1"),
        ("DB_PASSWORD", "changeme"),
        ("DB_PASSWORD", "${DB_PASSWORD}"),
        ("DB_PASSWORD", "%(password)s"),
        ("DB_PASSWORD", ""),
        ("TOKEN_TYPE", "bearer"),
        ("API_KEY_HEADER", "X-API-Key"),
        ("SECRET_KEY", "short"),
        ("DB_HOST", "not a host"),
        ("DB_HOST", "db"),
        ("DB_PORT", "99999"),
        ("NAME", "localhost"),
        (None, "just text"),
        (None, "see http://localhost:8000 for the docs"),
        (None, "http://[bad"),
    ],
)
def test_not_findings(name: str | None, value: str) -> None:
    assert classify(name, value) is None


def test_int_ports() -> None:
    match = classify("REDIS_PORT", "6380", is_int=True)
    assert match is not None and match.rule == "hard-coded-port"
    assert classify("REDIS_PORT", "0", is_int=True) is None
    assert classify("RETRIES", "3", is_int=True) is None
    assert classify(None, "5432", is_int=True) is None


def test_dev_hosts() -> None:
    assert all(
        is_dev_host(h)
        for h in (
            "localhost",
            "LOCALHOST",
            "127.0.0.2",
            "0.0.0.0",
            "[::1]",
            "web.localhost",
            "172.16.0.9",
        )
    )
    assert not any(is_dev_host(h) for h in ("example.com", "8.8.8.8", "db"))


def test_helpers() -> None:
    assert is_secret_target("DB_PASSWORD") and is_secret_target("db_userpassword")
    assert not is_secret_target("PASSWORD_MIN_LENGTH") and not is_secret_target("")
    assert is_reference("${X}") and is_reference("<x>") and not is_reference("admin123")
    assert classify_url("postgresql://a:b@[::1") is None
    assert (
        masked("url-credentials", SEED_DB)
        == "postgresql://admin:********@localhost:5435/stocktrading"
    )
    assert masked("known-token", "AKIAIOSFODNN7EXAMPLE") == "AKIA********"
    assert masked("hard-coded-secret", "admin123") == "********"
    assert masked("dev-host-url", "http://localhost") == "http://localhost"
    assert severity_for("url-credentials", in_tests=False) == "high"
    assert severity_for("url-credentials", in_tests=True) == "low"
    assert {rule.severity for rule in RULES.values()} == {"low", "medium", "high"}
