"""The start gate with real supervisor and Caddy: every long-running service must stay up.

A worker that exits soon after it started, and a release that crashes on import
under gunicorn (its master outlives supervisor's startsecs, then exits and is
restarted), both fail the deploy before the switch, fast, with the old release
serving; `status` says "down" when a program or supervisord is not running.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conveyor.demo.load import Load
from conveyor.history.store import HistoryStore
from conveyor.runtime.supervisor import supervisorctl
from tests.integration.deployed import DeployProject, shared_tools


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_tools(tmp_path_factory.mktemp("tools"))


@pytest.fixture
def make(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tools: Path
) -> Iterator[Callable[..., DeployProject]]:
    made: list[DeployProject] = []

    def one(**options: object) -> DeployProject:
        project = DeployProject(
            tmp_path / f"p{len(made)}", capsys, hosts=["local"], tools=tools, **options
        )
        project.app_dir("localhost")
        made.append(project)
        return project

    yield one
    for project in made:
        project.shutdown()


def _cause(project: DeployProject) -> str:
    with HistoryStore.for_project(project.root) as store:
        record = store.deploys("staging")[0]
    assert record.status == "failed"
    return record.cause or ""


def _ctl(project: DeployProject, *args: str) -> int:
    app_dir = str(project.app_dir("localhost"))
    argv = supervisorctl(app_dir, f"{app_dir}/tools", *args)
    return subprocess.run(argv, check=False, capture_output=True).returncode


def _until_gone(project: DeployProject) -> None:
    """Poll until supervisord no longer answers (supervisorctl exits 4), not while it stops."""
    deadline = time.monotonic() + 20
    while _ctl(project, "status") != 4:
        assert time.monotonic() < deadline, "supervisord did not shut down"
        time.sleep(0.1)


def test_a_worker_that_exits_after_its_start_fails_the_deploy_before_the_switch(
    make: Callable[..., DeployProject],
) -> None:
    local = make()
    assert local.deploy().code == 0
    toml = local.root / "conveyor.toml"
    # Up for longer than supervisor's startsecs (1 s), then done: exit 0.
    quits = 'command = \'python -c "import time; time.sleep(1.2); print(\\"worker: done\\")"\''
    toml.write_text(toml.read_text().replace('command = "python -m tiny.worker"', quits))
    local.commit("ok")
    # The new web's /health answers only after 5 s: the gate is still open, however slowly
    # this machine starts Python, when the worker exits.
    (local.hosts_dir / "localhost" / "shared" / "SLOW").touch()
    with Load(local.url.replace("/health", "/")) as load:  # SLOW holds only /health
        bad = local.deploy()
    assert bad.code == 1, bad.out + bad.err
    assert load.failed == []
    assert "worker-green exited (exit status 0) during its start gate on local" in bad.err
    assert "worker: done" in bad.err  # the tail of its log
    assert "traffic never left the release that was serving" in bad.err
    (local.hosts_dir / "localhost" / "shared" / "SLOW").unlink()
    assert local.get()["color"] == "blue"
    assert "worker: done" in _cause(local)
    status = json.loads(local.run("status", "staging", "--json").out)[0]
    assert status["programs"]["worker-blue"] == "running"  # the old worker was never stopped


def test_status_says_down_when_a_program_or_supervisord_is_not_running(
    make: Callable[..., DeployProject],
) -> None:
    local = make()
    assert local.deploy().code == 0
    up = local.run("status", "staging", "--check")
    assert up.code == 0, up.out + up.err
    assert "up" in up.out
    _ctl(local, "stop", "worker-blue")
    down = local.run("status", "staging", "--check")
    assert down.code == 1
    assert "down: worker-blue is stopped" in down.out
    assert local.run("status", "staging").code == 0  # without --check it only reports
    rows = json.loads(local.run("status", "staging", "--json").out)
    assert rows[0]["down"] == ["worker-blue is stopped"]
    _ctl(local, "shutdown")
    _until_gone(local)
    gone = local.run("status", "staging", "--check")
    assert gone.code == 1
    assert "down: supervisord is not running" in gone.out


def test_a_release_that_crashes_on_import_under_gunicorn_fails_fast(
    make: Callable[..., DeployProject],
) -> None:
    """gunicorn with 2 uvicorn workers serving FastAPI: the workers fail to boot, the master
    exits seconds later (after startsecs) and supervisor restarts it; the deploy ends on
    the first exit, long before the health timeout (60 s here)."""
    project = make(gunicorn=True, health_timeout="60s")
    first = project.deploy()
    assert first.code == 0, first.out + first.err
    assert project.get()["color"] == "blue"
    project.commit("crash")
    with Load(project.url) as load:
        began = time.monotonic()
        bad = project.deploy()
        took = time.monotonic() - began
    assert bad.code == 1, bad.out + bad.err
    # Held by the health timeout, the deploy would take 60 s plus its earlier steps: any
    # less means the crash ended it (a timing proper is bench/deploy.py's, not a test's).
    assert took < 60, f"the crashing release held the deploy for {took:.1f}s"
    assert load.failed == []
    # Seen before supervisor restarted it, or after ("... and was restarted (a crash loop)").
    # gunicorn's master exits 3 ("Worker failed to boot"); when a second worker's failure is
    # reaped while it halts, its HaltServer escapes uncaught and the exit status is 1.
    assert re.search(r"web-green exited \(exit status [13]\)", bad.err), bad.err
    assert "during its start gate on local" in bad.err
    assert "gapp.main: crashing on purpose at import" in bad.err  # the log's tail
    assert "traffic never left the release that was serving" in bad.err
    assert project.get()["color"] == "blue"
    assert "crashing on purpose at import" in _cause(project)
