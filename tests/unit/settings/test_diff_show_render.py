"""`conveyor config diff|show|render`: what differs, what resolves, what a host gets."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable

import pytest

from tests.conftest import Project
from tests.unit.settings.test_check import EXAMPLE, GOOD, STRONG, TOML


@pytest.fixture
def shop(make_project: Callable[..., Project]) -> Project:
    return make_project({"conveyor.toml": TOML, ".env.example": EXAMPLE})


def test_diff_lists_keys_only_in_one_and_values_that_differ(shop: Project) -> None:
    shop.write(
        {
            ".env.staging": f"DATABASE_URL=postgresql://shop:{STRONG}@stage-db/shop\n"
            "JWT_SECRET_KEY=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1\nDEBUG=true\nLOG_LEVEL=debug\n",
            ".env.production": f"DATABASE_URL=postgresql://shop:{STRONG}x@prod-db/shop\n"
            "JWT_SECRET_KEY=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2\nDEBUG=false\nDB_PORT=6432\n",
        }
    )
    result = shop.run("config", "diff", "staging", "production", "--format", "json")
    assert result.code == 0
    rows = {row["key"]: row for row in json.loads(result.out)}
    assert rows["DEBUG"] == {"key": "DEBUG", "kind": "differs", "a": "true", "b": "false"}
    assert rows["LOG_LEVEL"]["kind"] == "only-a"
    assert rows["DB_PORT"] == {"key": "DB_PORT", "kind": "only-b", "a": None, "b": "6432"}
    assert rows["JWT_SECRET_KEY"]["a"] == "<secret, differs>"
    assert rows["DATABASE_URL"]["a"] == "<secret, differs>"
    assert STRONG not in result.out


def test_diff_table_labels_every_column_and_fits_80_columns(shop: Project) -> None:
    shop.write(
        {
            ".env.staging": "DEBUG=true\nLOG_LEVEL=debug\n",
            ".env.production": "DEBUG=false\nDB_PORT=6432\n",
        }
    )
    result = shop.run("config", "diff", "staging", "production")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == ".env.staging vs .env.production"
    assert lines[2].split() == [
        "┃",
        "key",
        "┃",
        "staging",
        "┃",
        "production",
        "┃",
        "difference",
        "┃",
    ]
    rows = [line.replace("│", " ").split() for line in lines[4:-1]]
    assert rows == [
        ["DB_PORT", "-", "6432", "only", "in", "production"],
        ["DEBUG", "true", "false", "differs"],
        ["LOG_LEVEL", "debug", "-", "only", "in", "staging"],
    ]
    assert max(len(line) for line in lines) <= 80


def test_same_secret_in_two_environments_is_a_finding(shop: Project) -> None:
    shop.write({".env.staging": GOOD, ".env.production": GOOD})
    result = shop.run("config", "diff", "staging", "production")
    assert result.code == 1
    assert "<secret, same>" in result.out
    assert (
        "finding: JWT_SECRET_KEY holds the same secret in staging and production; give each its own"
        in result.out
    )
    assert STRONG not in result.out


def test_diff_of_identical_environments(shop: Project) -> None:
    shop.write({".env.staging": "DEBUG=true\n", ".env.production": "DEBUG=true\n"})
    result = shop.run("config", "diff", "staging", "production")
    assert result.out == "staging and production set the same keys to the same values\n"


def test_diff_needs_both_files(shop: Project) -> None:
    shop.write({".env.staging": GOOD})
    result = shop.run("config", "diff", "staging", "production")
    assert result.code == 1
    assert "error: .env.production does not exist" in result.err


def test_show_masks_secrets_and_names_sources(
    shop: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.write({".env.production": GOOD + "DEBUG=true\n"})
    monkeypatch.setenv("LOG_LEVEL", "warning")
    result = shop.run("config", "show", "production", "--format", "json")
    data = json.loads(result.out)
    rows = {row["key"]: row for row in data["values"]}
    assert rows["DATABASE_URL"] == {
        "key": "DATABASE_URL",
        "value": "postgresql://shop:********@10.0.0.5:5432/shop",
        "source": ".env.production:1",
    }
    assert rows["JWT_SECRET_KEY"]["value"] == "********"
    assert rows["DEBUG"]["source"] == ".env.production:3"
    assert rows["DB_PORT"] == {"key": "DB_PORT", "value": "5432", "source": "default"}
    # The shell's LOG_LEVEL is not the environment's: only its file and defaults count.
    assert rows["LOG_LEVEL"] == {"key": "LOG_LEVEL", "value": "info", "source": "default"}
    assert data["unset"] == []
    assert STRONG not in result.out


def test_show_of_a_missing_file_fails_saying_how_to_create_it(shop: Project) -> None:
    result = shop.run("config", "show", "staging")
    assert result.code == 1
    assert result.out == ""
    assert result.err == (
        "error: .env.staging does not exist\n"
        "create it from .env.example: cp .env.example .env.staging, then fill it in\n"
    )


def test_show_table_lists_unset_keys(shop: Project) -> None:
    shop.write({".env.staging": "DEBUG=true\n"})
    result = shop.run("config", "show", "staging")
    assert result.code == 0
    assert "JWT_SECRET_KEY" in result.out
    assert "<unset>" in result.out


def test_render_writes_the_hosts_file_with_mode_0600(shop: Project) -> None:
    shop.write({".env.production": GOOD + 'LOG_LEVEL="warning"\n'}, mode=0o600)
    result = shop.run("config", "render", "production")
    target = shop.root / ".conveyor" / "env" / "production.env"
    assert result.code == 0, result.out + result.err
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    lines = target.read_text().splitlines()
    assert lines[0].startswith("# production: rendered by conveyor from .env.production")
    assert lines[1:] == [
        f"DATABASE_URL=postgresql://shop:{STRONG}@10.0.0.5:5432/shop",
        "DB_PORT=5432",
        "DEBUG=false",
        "ADMIN_EMAIL=ops@example.com",
        "JWT_SECRET_KEY=Qm4tR8yU2iO6pA1sD5fG9hJ3kL7zX0cV",
        "LOG_LEVEL=warning",
    ]
    assert STRONG not in result.out


def test_render_quotes_values_that_need_it(
    shop: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    shop.write({".env.development": 'DATABASE_URL=sqlite:///dev.db\nJWT_SECRET_KEY="a b#c\\"d"\n'})
    target = tmp_path_factory.mktemp("out") / "dev.env"
    assert shop.run("config", "render", "development", "-o", str(target)).code == 0
    assert 'JWT_SECRET_KEY="a b#c\\"d"' in target.read_text().splitlines()


def test_render_refuses_a_failing_environment(shop: Project) -> None:
    shop.write({".env.production": "JWT_SECRET_KEY=admin123\n"}, mode=0o600)
    result = shop.run("config", "render", "production")
    assert result.code == 1
    assert "error: .env.production has 2 error(s); nothing was written" in result.err
    assert "run: conveyor config check production" in result.err
    assert not (shop.root / ".conveyor").exists()
