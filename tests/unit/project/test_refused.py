"""Keys conveyor does not carry out yet are refused at load, naming the key, word for word."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.project.detect import detect
from conveyor.project.init import render_toml
from tests.unit.project.toml_files import error, load

APP = '[app]\nname = "shop"\n'
WEB = '[services.web]\ncommand = "serve --port $PORT"\nhealth = "/"\nroles = ["app"]\n'
PRODUCTION = '[environments.production]\nhosts = { app = ["local"] }\n'


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


CASES = [
    (
        APP + PRODUCTION + 'strategy = { kind = "rolling" }\n',
        'conveyor.toml:5: environments.production.strategy.kind: the "rolling" strategy is not '
        'available yet; deploys are blue-green — remove `kind` or set it to "blue-green"',
    ),
    (
        APP + '[checks]\nuse = ["ruff", "migrations"]\n',
        'conveyor.toml:4: checks.use[1]: preset "migrations" (migration lint '
        "(conveyor migrate lint)) is not available yet — remove it from checks.use",
    ),
    (
        APP + '[checks]\nuse = ["ruff"]\n[checks.presets.mypy]\nargs = ["--strict"]\n',
        'conveyor.toml:5: checks.presets.mypy: preset "mypy" is not in checks.use, so these '
        "options would do nothing — add it to checks.use or remove them",
    ),
    (
        APP + '[settings]\npython = ".venv/bin/python"\n',
        "conveyor.toml:4: settings.python: is only used to import `class`, which is not set "
        "— remove `python` or set `class`",
    ),
]


SYNC = '[services.dags]\nsync = { from = "dags", to = "/opt/dags" }\nroles = ["app"]\n'
CASES += [
    (
        APP + '[services.w]\ncommand = "work"\nroles = ["app"]\nlisten = ":80"\n',
        'conveyor.toml:3: services.w: "listen" is only for kind "http", not "worker"',
    ),
    (
        APP + SYNC + "port = 9000\n",
        'conveyor.toml:3: services.dags: "port" is not for kind "sync": it runs no process',
    ),
    (
        APP + SYNC + 'drain = "5s"\n',
        'conveyor.toml:3: services.dags: "drain" is not for kind "sync": it runs no process',
    ),
]


@pytest.mark.parametrize(("text", "message"), CASES)
def test_a_key_that_is_not_carried_out_is_refused(tmp_path: Path, text: str, message: str) -> None:
    assert error(tmp_path, text) == message


def test_the_values_that_are_carried_out_load(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        APP
        + WEB
        + '[migrations]\nrun_on = "app"\nbackup = true\nkeep_backups = 3\n'
        + PRODUCTION
        + 'strategy = { kind = "blue-green" }\n',
    )
    assert config.migrations is not None and config.migrations.backup
    assert config.migrations.keep_backups == 3
    assert config.environment("production").strategy.kind == "blue-green"


def test_backup_is_off_unless_written(tmp_path: Path) -> None:
    config = load(tmp_path, APP + '[migrations]\nrun_on = "app"\n')
    assert config.migrations is not None and config.migrations.backup is False


def test_approval_is_carried_out_and_its_values_are_checked_at_load(tmp_path: Path) -> None:
    config = load(tmp_path, APP + PRODUCTION + 'approval = { required = true, by = ["a@x"] }\n')
    approval = config.environment("production").approval
    assert approval is not None
    assert (approval.required, approval.separate_from_author, approval.checks) == (1, True, True)
    frozen = 'approval = { freeze = ["Fri 16:00-Mon 08:00 Mars/Base"] }\n'
    assert error(tmp_path, APP + PRODUCTION + frozen) == (
        "conveyor.toml:5: environments.production.approval.freeze[0]: "
        "'Fri 16:00-Mon 08:00 Mars/Base': unknown time zone 'Mars/Base'; use an IANA name such "
        "as Asia/Seoul or UTC"
    )


def test_init_writes_only_keys_that_are_carried_out(tmp_path: Path) -> None:
    (tmp_path / "alembic.ini").write_text("[alembic]\n")
    text = render_toml(detect(tmp_path))
    for refused in ("approval", "backup", "notify", "rolling"):
        assert refused not in text
    load(tmp_path, text)


def test_a_lock_timeout_of_zero_is_refused_naming_the_key(tmp_path: Path) -> None:
    """PostgreSQL reads lock_timeout = 0 as "wait for ever": the opposite of the setting."""
    message = error(tmp_path, APP + '[migrations]\nrun_on = "app"\nlock_timeout = "0s"\n')
    assert "migrations.lock_timeout" in message
    assert "must be more than 0s: PostgreSQL reads 0 as no timeout at all" in message


def test_a_rehearsal_without_a_backup_is_refused(tmp_path: Path) -> None:
    """The rehearsal runs on the backup's verified copy: there is none without a backup."""
    message = error(tmp_path, APP + '[migrations]\nrun_on = "app"\nrehearse = true\n')
    assert (
        "rehearse needs backup = true: the rehearsal runs on the backup's verified copy" in message
    )


def test_an_approval_that_asks_for_no_one_keeps_no_other_key(tmp_path: Path) -> None:
    off = 'approval = { required = 0, freeze = ["Fri 16:00-Mon 08:00 UTC"] }\n'
    assert error(tmp_path, APP + PRODUCTION + off) == (
        "conveyor.toml:5: environments.production.approval.required: 0 approvals turns "
        "approvals off, so freeze would do nothing — remove them, or require 1 or more approvals"
    )
    piped = 'approval = { checklist = ["notes | tests"] }\n'
    assert error(tmp_path, APP + PRODUCTION + piped) == (
        "conveyor.toml:5: environments.production.approval.checklist[0]: 'notes | tests': a "
        'checklist item is one line of words with single spaces and no "|" (approvers sign it '
        "as written)"
    )
