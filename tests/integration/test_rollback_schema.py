"""A rollback and the database's schema, on real supervisord, Caddy and PostgreSQL.

The tiny app's /health runs the query its code depends on (HEALTH_SQL). Expand (a new
nullable column): the release serving before still answers against the migrated schema,
the deploy proves it, and a rollback is code only. Contract (the column that release
reads is dropped): it does not answer, and a rollback to it is refused unless it first
runs the downgrades (`--downgrade`); `conveyor db status` and `db downgrade` show and
move the database through the serving release."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from conveyor.demo.load import Load
from conveyor.history import HistoryStore
from tests.integration.deployed import DeployProject
from tests.integration.test_deploy_migrations import (
    NOTE,
    commit,
    revision,
    with_migrations,
)
from tests.postgres import fresh_database

CONTRACT = '''"""Orders lose their quantity (contract: the code that read it is gone)."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.drop_column("orders", "quantity")


def downgrade() -> None:
    op.add_column("orders", sa.Column("quantity", sa.Integer(), nullable=True))
'''


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database("conveyor_rollback") as url:
        yield url


def serving(project: DeployProject) -> str:
    return project.get()["version"]


def release(project: DeployProject) -> str:
    """The release id the host records (a rollback names releases by id)."""
    state = json.loads((project.app_dir("localhost") / "state.json").read_text())
    return str(state["release"])


def test_a_rollback_is_code_only_where_proven_and_downgrades_first_where_not(
    local: DeployProject, database: str
) -> None:
    with_migrations(local, database)
    assert local.deploy().code == 0
    first, first_id = serving(local), release(local)

    # Expand: 0003 adds a column; the release serving before answers against it.
    (local.root / "migrations" / "versions" / "0003_order_note.py").write_text(NOTE)
    commit(local, "orders get a note")
    expand = local.deploy()
    assert expand.code == 0, expand.out + expand.err
    assert f"{first} (serving) answers healthy against it" in expand.out.replace("\n", " ")
    with Load(local.url) as load:
        back = local.run("rollback", "staging")
    assert back.code == 0, back.out + back.err
    assert f"{first_id} answered healthy against the database at 0003 during " in back.out
    assert load.failed == []
    assert serving(local) == first and revision(database) == "0003"

    # Contract: 0004 drops the column the serving release reads; its /health fails now.
    (local.root / "migrations" / "versions" / "0004_drop_quantity.py").write_text(CONTRACT)
    (local.root / "HEALTH_SQL").write_text("SELECT id, item FROM orders LIMIT 1\n")
    commit(local, "orders lose their quantity")
    # Staging is production-like: a migration that loses data is refused unless accepted,
    # by the dry run and the deploy alike, before anything runs.
    for refused_deploy in (local.deploy("--dry-run"), local.deploy()):
        assert refused_deploy.code == 1
        assert (
            "0004 drop-column (loses data): drops orders.quantity: its data is gone, and the "
            "running release's queries of it fail [migrations/versions/0004_drop_quantity.py:11]"
        ) in refused_deploy.err
        assert 'conveyor deploy staging --accept drop-column --why "..."' in refused_deploy.err
    assert revision(database) == "0003" and serving(local) == first
    contract = local.deploy("--accept", "drop-column", "--why", "quantity moved to order_lines")
    assert contract.code == 0, contract.out + contract.err
    assert "drop-column (loses data)" in contract.out
    assert "— accepted: quantity moved to order_lines" in contract.out
    assert (
        f"{first} (serving) does not answer against it (web: 500): a rollback to it will "
        in contract.out
    )
    latest = serving(local)

    refused = local.run("rollback", "staging")
    assert refused.code == 1
    assert f"rolling back to {first_id}: " in refused.err
    assert "the database is at 0004; " in refused.err
    assert "was never seen working with 0004; nothing was changed" in refused.err
    assert "conveyor rollback staging --downgrade" in refused.err
    assert serving(local) == latest and revision(database) == "0004"

    # A rollback whose release going back still does not answer after the downgrade: it
    # switches nothing, and the schema goes forward again.
    unhealthy = local.app_dir("localhost") / "shared" / "UNHEALTHY"
    unhealthy.touch()
    loss = ("--accept-loss", "--why", "the notes are an hour old")
    failed = local.run("rollback", "staging", "--downgrade", *loss)
    unhealthy.unlink()
    assert failed.code == 1, failed.out + failed.err
    assert "2 migration(s) undone: 0004 → 0003; database was at 0004, now at 0002" in failed.out
    assert "the rollback failed: 2 migration(s) applied: 0003 → 0004" in failed.out
    assert "after the downgrade, blue does not answer (web: 500); nothing switched" in failed.err
    assert serving(local) == latest and revision(database) == "0004"

    # 0003's downgrade drops orders.note: the notes written since would be lost. Refused,
    # the dry run alike, unless that loss is accepted with a reason.
    for lossy in (
        local.run("rollback", "staging", "--dry-run", "--downgrade"),
        local.run("rollback", "staging", "--downgrade"),
    ):
        assert lossy.code == 1, lossy.out + lossy.err
        assert (
            "going down to 0002 would run revision 0003's downgrade, but its downgrade() drops "
            "orders.note: what was written there since the upgrade is lost; nothing was changed"
        ) in lossy.err
        assert "roll forward instead" in lossy.err and "--accept-loss" in lossy.err
    assert serving(local) == latest and revision(database) == "0004"
    plan = local.run("rollback", "staging", "--dry-run", "--downgrade", *loss)
    assert plan.code == 0, plan.out + plan.err
    assert "would run the downgrade of 0004 → 0003" in plan.out
    assert revision(database) == "0004"

    down = local.run("rollback", "staging", "--downgrade", *loss)
    assert down.code == 0, down.out + down.err
    assert "data loss accepted: the notes are an hour old" in down.out
    assert "2 migration(s) undone: 0004 → 0003; database was at 0004, now at 0002" in down.out
    assert serving(local) == first and revision(database) == "0002"

    # The database through the serving release; a downgrade outside a deploy, recorded.
    status = local.run("db", "status", "staging")
    assert status.code == 0, status.out + status.err
    assert "database at 0002; the serving release's head is 0002; nothing to apply" in status.out
    dry = local.run("db", "downgrade", "staging", "--to", "0001", "--dry-run", *loss)
    assert dry.code == 0, dry.out + dry.err
    assert "would run the downgrade of 0002" in dry.out and revision(database) == "0002"
    assert local.run("db", "downgrade", "staging", "--to", "0001").code == 1  # drops quantity
    moved = local.run("db", "downgrade", "staging", "--to", "0001", *loss)
    assert moved.code == 0, moved.out + moved.err
    assert "1 migration(s) undone: 0002; database was at 0002, now at 0001" in moved.out
    assert "data loss accepted: the notes are an hour old" in moved.out
    assert revision(database) == "0001"
    with HistoryStore.for_project(local.root) as store:
        record = store.deploys("staging", limit=1)[0]
    assert (record.kind, record.status) == ("migrate", "succeeded")
    schema = json.loads((local.app_dir("localhost") / "schema.json").read_text())
    assert schema["at"] == ["0001"]
