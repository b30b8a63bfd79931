"""`conveyor config check`: every kind of finding, as the user sees it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest

from tests.conftest import Project

TOML = """\
[app]
name = "shop"
[environments.development]
hosts = { app = ["local"] }
[environments.staging]
hosts = { app = ["deploy@stage-1"] }
[environments.production]
hosts = { app = ["deploy@app-1"] }
"""
EXAMPLE = """\
# Where the database lives
DATABASE_URL=  # url
DB_PORT=5432  # int
DEBUG=false  # bool
ADMIN_EMAIL=ops@example.com  # email
JWT_SECRET_KEY=  # secret
LOG_LEVEL=info  # one of debug|info|warning
"""
STRONG = "Zx8kq2LmP0vR7tY3wQ9nB4cH6jF1sD5g"
GOOD = f"""\
DATABASE_URL=postgresql://shop:{STRONG}@10.0.0.5:5432/shop
JWT_SECRET_KEY=Qm4tR8yU2iO6pA1sD5fG9hJ3kL7zX0cV
"""


@pytest.fixture
def shop(make_project: Callable[..., Project]) -> Project:
    return make_project({"conveyor.toml": TOML, ".env.example": EXAMPLE})


def test_clean_environment_passes(shop: Project) -> None:
    shop.write({".env.production": GOOD}, mode=0o600)
    result = shop.run("config", "check", "production")
    assert result.code == 0, result.out
    assert result.out == "ok: .env.production matches .env.example (6 keys)\n"


def test_missing_required_key_names_file_key_and_declaration(shop: Project) -> None:
    shop.write(
        {".env.production": f"DATABASE_URL=postgresql://shop:{STRONG}@db/shop\n"}, mode=0o600
    )
    result = shop.run("config", "check", "production")
    assert result.code == 1
    assert (
        ".env.production: JWT_SECRET_KEY: error: required key is missing "
        "(declared in .env.example:6) [missing]"
    ) in result.out
    assert result.out.endswith(".env.production: 1 error(s), 0 warning(s)\n")


def test_unknown_key_suggests_the_schema_key(shop: Project) -> None:
    shop.write({".env.production": GOOD + "LOG_LEVLE=debug\n"}, mode=0o600)
    result = shop.run("config", "check", "production")
    assert result.code == 1
    assert (
        '.env.production:3: LOG_LEVLE: error: unknown key, not in .env.example (did you mean "LOG_LEVEL"?) '
        "[unknown]"
    ) in result.out


def test_values_of_the_wrong_type(shop: Project) -> None:
    shop.write(
        {
            ".env.production": GOOD
            + "DB_PORT=80800\nDEBUG=maybe\nADMIN_EMAIL=ops-at-example\nLOG_LEVEL=loud\n"
        },
        mode=0o600,
    )
    out = shop.run("config", "check", "production").out
    assert (
        ".env.production:3: DB_PORT: error: expected a port number between 1 and 65535 [type]"
        in out
    )
    assert ".env.production:4: DEBUG: error: expected true/false" in out
    assert ".env.production:5: ADMIN_EMAIL: error: expected an email address" in out
    assert (
        ".env.production:6: LOG_LEVEL: error: expected one of: debug, info, warning [type]" in out
    )


def test_url_type(shop: Project) -> None:
    shop.write(
        {".env.production": f"DATABASE_URL=db.internal\nJWT_SECRET_KEY={STRONG}\n"}, mode=0o600
    )
    out = shop.run("config", "check", "production").out
    assert ".env.production:1: DATABASE_URL: error: expected a URL" in out


def test_placeholder_left_in(shop: Project) -> None:
    shop.write({".env.production": GOOD + "ADMIN_EMAIL=<ADMIN_EMAIL>\n"}, mode=0o600)
    result = shop.run("config", "check", "production")
    assert result.code == 1
    assert (
        ".env.production:3: ADMIN_EMAIL: error: still holds a template placeholder; set a real value "
        "[placeholder]"
    ) in result.out


def test_weak_secrets_in_production_are_found_and_never_printed(shop: Project) -> None:
    shop.write(
        {
            ".env.production": "DATABASE_URL=postgresql://admin:admin123@10.0.0.5/shop\n"
            "JWT_SECRET_KEY=dev-secret-key-change-in-production\n"
        },
        mode=0o600,
    )
    result = shop.run("config", "check", "production")
    assert result.code == 1
    assert (
        ".env.production:1: DATABASE_URL: error: the password in this URL is a well-known password; "
        "production needs a strong, unique value [weak-secret]"
    ) in result.out
    assert (
        '.env.production:2: JWT_SECRET_KEY: error: the secret contains "change", which marks a '
        "development value; production needs a strong, unique value [weak-secret]"
    ) in result.out
    assert "admin123" not in result.out + result.err
    assert "dev-secret-key" not in result.out + result.err


def test_weak_secrets_are_fine_in_development(shop: Project) -> None:
    shop.write(
        {".env.development": "DATABASE_URL=sqlite:///dev.db\nJWT_SECRET_KEY=dev\n"}, mode=0o644
    )
    assert shop.run("config", "check", "development").code == 0


def test_secret_copied_from_another_environment(shop: Project) -> None:
    shop.write({".env.staging": GOOD, ".env.production": GOOD}, mode=0o600)
    result = shop.run("config", "check", "production")
    assert result.code == 1
    assert (
        ".env.production:2: JWT_SECRET_KEY: error: same secret as in .env.staging:2 (staging); "
        "give production its own value [copied-secret]"
    ) in result.out
    assert STRONG not in result.out


def test_file_readable_by_others(shop: Project) -> None:
    shop.write({".env.production": GOOD}, mode=0o644)
    result = shop.run("config", "check", "production")
    assert result.code == 1
    assert (
        ".env.production: error: is readable by other users (mode 0644); run: chmod 600 "
        ".env.production [permissions]"
    ) in result.out


def test_file_tracked_by_git(shop: Project) -> None:
    shop.write({".env.production": GOOD}, mode=0o600)
    subprocess.run(["git", "init", "-q"], cwd=shop.root, check=True)
    subprocess.run(["git", "add", "-f", ".env.production"], cwd=shop.root, check=True)
    out = shop.run("config", "check", "production").out
    assert (
        ".env.production: error: is tracked by git; run: git rm --cached .env.production and add it "
        "to .gitignore [tracked]"
    ) in out


def test_malformed_lines_are_reported_with_their_line(shop: Project) -> None:
    shop.write({".env.production": GOOD + "not a line\nDEBUG='true\n"}, mode=0o600)
    result = shop.run("config", "check", "production")
    assert result.code == 1
    assert ".env.production:3: error:" in result.out
    assert "[syntax]" in result.out
    assert ".env.production:4: error:" in result.out
    assert "[unterminated-quote]" in result.out


def test_crlf_is_a_warning_not_an_error(shop: Project) -> None:
    shop.write({".env.production": GOOD.replace("\n", "\r\n")}, mode=0o600)
    result = shop.run("config", "check", "production")
    assert result.code == 0
    assert "warning:" in result.out
    assert "[crlf]" in result.out


def test_missing_file_says_how_to_create_it(shop: Project) -> None:
    result = shop.run("config", "check", "staging")
    assert result.code == 1
    assert (
        ".env.staging: error: does not exist; create it from .env.example: cp .env.example "
        ".env.staging, then fill it in [no-file]"
    ) in result.out


def test_json_output(shop: Project) -> None:
    shop.write({".env.production": "JWT_SECRET_KEY=admin123\n"}, mode=0o600)
    result = shop.run("config", "check", "production", "--format", "json")
    findings = json.loads(result.out)
    assert result.code == 1
    assert {(f["key"], f["code"]) for f in findings} == {
        ("DATABASE_URL", "missing"),
        ("JWT_SECRET_KEY", "weak-secret"),
    }
    assert all({"file", "line", "key", "code", "message", "severity"} <= set(f) for f in findings)
    assert "admin123" not in result.out


def test_unknown_environment(shop: Project) -> None:
    result = shop.run("config", "check", "prodution")
    assert result.code == 1
    assert 'unknown environment "prodution" (did you mean "production"?)' in result.err
    assert "Traceback" not in result.err


def test_key_present_but_empty_is_empty_not_missing(shop: Project) -> None:
    shop.write(
        {".env.production": f"DATABASE_URL=postgresql://shop:{STRONG}@db/shop\nJWT_SECRET_KEY=\n"},
        mode=0o600,
    )
    result = shop.run("config", "check", "production")
    assert result.code == 1
    assert result.out.splitlines()[0] == (
        ".env.production:2: JWT_SECRET_KEY: error: required key is empty "
        "(declared in .env.example:6); give it a value: JWT_SECRET_KEY=... [empty]"
    )


CLASS_TOML = """\
[app]
name = "shop"
[settings]
class = "backend.config:Settings"
[environments.development]
hosts = { app = ["local"] }
"""
SETTINGS_CLASS = """\
from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    database_url: str
    jwt_secret_key: str
    debug: bool = False
"""


def test_missing_file_with_a_class_schema_and_no_example(
    make_project: Callable[..., Project],
) -> None:
    project = make_project(
        {
            "conveyor.toml": CLASS_TOML,
            "backend/__init__.py": "",
            "backend/config.py": SETTINGS_CLASS,
        }
    )
    result = project.run("config", "check", "development")
    assert result.code == 1
    assert result.out.splitlines()[0] == (
        ".env.development: error: does not exist; create it with a KEY=value line for each "
        "setting of backend.config:Settings (required: DATABASE_URL, JWT_SECRET_KEY) [no-file]"
    )
