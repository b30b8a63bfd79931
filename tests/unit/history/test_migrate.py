"""The history schema comes from its own migrations, run when a store opens."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from conveyor.errors import ConveyorError
from conveyor.history import HistoryStore
from conveyor.history.migrate import SCRIPTS, VERSION_TABLE, head
from conveyor.history.models import Base


def test_opening_a_new_file_creates_the_schema_at_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    HistoryStore(url).close()
    engine = create_engine(url)
    with engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) == {
            "conveyor_deploys",
            "conveyor_deploy_events",
            "conveyor_changes",
            "conveyor_checks",
            "conveyor_approvals",
            "conveyor_signatures",
            "conveyor_notify_outbox",
            VERSION_TABLE,
        }
        assert connection.scalar(text(f"SELECT version_num FROM {VERSION_TABLE}")) == head()
        # The migrations and the models describe the same schema.
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, Base.metadata) == []
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_opening_again_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    with HistoryStore(url) as store:
        store.start(
            environment="staging", kind="deploy", release="r", version="1", commit="c",
            hosts=[], user="u", machine="m",
        )  # fmt: skip
    with HistoryStore(url) as store:
        assert len(store.deploys()) == 1


def test_a_schema_from_a_newer_conveyor_is_refused_untouched(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    HistoryStore(url).close()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = 'f00d'"))
    engine.dispose()
    with pytest.raises(ConveyorError) as raised:
        HistoryStore(url)
    assert raised.value.message.startswith(
        f"history database {url} is at schema revision f00d, which this conveyor does not know"
    )
    assert (
        raised.value.hint
        == "it was written by a newer conveyor; upgrade conveyor, nothing was changed"
    )


def test_the_app_s_own_alembic_version_table_is_left_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('app0042')"))
    HistoryStore(url).close()
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == "app0042"
    engine.dispose()


def test_migration_scripts_are_plain_files_in_the_package() -> None:
    # pyproject's package-data `**/*` ships them; no alembic.ini is needed.
    assert (SCRIPTS / "env.py").is_file()
    assert sorted(p.name for p in (SCRIPTS / "versions").glob("v*.py")) == [
        "v0001_deploys_and_events.py",
        "v0002_recover_kind.py",
        "v0003_stop_start_kinds.py",
        "v0004_event_fields.py",
        "v0005_migrate_kind.py",
        "v0006_gates.py",
        "v0007_notify_outbox.py",
    ]
    assert not (SCRIPTS.parent / "alembic.ini").exists()


def test_a_history_from_before_recover_records_is_upgraded_with_its_rows(tmp_path: Path) -> None:
    """A history written by the previous conveyor (revision 0001) keeps its deploys and can
    then hold "recover" records."""
    from alembic import command

    from conveyor.history.migrate import config

    url = f"sqlite:///{tmp_path / 'h.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(config(connection), "0001")
        connection.execute(
            text(
                "INSERT INTO conveyor_deploys (id, environment, kind, release, version, "
                "\"commit\", status, message, user, machine, hosts, started_at) VALUES ('d-1', "
                "'staging', 'deploy', 'r', '1', 'c', 'succeeded', '', 'u', 'm', '[]', "
                "'2026-11-01 10:00:00')"
            )
        )
    engine.dispose()
    with HistoryStore(url) as store:
        store.start(
            environment="staging", kind="recover", release="r", version="", commit="",
            hosts=[], user="u", machine="m",
        )  # fmt: skip
        assert [r.kind for r in store.deploys("staging")] == ["recover", "deploy"]


def test_a_history_from_before_stop_and_start_records_is_upgraded_with_its_rows(
    tmp_path: Path,
) -> None:
    """A history at revision 0002 keeps its records and can then hold "stop" and "start"."""
    from alembic import command

    from conveyor.history.migrate import config

    url = f"sqlite:///{tmp_path / 'h.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(config(connection), "0002")
        connection.execute(
            text(
                "INSERT INTO conveyor_deploys (id, environment, kind, release, version, "
                "\"commit\", status, message, user, machine, hosts, started_at) VALUES ('d-1', "
                "'staging', 'recover', 'r', '1', 'c', 'succeeded', '', 'u', 'm', '[]', "
                "'2026-11-01 10:00:00')"
            )
        )
    engine.dispose()
    with HistoryStore(url) as store:
        for kind in ("stop", "start"):
            store.start(
                environment="staging", kind=kind, release="", version="", commit="",
                hosts=["local"], user="u", machine="m",
            )  # fmt: skip
        assert [r.kind for r in store.deploys("staging")] == ["start", "stop", "recover"]


def test_a_history_from_before_event_fields_keeps_its_events(tmp_path: Path) -> None:
    """Events written at revision 0003 are read back with no fields and no duration; new
    ones keep theirs."""
    from alembic import command

    from conveyor.history.migrate import config

    url = f"sqlite:///{tmp_path / 'h.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(config(connection), "0003")
        connection.execute(
            text(
                "INSERT INTO conveyor_deploys (id, environment, kind, release, version, "
                "\"commit\", status, message, user, machine, hosts, started_at) VALUES ('d-1', "
                "'staging', 'deploy', 'r', '1', 'c', 'running', '', 'u', 'm', '[]', "
                "'2026-11-01 10:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO conveyor_deploy_events (deploy_id, at, host, kind, message) "
                "VALUES ('d-1', '2026-11-01 10:00:01', 'app-1', 'lock:ok', 'locked')"
            )
        )
    engine.dispose()
    with HistoryStore(url) as store:
        store.event("d-1", kind="switch:ok", message="m", fields={"port": 8101}, seconds=0.5)
        old, new = store.events("d-1")
        assert (old.kind, old.fields, old.seconds) == ("lock:ok", {}, None)
        assert (new.fields, new.seconds) == ({"port": 8101}, 0.5)


def test_migrations_that_copy_the_deploys_table_keep_every_deploy_s_events(
    tmp_path: Path,
) -> None:
    """On SQLite, revisions 0003 and 0005 copy conveyor_deploys (batch mode) and drop the old
    table; with foreign keys on, that drop deleted every event (ON DELETE CASCADE)."""
    from alembic import command

    from conveyor.history.migrate import config

    url = f"sqlite:///{tmp_path / 'h.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(config(connection), "0002")
        connection.execute(
            text(
                "INSERT INTO conveyor_deploys (id, environment, kind, release, version, "
                "\"commit\", status, message, user, machine, hosts, started_at) VALUES ('d-1', "
                "'staging', 'deploy', 'r', '1', 'c', 'succeeded', '', 'u', 'm', '[]', "
                "'2026-11-01 10:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO conveyor_deploy_events (deploy_id, at, host, kind, message) "
                "VALUES ('d-1', '2026-11-01 10:00:01', 'app-1', 'switch:ok', 'switched')"
            )
        )
    engine.dispose()
    with HistoryStore(url) as store:
        assert [e.message for e in store.events("d-1")] == ["switched"]
        store.start(
            environment="staging", kind="migrate", release="r", version="", commit="",
            hosts=[], user="u", machine="m",
        )  # fmt: skip
    with create_engine(url).connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
