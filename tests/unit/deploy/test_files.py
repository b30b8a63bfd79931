"""A sync service's files put into place, and its `after` command.

The host is a fake, and only for what no real host is needed for: `Here` runs the
sync's own host script with this machine's Python on directories under tmp_path (so
what is copied, kept and removed is the script's real doing), and answers every other
command as a test tells it. A sync on real hosts over SSH is in tests/integration.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from conveyor.deploy.files import put_files, run_after, sync
from conveyor.deploy.hostops import Target
from conveyor.deploy.layout import HostPaths
from conveyor.errors import CommandFailed
from conveyor.hosts.base import RunResult
from tests.unit.deploy.test_plan_cases import project_of

SPEC = "deploy@sched-1"


class Here:
    """Runs `python -c` scripts here; any other command answers `answer` (exit, stdout)."""

    def __init__(self, answer: tuple[int, str] = (0, "")) -> None:
        self.answer = answer
        self.ran: list[tuple[str, ...]] = []
        self.cwd: list[str | None] = []
        self.script: tuple[int, str, str] | None = None  # instead of running the script

    async def run(self, argv: Sequence[str], *, cwd: str | None = None, **_: Any) -> RunResult:
        self.ran.append(tuple(argv))
        self.cwd.append(cwd)
        if len(argv) > 2 and argv[1] == "-c":
            if self.script is not None:
                return RunResult(SPEC, tuple(argv), *self.script)
            done = subprocess.run(
                [sys.executable, *argv[1:]], capture_output=True, text=True, check=False
            )
            return RunResult(SPEC, tuple(argv), done.returncode, done.stdout, done.stderr)
        code, out = self.answer
        return RunResult(SPEC, tuple(argv), code, out, "")


def target(tmp_path: Path, conn: Here) -> Target:
    return Target(SPEC, conn, HostPaths(str(tmp_path / "app")), "python3")  # type: ignore[arg-type]


def release_files(tmp_path: Path, release: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = tmp_path / "app" / "releases" / release / "app" / "dags" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".conveyor")
    }


def do_sync(tmp_path: Path, conn: Here, release: str, *, missing_ok: bool = False) -> Any:
    return asyncio.run(
        sync(
            target(tmp_path, conn),
            release_id=release,
            source="dags",
            dest=str(tmp_path / "dest"),
            missing_ok=missing_ok,
        )
    )


def test_a_sync_copies_the_releases_files_and_says_how_many(tmp_path: Path) -> None:
    release_files(tmp_path, "r1", {"a.py": "A = 1\n", "sub/b.py": "B = 1\n"})
    done = do_sync(tmp_path, Here(), "r1")
    dest = tmp_path / "dest"
    assert done.message == f"2 file(s) in {dest}: 2 copied, 0 removed"
    assert not done.missing
    assert tree(dest) == {"a.py": "A = 1\n", "sub/b.py": "B = 1\n"}


def test_a_second_sync_copies_only_what_changed_and_removes_only_its_own_files(
    tmp_path: Path,
) -> None:
    release_files(tmp_path, "r1", {"a.py": "A = 1\n", "old.py": "gone soon\n"})
    do_sync(tmp_path, Here(), "r1")
    dest = tmp_path / "dest"
    (dest / "theirs.py").write_text("written by someone else\n")
    release_files(tmp_path, "r2", {"a.py": "A = 1\n", "new.py": "N = 2\n"})
    done = do_sync(tmp_path, Here(), "r2")
    assert done.message == f"2 file(s) in {dest}: 1 copied, 1 removed"
    # old.py was the earlier sync's and goes; theirs.py was never a sync's and stays.
    assert tree(dest) == {
        "a.py": "A = 1\n",
        "new.py": "N = 2\n",
        "theirs.py": "written by someone else\n",
    }


def test_a_release_without_the_directory_is_refused_naming_it_and_the_host(
    tmp_path: Path,
) -> None:
    (tmp_path / "app" / "releases" / "r1" / "app").mkdir(parents=True)
    with pytest.raises(CommandFailed) as raised:
        do_sync(tmp_path, Here(), "r1")
    src = tmp_path / "app" / "releases" / "r1" / "app" / "dags"
    assert raised.value.message == (
        f"sync of dags to {tmp_path / 'dest'} failed on {SPEC}: "
        f"{src} is not a directory in the release"
    )
    assert raised.value.host == SPEC and raised.value.exit_code == 1


def test_missing_ok_counts_a_missing_directory_as_empty_and_says_so(tmp_path: Path) -> None:
    release_files(tmp_path, "r2", {"a.py": "A = 2\n"})
    do_sync(tmp_path, Here(), "r2")
    (tmp_path / "app" / "releases" / "r1" / "app").mkdir(parents=True)
    # Back to a release that had no such files: the later sync's files are taken away.
    done = do_sync(tmp_path, Here(), "r1", missing_ok=True)
    dest = tmp_path / "dest"
    assert done.missing
    assert (
        done.message == f"none in this release: removed the 1 file(s) a later sync wrote to {dest}"
    )
    assert tree(dest) == {}


@pytest.mark.parametrize("said", ["", "copied things\n", '{"message": "x"}\n', "[1]\n"])
def test_a_sync_that_gives_no_verdict_is_a_failure_naming_the_host(
    tmp_path: Path, said: str
) -> None:
    conn = Here()
    conn.script = (0, said, "")
    with pytest.raises(CommandFailed, match=rf"^sync of dags to \S+ gave no verdict on {SPEC}"):
        do_sync(tmp_path, conn, "r1")


def sync_service(after: str | None) -> Any:
    line = f'\nafter = "{after}"' if after else ""
    project = project_of(
        f"""
[app]
name = "shop"
[services.dags]
sync = {{ from = "dags", to = "/opt/airflow/dags" }}
roles = ["scheduler"]{line}
[environments.production]
hosts = {{ scheduler = ["{SPEC}"] }}
"""
    )
    return project.config.services["dags"]


def verdict(missing: bool) -> tuple[int, str, str]:
    said = "none in this release" if missing else "3 file(s) in /opt/airflow/dags: 1 copied"
    return 0, json.dumps({"missing": missing, "message": said}) + "\n", ""


def test_put_files_runs_after_in_the_release_with_its_venv_when_files_came(
    tmp_path: Path,
) -> None:
    conn = Here()
    conn.script = verdict(False)
    at = target(tmp_path, conn)
    done = asyncio.run(
        put_files(
            at,
            sync_service("airflow dags reserialize"),
            release_id="r2",
            venv_key="v2",
            missing_ok=False,
        )
    )
    assert done == [
        "3 file(s) in /opt/airflow/dags: 1 copied",
        "airflow dags reserialize: ok",
    ]
    after = conn.ran[-1]
    assert after[0] == f"{at.paths.venv('v2')}/bin/python"
    assert after[-4:] == ("--", "airflow", "dags", "reserialize")
    assert conn.cwd[-1] == f"{at.paths.release('r2')}/app"


def test_put_files_skips_after_when_the_release_had_no_files(tmp_path: Path) -> None:
    conn = Here()
    conn.script = verdict(True)
    done = asyncio.run(
        put_files(
            target(tmp_path, conn),
            sync_service("airflow dags reserialize"),
            release_id="r1",
            venv_key="v1",
            missing_ok=True,
        )
    )
    assert done == ["none in this release"]
    assert len(conn.ran) == 1  # the sync, and nothing after it


def test_put_files_without_after_only_syncs(tmp_path: Path) -> None:
    conn = Here()
    conn.script = verdict(False)
    done = asyncio.run(
        put_files(
            target(tmp_path, conn),
            sync_service(None),
            release_id="r2",
            venv_key="v2",
            missing_ok=False,
        )
    )
    assert done == ["3 file(s) in /opt/airflow/dags: 1 copied"]
    assert len(conn.ran) == 1


def test_a_failing_after_command_names_itself_the_host_and_its_exit(tmp_path: Path) -> None:
    conn = Here(answer=(3, "DAG import error in etl.py\n"))
    with pytest.raises(CommandFailed) as raised:
        asyncio.run(
            run_after(
                target(tmp_path, conn),
                command=["airflow", "dags", "reserialize", "--subdir", "a b"],
                release_id="r2",
                venv_key="v2",
            )
        )
    assert raised.value.message == (
        f"airflow dags reserialize --subdir 'a b' failed on {SPEC} (exit 3)"
    )
    assert "DAG import error in etl.py" in raised.value.output
