"""Deploy benchmark: one local host, then three SSH hosts (network namespaces), under load.

    sudo .venv/bin/python bench/deploy.py          # root: it creates network namespaces

Per fleet it prints: a good deploy with unchanged dependencies, a no-change
redeploy, and two bad releases (/health answers 500; the app crashes on
import), each with the requests that failed under a steady load through every
host's Caddy, the longest gap without a successful answer, and for the bad
ones the time until the deploy ended with the old release serving, and the
round trips to each host (commands, file writes and reads: the most of any host).
Then a FastAPI app under gunicorn with 2 uvicorn workers: a release that
crashes on import (gunicorn's master outlives supervisor's startsecs before it
exits). The first deploy of each project (tools and venv installs) is a warm-up,
not timed. `--only gunicorn` measures that case alone.
"""

from __future__ import annotations

import itertools
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.netns import Fleet, ensure_user, remove_user  # noqa: E402
from conveyor.cli import main  # noqa: E402
from conveyor.demo.deploys import stop_supervisors  # noqa: E402
from conveyor.demo.load import Load  # noqa: E402
from conveyor.demo.ports import free_pair  # noqa: E402
from conveyor.hosts.connect import collecting  # noqa: E402
from conveyor.hosts.local import LocalConnector  # noqa: E402
from conveyor.hosts.ssh import SshConnector  # noqa: E402
from conveyor.hosts.trips import RoundTrips  # noqa: E402
from conveyor.runtime.tools import install_tools_argv  # noqa: E402
from tests.integration.deployed import (  # noqa: E402
    GUNICORN_APP,
    commit_mode,
    write_gunicorn_project,
    write_tiny_project,
)

RATE = 200.0  # requests per second per host, through its Caddy
CLIENTS = 4
DEPLOY_USER = "cvbench"  # a plain account on the namespaced hosts, created and removed here


@dataclass
class Row:
    """One measured deploy."""

    fleet: str
    case: str
    seconds: float
    exit_code: int
    requests: int
    failed: int
    gap: float
    trips: dict[str, RoundTrips] = field(default_factory=dict)  # by host, over its connectors

    @property
    def most_trips(self) -> int:
        """The round trips of the host that had the most."""
        return max((trips.total for trips in self.trips.values()), default=0)

    @property
    def most_commands(self) -> int:
        """The commands and file ops of the host that had the most (sessions left out)."""
        return max((trips.commands for trips in self.trips.values()), default=0)


class LoadProcesses:
    """One load generator process per URL, so the load does not share a GIL with the deploy."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.results: list[tuple[int, int, float]] = []

    def __enter__(self) -> LoadProcesses:
        self.stop = multiprocessing.Event()
        self.queue: multiprocessing.Queue[tuple[int, int, float]] = multiprocessing.Queue()
        self.processes = [
            multiprocessing.Process(target=_load, args=(url, self.stop, self.queue))
            for url in self.urls
        ]
        for process in self.processes:
            process.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.results = [self.queue.get(timeout=30) for _ in self.processes]
        for process in self.processes:
            process.join(timeout=10)


def _load(url: str, stop: Any, queue: Any) -> None:
    # Several clients, so a slow answer does not lower the rate (2 cores, deploy running).
    with ExitStack() as stack:
        loads = [stack.enter_context(Load(url, rate=RATE / CLIENTS)) for _ in range(CLIENTS)]
        stop.wait()
    ok = sum(load.ok for load in loads)
    failed = sum(len(load.failed) for load in loads)
    # The longest time without any success, over all clients' answers together.
    stamps = sorted(t for load in loads for t in load.ok_times)
    gap = max((b - a for a, b in itertools.pairwise(stamps)), default=0.0)
    queue.put((ok, failed, gap))


def project(
    base: Path, hosts: list[str], *, listen: str, port: int, gunicorn: bool = False
) -> Path:
    root = base / ("gunicorn" if gunicorn else "project")
    write = write_gunicorn_project if gunicorn else write_tiny_project
    write(
        root,
        hosts=hosts,
        port=port,
        listen=listen,
        app_dir=f"{base}/hosts/{{host}}",
        strategy='healthy_threshold = 2, watch = "1s", batch = 1',
    )
    return root


def deploy(root: Path, args: list[str], *, command: str = "deploy") -> tuple[int, float]:
    began = time.monotonic()
    code = main(["-C", str(root), command, "staging", *args])
    return code, time.monotonic() - began


TINY_CASES = [
    ("good deploy (deps unchanged)", "ok"),
    ("no-change redeploy", None),
    ("bad: /health answers 500", "500"),
    ("bad: crashes on import", "crash"),
]
GUNICORN_CASES = [("bad: gunicorn, crash on import", "crash")]
# After an untimed good deploy: `conveyor rollback` to the warm previous colour.
ROLLBACK = ("warm rollback", "rollback")


def measure(
    name: str, root: Path, urls: list[str], args: list[str], cases: list[tuple[str, str | None]]
) -> list[Row]:
    code, _ = deploy(root, args)  # warm-up: tools venv, app venv, supervisord, Caddy
    assert code == 0, "the warm-up deploy failed"
    rows = []
    for case, mode in cases:
        command = "deploy"
        if mode == "rollback":
            commit_mode(root, "ok")
            assert deploy(root, args)[0] == 0, "the deploy before the rollback failed"
            command = "rollback"
        elif mode is not None:
            commit_mode(root, mode)
        with LoadProcesses(urls) as loads, collecting() as conns:
            code, seconds = deploy(root, args, command=command)
        requests = sum(ok + failed for ok, failed, _ in loads.results)
        failed = sum(failed for _, failed, _ in loads.results)
        gap = max(gap for _, _, gap in loads.results)
        rows.append(Row(name, case, seconds, code, requests, failed, gap, by_host(conns)))
        if mode in ("500", "crash"):
            commit_mode(root, "ok")  # back to a good tree for the next case
    return rows


def by_host(conns: list[LocalConnector | SshConnector]) -> dict[str, RoundTrips]:
    """Round trips per host: a command may open more than one connector to the same host."""
    hosts: dict[str, RoundTrips] = {}
    for conn in conns:
        hosts.setdefault(conn.name, RoundTrips()).add(conn.round_trips)
    return hosts


def link_tools(base: Path, hosts: list[str], *, owner: str | None = None) -> None:
    """One tools venv (supervisor, caddy) for every host: namespaces have no route to PyPI."""
    shared = base / "shared"
    python = "/usr/bin/python3" if owner else sys.executable
    subprocess.run(install_tools_argv(str(shared), python), check=True, timeout=600)
    for host in hosts:
        app_dir = base / "hosts" / host
        app_dir.mkdir(parents=True, exist_ok=True)
        (app_dir / "tools").symlink_to(shared / "tools")
    if owner:
        base.chmod(0o755)
        subprocess.run(["chown", "-R", f"{owner}:", str(base / "hosts")], check=True)


def local_fleet(*, tiny: bool = True) -> list[Row]:
    base = Path(tempfile.mkdtemp(prefix="cvbl-"))
    try:
        link_tools(base, ["localhost"])
        rows = []
        listen, port = free_pair(), free_pair()
        url = f"http://127.0.0.1:{listen}/health"
        # The gunicorn app is deployed over the tiny one: the same host, ports and Caddy.
        for gunicorn in [False, True] if tiny else [True]:
            root = project(
                base, ["local"], listen=f"127.0.0.1:{listen}", port=port, gunicorn=gunicorn
            )
            cases = GUNICORN_CASES if gunicorn else [*TINY_CASES, ROLLBACK]
            rows += measure("1 local host", root, [url], [], cases)
        return rows
    finally:
        stop_supervisors(base / "hosts")
        shutil.rmtree(base, ignore_errors=True)


def offline_pip(base: Path, user: str) -> Path:
    """The gunicorn app's wheels in a local directory, and a pip config for `user` that
    installs from there only: the namespaces have no route to a package index."""
    wheels = base / "wheels"
    requirements = GUNICORN_APP / "requirements.txt"
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:"]
    subprocess.run([*pip, "-d", str(wheels), "-r", str(requirements)], check=True, timeout=600)
    config = Path(f"~{user}").expanduser() / ".config" / "pip" / "pip.conf"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f"[global]\nno-index = true\nfind-links = {wheels}\n")
    subprocess.run(["chown", "-R", f"{user}:", str(config.parents[1])], check=True)
    return config


def ssh_fleet(count: int, *, tiny: bool = True) -> list[Row]:
    created = ensure_user(DEPLOY_USER)
    fleet = Fleet(user=DEPLOY_USER)
    base = Path(tempfile.mkdtemp(prefix="cvbs-"))
    config: Path | None = None
    try:
        hosts = fleet.start(count)
        link_tools(base, [h.address for h in hosts], owner=DEPLOY_USER)
        config = offline_pip(base, DEPLOY_USER)
        args = ["--known-hosts", str(fleet.known_hosts), "--identity", str(fleet.identity)]
        urls = [f"http://{h.address}:18080/health" for h in hosts]
        rows = []
        # The gunicorn app is deployed over the tiny one: the same hosts, ports and Caddy.
        for gunicorn in [False, True] if tiny else [True]:
            root = project(
                base, [h.spec for h in hosts], listen=":18080", port=18100, gunicorn=gunicorn
            )
            cases = GUNICORN_CASES if gunicorn else [*TINY_CASES, ROLLBACK]
            rows += measure(f"{count} SSH hosts", root, urls, args, cases)
        return rows
    finally:
        if config is not None:
            config.unlink(missing_ok=True)
        stop_supervisors(base / "hosts")
        fleet.close()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(fleet.directory, ignore_errors=True)
        if created:
            remove_user(DEPLOY_USER)


def table(rows: list[Row]) -> str:
    head = (
        f"{'fleet':<14} {'case':<30} {'wall s':>7} {'exit':>4} "
        f"{'requests':>8} {'failed':>6} {'gap s':>6} {'trips/host':>10} {'cmds/host':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.fleet:<14} {r.case:<30} {r.seconds:>7.2f} {r.exit_code:>4} "
            f"{r.requests:>8} {r.failed:>6} {r.gap:>6.2f} {r.most_trips:>10} {r.most_commands:>9}"
        )
    return "\n".join(lines)


def breakdown(rows: list[Row], *, case: str = TINY_CASES[0][0]) -> str:
    """Where one SSH host's round trips go in a good deploy: by command or file op, most first."""
    row = next((r for r in rows if "SSH" in r.fleet and r.case == case and r.trips), None)
    if row is None:
        return ""
    host = min(row.trips)
    trips = row.trips[host]
    kinds = ", ".join(f"{trips.by_kind[kind]} {kind}" for kind in ("run", "put", "get", "session"))
    lines = [f"round trips to {host}, {case} ({row.fleet}): {trips.total} ({kinds})"]
    head = f"{'command or file op':<30} {'trips':>5}"
    lines += [head, "-" * len(head)]
    for label, count in sorted(trips.by_command.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"{label:<30} {count:>5}")
    return "\n".join(lines)


if __name__ == "__main__":
    import io
    from contextlib import redirect_stdout

    tiny = "--only" not in sys.argv  # --only gunicorn: the gunicorn crash case alone
    captured = io.StringIO()
    with redirect_stdout(captured):  # the deploys' own output is kept out of the table
        results = local_fleet(tiny=tiny) + ssh_fleet(3, tiny=tiny)
    print(table(results))
    print("\nwatch window 1 s; healthy_threshold 2; load ~200 req/s per host through Caddy.")
    print(
        "trips/host: round trips to the host that had the most (hosts/trips.py); cmds/host: "
        "the commands and file ops among them,\nwithout the sessions a connection opens once "
        "(its two agents and its SFTP session, at connect, side by side)."
    )
    if detail := breakdown(results):
        print(f"\n{detail}")
