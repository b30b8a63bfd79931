"""What conveyor reads from its Alembic runner's output, and the command line it sends.
Pure logic: the runner itself runs against PostgreSQL in tests/integration."""

from __future__ import annotations

from datetime import timedelta

from conveyor.migrations import runner


def test_the_command_line_carries_the_configured_lock_timeout_and_attempts() -> None:
    argv = runner.argv(
        "/srv/venvs/k/bin/python",
        "/srv/app/runtime/host_alembic.py",
        "db/alembic.ini",
        "upgrade",
        lock_timeout=timedelta(milliseconds=1500),
        attempts=3,
    )
    assert argv == (
        "/srv/venvs/k/bin/python",
        "/srv/app/runtime/host_alembic.py",
        "db/alembic.ini",
        "upgrade",
        "--lock-timeout",
        "1500ms",
        "--attempts",
        "3",
    )
    down = runner.argv("py", "run.py", "alembic.ini", "downgrade", revision="0001")
    assert down == ("py", "run.py", "alembic.ini", "downgrade", "0001")
    assert runner.argv("py", "r", "a.ini", "upgrade", lock_timeout=timedelta(seconds=5))[-1] == "5s"


def test_the_output_is_read_line_by_line_and_the_project_own_lines_are_kept() -> None:
    done = runner.parse(
        "@waiting\n@before a1,b2\n@pending c3 d4\nconnecting as app\n@retry 2 1\n"
        "@before a1,b2\n@pending c3 d4\n@after d4\n"
    )
    assert done.before == ("a1", "b2") and done.ran == ("c3", "d4") and done.after == ("d4",)
    assert done.waited and done.retries == 1
    assert done.extra == ("connecting as app",)
    assert runner.summary(done) == (
        "2 migration(s) applied: c3 → d4; database was at a1, b2, now at d4; "
        "waited for another migration's lock; retried 1x after lock timeouts"
    )


def test_a_run_that_said_nothing_reads_as_unknown_not_as_empty() -> None:
    """A runner killed before it read the database must not look like an empty database."""
    done = runner.parse("")
    assert done.at == "unknown" and runner.revisions(done.before) == "unknown"
    assert runner.parse("@after \n").at == "empty (no revision)"


def test_a_refused_downgrade_and_an_exhausted_lock_are_read() -> None:
    assert runner.parse("@refused 0002 its downgrade() does nothing\n").refused == (
        "0002",
        "its downgrade() does nothing",
    )
    assert runner.parse("@locked 5\n").locked == 5
