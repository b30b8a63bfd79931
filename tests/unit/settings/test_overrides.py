"""Values come from the environment's file, defaults and `--set` only, never from the shell."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.conftest import Project
from tests.unit.settings.test_check import EXAMPLE, GOOD, STRONG, TOML


@pytest.fixture
def shop(make_project: Callable[..., Project], monkeypatch: pytest.MonkeyPatch) -> Project:
    project = make_project({"conveyor.toml": TOML, ".env.example": EXAMPLE})
    project.write({".env.staging": GOOD + "LOG_LEVEL=warning\n"}, mode=0o600)
    # The shell conveyor runs in: exported by hand, as the seeds' guide tells users to.
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("DEBUG", "true")
    return project


def _show(project: Project, *argv: str) -> dict[str, dict[str, str]]:
    result = project.run("config", "show", "staging", "--format", "json", *argv)
    assert result.code == 0, result.err
    return {row["key"]: row for row in json.loads(result.out)["values"]}


def test_the_shell_environment_is_never_a_source(shop: Project) -> None:
    rows = _show(shop)
    assert rows["LOG_LEVEL"] == {"key": "LOG_LEVEL", "value": "warning", "source": ".env.staging:3"}
    assert rows["DEBUG"] == {"key": "DEBUG", "value": "false", "source": "default"}
    assert shop.run("config", "render", "staging").code == 0
    rendered = (shop.root / ".conveyor" / "env" / "staging.env").read_text()
    assert "LOG_LEVEL=warning\n" in rendered and "DEBUG=false\n" in rendered


def test_a_required_key_set_only_in_the_shell_is_missing(
    shop: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.write({".env.staging": f"DATABASE_URL=postgresql://shop:{STRONG}@db/shop\n"}, mode=0o600)
    monkeypatch.setenv("JWT_SECRET_KEY", "Qm4tR8yU2iO6pA1sD5fG9hJ3kL7zX0cV")
    result = shop.run("config", "check", "staging")
    assert result.code == 1
    assert result.out.splitlines()[0] == (
        ".env.staging: JWT_SECRET_KEY: error: required key is missing "
        "(declared in .env.example:6) [missing]"
    )


def test_set_replaces_the_files_value_and_says_so(shop: Project) -> None:
    rows = _show(shop, "--set", "LOG_LEVEL=info", "--set", "JWT_SECRET_KEY=" + "k" * 8 + STRONG)
    assert rows["LOG_LEVEL"] == {"key": "LOG_LEVEL", "value": "info", "source": "--set"}
    assert rows["JWT_SECRET_KEY"] == {
        "key": "JWT_SECRET_KEY",
        "value": "********",
        "source": "--set",
    }
    assert shop.run("config", "check", "staging", "--set", "LOG_LEVEL=info").code == 0
    result = shop.run("config", "render", "staging", "--set", "LOG_LEVEL=info")
    assert result.code == 0, result.err
    lines = (shop.root / ".conveyor" / "env" / "staging.env").read_text().splitlines()
    assert lines[0] == (
        "# staging: rendered by conveyor from .env.staging and --set LOG_LEVEL; "
        "edit that file, not this one"
    )
    assert "LOG_LEVEL=info" in lines


def test_set_values_are_checked_like_the_files(shop: Project) -> None:
    result = shop.run("config", "check", "staging", "--set", "LOG_LEVEL=loud", "--set", "NOPE=1")
    assert result.code == 1
    assert result.out.splitlines()[:2] == [
        "--set: LOG_LEVEL: error: expected one of: debug, info, warning [type]",
        "--set: NOPE: error: unknown key, not in .env.example [unknown]",
    ]


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("LOG_LEVEL", "error: --set LOG_LEVEL: expected KEY=VALUE\n"),
        ("=x", "error: --set ...: expected KEY=VALUE\n"),
        ("LOG_LEVEL=a\x00b", "error: --set LOG_LEVEL: the value holds a NUL byte; remove it\n"),
    ],
)
def test_a_malformed_set_is_refused(shop: Project, pair: str, message: str) -> None:
    result = shop.run("config", "show", "staging", "--set", pair)
    assert result.code == 1
    assert result.err.startswith(message)


def test_a_control_character_in_the_file_fails_check_and_render_naming_file_and_line(
    shop: Project,
) -> None:
    shop.write({".env.staging": GOOD + "LOG_LEVEL=info\x00\n"}, mode=0o600)
    result = shop.run("config", "check", "staging")
    assert result.code == 1
    assert result.out.splitlines()[0] == (
        ".env.staging:3: error: the value of LOG_LEVEL holds a NUL byte; remove it "
        "(only tab, and newline inside quotes, are allowed) [control-character]"
    )
    render = shop.run("config", "render", "staging")
    assert render.code == 1 and not (shop.root / ".conveyor").exists()
