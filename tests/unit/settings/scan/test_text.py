"""Other files by text rules."""

from __future__ import annotations

import textwrap

from conveyor.settings.scan.text import scan_text


def found(text: str) -> list[tuple[int, int, str, str, str | None]]:
    result = scan_text("f", textwrap.dedent(text), in_tests=False)
    assert all(not f.fixable and f.context == "text" for f in result)
    return [(f.line, f.column, f.rule, f.value, f.name) for f in result]


def test_compose_file() -> None:
    text = """
        services:
          db:
            environment:
              POSTGRES_DB: ${DB_NAME:-stocktrading}
              POSTGRES_PASSWORD: admin123
              POSTGRES_USER: "${DB_USER}"
            healthcheck:
              test: curl -f http://localhost:8000/health
          backend:
            environment:
              - DATABASE_URL=postgresql://admin:admin123@postgres:5432/stocktrading
    """
    assert found(text) == [
        (6, 26, "hard-coded-secret", "admin123", "POSTGRES_PASSWORD"),
        # A healthcheck's `test:` is a command line: the URL in it names no setting.
        (9, 21, "dev-host-url", "http://localhost:8000/health", None),
        (
            12,
            22,
            "url-credentials",
            "postgresql://admin:admin123@postgres:5432/stocktrading",
            "DATABASE_URL",
        ),
    ]


def test_shell_ini_and_dockerfile_lines() -> None:
    text = """
        export PGPASSWORD=admin123
        ENV DB_HOST=localhost
        password = 'hunter2'  ; a comment after the value
        db_port = 5435  # the port
        ARG API_TOKEN="${TOKEN}"
        key: AKIAIOSFODNN7EXAMPLE
        url = "https://example.com"
    """
    assert found(text) == [
        (2, 19, "hard-coded-secret", "admin123", "PGPASSWORD"),
        (3, 13, "hard-coded-host", "localhost", "DB_HOST"),
        (4, 12, "hard-coded-secret", "hunter2", "password"),
        (5, 11, "hard-coded-port", "5435", "db_port"),
        (7, 6, "known-token", "AKIAIOSFODNN7EXAMPLE", "key"),
    ]


def test_lines_without_values_are_skipped_fast() -> None:
    assert found("just words\n\n# comment\n") == []


def test_a_url_in_a_ci_steps_command_is_named_by_what_it_is() -> None:
    """A monorepo's workflow: `run:` lines are commands, so their URLs are proposed as
    DATABASE_URL and API_BASE_URL, never settings.RUN and settings.RUN_2."""
    text = """
        steps:
          - run: curl -f http://localhost:8000/api/v1/utils/health-check/
          - run: psql postgresql://postgres:postgres@localhost:5432/app -c "select 1"
    """
    findings = scan_text(".github/workflows/ci.yml", textwrap.dedent(text), in_tests=False)
    assert [(f.rule, f.proposal) for f in findings] == [
        ("dev-host-url", "API_BASE_URL"),
        ("url-credentials", "DATABASE_URL"),
    ]
