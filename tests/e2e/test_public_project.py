"""A project like fastapi/full-stack-fastapi-template through init and config check."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from conveyor.settings.schema import schema_from_example
from tests.conftest import Project
from tests.e2e.public_project import FILES

STRONG = "Zx8kq2LmP0vR7tY3wQ9nB4cH6jF1sD5g"
STAGING = """\
PROJECT_NAME=app
SECRET_KEY=Qm4tR8yU2iO6pA1sD5fG9hJ3kL7zX0cV
ACCESS_TOKEN_EXPIRE_MINUTES=11520
EMAIL_RESET_TOKEN_EXPIRE_HOURS=48
ENVIRONMENT=staging
POSTGRES_SERVER=db
POSTGRES_USER=app
POSTGRES_PASSWORD=Pw7xK2mQ9rT4vY8zB3nL6cF1hJ5sD0gA
SMTP_PASSWORD=
TOKEN_AUDIENCE=conveyor-app
"""
PRODUCTION = f"""\
PROJECT_NAME=app
SECRET_KEY={STRONG}
ACCESS_TOKEN_EXPIRE_MINUTES=11520
EMAIL_RESET_TOKEN_EXPIRE_HOURS=48
ENVIRONMENT=production
POSTGRES_SERVER=db
POSTGRES_USER=app
POSTGRES_PASSWORD=Lk3jH8gF2dS7aQ1wE6rT9yU4iO0pZ5xC
SMTP_PASSWORD=
TOKEN_AUDIENCE=conveyor-app
"""
GIVEN = f"SENTRY_DSN=https://{STRONG}@o1.ingest.sentry.io/1\nSMTP_PASSWORD={STRONG[::-1]}\n"


@pytest.fixture
def template(make_project: Callable[..., Project]) -> Project:
    project = make_project(FILES)
    result = project.run("init")
    assert result.code == 0, result.err
    return project


def test_numbers_named_like_tokens_are_not_secrets(template: Project) -> None:
    """`ACCESS_TOKEN_EXPIRE_MINUTES: int` is a number: neither weak nor copied when the same."""
    production = PRODUCTION.replace("SMTP_PASSWORD=\n", GIVEN)
    production = production.replace("TOKEN_AUDIENCE=conveyor-app", f"TOKEN_AUDIENCE={STRONG[1:]}")
    template.write({".env.staging": STAGING, ".env.production": production}, mode=0o600)
    result = template.run("config", "check", "production")
    assert result.out == "ok: .env.production matches app.core.config:Settings (14 keys)\n"
    assert result.code == 0


def test_optional_fields_may_be_absent_or_empty(template: Project) -> None:
    """`SENTRY_DSN: HttpUrl | None = None` absent and `SMTP_PASSWORD: str | None` empty: unset."""
    production = PRODUCTION.replace("TOKEN_AUDIENCE=conveyor-app", f"TOKEN_AUDIENCE={STRONG[1:]}")
    template.write({".env.staging": STAGING, ".env.production": production}, mode=0o600)
    result = template.run("config", "check", "production")
    assert result.out == "ok: .env.production matches app.core.config:Settings (14 keys)\n"
    assert result.code == 0


def test_env_example_marks_a_key_secret_or_not(template: Project) -> None:
    """`# not secret` and `# secret` in `.env.example` decide, after the declared type."""
    example = (template.root / ".env.example").read_text()
    marks = {
        "TOKEN_AUDIENCE": "TOKEN_AUDIENCE=conveyor-app  # not secret",
        "PROJECT_NAME": "PROJECT_NAME=  # secret",
        "EMAIL_RESET_TOKEN_EXPIRE_HOURS": "EMAIL_RESET_TOKEN_EXPIRE_HOURS=48  # secret",
    }
    example = "".join(
        marks.get(line.partition("=")[0], line) + "\n" for line in example.splitlines()
    )
    template.write({".env.example": example, ".env.staging": STAGING}, mode=0o600)
    production = PRODUCTION.replace("SMTP_PASSWORD=\n", GIVEN)
    template.write({".env.production": production}, mode=0o600)
    result = template.run("config", "check", "production")
    assert result.out == (
        ".env.production:1: PROJECT_NAME: error: same secret as in .env.staging:1 (staging); "
        "give production its own value [copied-secret]\n"
        ".env.production:1: PROJECT_NAME: error: the secret is shorter than 16 characters; "
        "production needs a strong, unique value [weak-secret]\n"
        ".env.production: 2 error(s), 0 warning(s)\n"
    )
    assert result.code == 1


def test_init_writes_computed_defaults_and_literal_choices(template: Project) -> None:
    """`60 * 24 * 8` is written as 11520; a `Literal` is a one-of type; calls stay empty."""
    example = (template.root / ".env.example").read_text()
    assert "\nACCESS_TOKEN_EXPIRE_MINUTES=11520  # int\n" in example
    assert "\nENVIRONMENT=local  # one of local|staging|production\n" in example
    assert "\nSECRET_KEY=  # secret\n" in example  # secrets.token_urlsafe(32): no value to show
    assert "\nSENTRY_DSN=  # url\n" in example
    # The file init wrote is a schema conveyor reads back with the same types.
    schema = schema_from_example(template.root / ".env.example")
    environment = schema.get("ENVIRONMENT")
    assert environment is not None and environment.choices == ("local", "staging", "production")
    minutes = schema.get("ACCESS_TOKEN_EXPIRE_MINUTES")
    assert minutes is not None and (minutes.type, minutes.default) == ("int", "11520")


def test_init_finds_the_health_route_behind_router_prefixes(template: Project) -> None:
    """`include_router(api_router, prefix=settings.API_V1_STR)` + `APIRouter(prefix="/utils")`."""
    toml = (template.root / "conveyor.toml").read_text()
    assert '\nhealth = "/api/v1/utils/health-check/"\n' in toml


def test_init_sets_app_python_from_requires_python(template: Project) -> None:
    """requires-python ">=3.10,<4.0" and conveyor on 3.X: app.python is "3.X", which meets it."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    toml = (template.root / "conveyor.toml").read_text()
    assert f'\npython = "{running}"   # meets requires-python ">=3.10,<4.0"\n' in toml
