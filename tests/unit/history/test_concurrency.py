"""Two conveyor processes write to one SQLite history at the same time."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from conveyor.history import HistoryStore

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from conveyor.history import HistoryStore

    url, environment, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    store = HistoryStore(url)  # both open a fresh file: both try to migrate it
    while not go.exists():
        time.sleep(0.005)
    for n in range(25):
        deploy_id = store.start(
            environment=environment, kind="deploy", release=f"r{n}", version="1",
            commit="c", hosts=["h1", "h2"], user="u", machine=environment,
        )
        for host in ("h1", "h2"):
            store.event(deploy_id, kind="step", message=f"{n}", host=host)
        store.finish(deploy_id, status="succeeded", message="ok")
    store.close()
    """
)


def test_two_processes_record_deploys_side_by_side(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    go = tmp_path / "go"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, url, env, str(go)], stderr=subprocess.PIPE)
        for env in ("staging", "production")
    ]
    go.touch()
    for writer in writers:
        _, stderr = writer.communicate(timeout=60)
        assert writer.returncode == 0, stderr.decode()
    with HistoryStore(url) as store:
        records = store.deploys(limit=100)
        assert len(records) == 50
        assert {r.status for r in records} == {"succeeded"}
        assert all(len(store.events(r.id)) == 2 for r in records)


def test_a_reader_is_not_blocked_by_a_running_deploy(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    with HistoryStore(url) as deployer, HistoryStore(url) as reader:
        deploy_id = deployer.start(
            environment="production", kind="deploy", release="r", version="1",
            commit="c", hosts=[], user="u", machine="m",
        )  # fmt: skip
        deployer.event(deploy_id, kind="step", message="upload")
        assert reader.get(deploy_id).status == "running"
        assert [e.message for e in reader.events(deploy_id)] == ["upload"]
