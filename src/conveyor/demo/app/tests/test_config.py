"""Settings, the .env.example schema that documents them, and the demo's env files."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from movies.config import LOG_LEVELS, Settings

APP_DIR = Path(__file__).resolve().parents[1]
# Conveyor's demo keeps per-environment files next to the app; a copy of the app alone has none.
FIXTURES = APP_DIR.parent / "fixtures"
STRONG_SECRET = "k" * 32
TYPE_TAGS = {"int": "int", "SecretStr": "secret"}


def example_entries() -> list[tuple[str, str, str, str]]:
    """(key, value, trailing type tag, description comment) per .env.example entry."""
    entries = []
    comment = ""
    for line in (APP_DIR / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            comment = line[2:]
        elif "=" in line:
            assignment, _, tag = line.partition("  # ")
            key, _, value = assignment.partition("=")
            entries.append((key, value, tag, comment))
            comment = ""
    return entries


def test_env_example_lists_every_setting_in_order_with_its_description() -> None:
    fields = Settings.model_fields

    assert [key for key, *_ in example_entries()] == list(fields)
    for key, _value, _tag, comment in example_entries():
        assert comment == fields[key].description, key


def test_env_example_values_are_the_defaults_and_required_ones_are_empty() -> None:
    for key, value, _tag, _comment in example_entries():
        field = Settings.model_fields[key]
        expected = "" if field.is_required() else str(field.default)
        assert value == expected, key


def test_env_example_tags_every_non_str_setting_with_its_type() -> None:
    tags = {key: tag for key, _value, tag, _comment in example_entries()}
    for key, field in Settings.model_fields.items():
        name = getattr(field.annotation, "__name__", str(field.annotation))
        if name in TYPE_TAGS and key != "API_PORT":
            assert tags[key] == TYPE_TAGS[name], key
    # Narrower than the Python type, so Conveyor can check ranges and spellings.
    assert tags["API_PORT"] == "port"
    assert tags["LOG_LEVEL"] == "one of " + "|".join(LOG_LEVELS)
    assert tags["DATABASE_URL"] == tags["REDIS_URL"] == "url"
    assert tags["ADMIN_EMAIL"] == "email"
    assert tags["ENVIRONMENT"] == ""


def test_jwt_secret_is_required_and_masked() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET_KEY"):
        Settings(_env_file=None, JWT_SECRET_KEY=None)

    settings = Settings(_env_file=None, JWT_SECRET_KEY="hunter2")
    assert "hunter2" not in repr(settings)


@pytest.mark.parametrize(
    ("environment", "secret", "message"),
    [
        ("staging", "short", "at least 32 characters when ENVIRONMENT=staging"),
        ("production", "dev-secret-key-change-in-production", "sample value"),
    ],
)
def test_weak_secret_is_refused_outside_development(
    environment: str, secret: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None, ENVIRONMENT=environment, JWT_SECRET_KEY=secret)


def test_weak_secret_is_fine_in_development() -> None:
    settings = Settings(_env_file=None, JWT_SECRET_KEY="dev")

    assert settings.ENVIRONMENT == "development"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("API_PORT", "80800"),
        ("API_PORT", "0"),
        ("RECOMMENDATIONS_LIMIT", "0"),
        ("LOG_LEVEL", "verbose"),
        ("WORKER_INTERVAL_SECONDS", "0"),
    ],
)
def test_out_of_range_values_are_refused(
    key: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(key, value)

    with pytest.raises(ValidationError, match=key):
        Settings(_env_file=None)


def test_log_level_is_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "WARNING")

    assert Settings(_env_file=None).LOG_LEVEL == "warning"


def test_dot_env_in_the_working_directory_is_read(app_env: Path) -> None:
    (app_env / ".env").write_text("RECOMMENDATIONS_LIMIT=7  # int\nUNRELATED=1\n")

    assert Settings().RECOMMENDATIONS_LIMIT == 7


@pytest.fixture
def no_app_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the env file under test provides values."""
    for key in Settings.model_fields:
        monkeypatch.delenv(key, raising=False)


@pytest.mark.parametrize("environment", ["development", "staging"])
def test_demo_env_files_for_development_and_staging_are_valid(
    environment: str, no_app_env: None
) -> None:
    path = FIXTURES / f".env.{environment}"
    if not path.exists():
        pytest.skip(f"{path} is not shipped with this copy of the app")

    settings = Settings(_env_file=path)

    assert settings.model_dump(include={"ENVIRONMENT"}) == {"ENVIRONMENT": environment}


def test_demo_env_file_for_production_is_broken_on_purpose(no_app_env: None) -> None:
    path = FIXTURES / ".env.production"
    if not path.exists():
        pytest.skip(f"{path} is not shipped with this copy of the app")

    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=path)

    assert [e["loc"] for e in caught.value.errors()] == [("API_PORT",)]
