"""A fleet of network-namespace hosts with the tiny app deployed, for fault-injection tests.

Each host is a Linux network namespace (bench/netns.py `Fleet`) with its own
loopback and a real sshd, so every host's Caddy listens on the same port, as
real servers would. conveyor runs as a subprocess (so a test can read its
output line by line, cut a host at a given step, or SIGKILL it), and a steady
load goes through every host's Caddy from the root namespace.

Everything made here (namespaces, sshds, supervisords and apps, tmpfs mounts,
the login account) is removed by `close()`, even after a failed test.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from bench.deploy import link_tools
from bench.netns import Fleet, NetnsHost, ensure_user, remove_user
from conveyor.demo.deploys import stop_supervisors
from conveyor.demo.load import Load
from tests.integration.deployed import commit_mode, write_tiny_project

LISTEN = 18080  # every host's Caddy, in its own namespace
APP_PORT = 18100
MARKERS = ("CRASH", "UNHEALTHY", "IGNORE_TERM", "BROKEN", "SLOW", "CRASH_WORKER")
CONVEYOR = str(Path(sys.executable).with_name("conveyor"))
STRATEGY = (
    'healthy_threshold = 2, health_timeout = "10s", watch = "1s", batch = 1, '
    'keep_previous_warm = "15m"'
)
# A deploy that takes longer than this is a hang: the test fails with what it printed.
DEPLOY_TIMEOUT = 150.0


def worker_number() -> int:
    """0 without pytest-xdist, else N of "gwN": fleets of parallel workers never clash."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name[2:]) if name[2:].isdigit() else 0


@dataclass(frozen=True)
class Result:
    """A finished conveyor command."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        """Both streams, for messages and assertions."""
        return self.out + self.err


@dataclass(frozen=True)
class Line:
    """One event line of `conveyor deploy`: `host  step  message`."""

    host: str
    step: str
    message: str


class Running:
    """A conveyor command running as a subprocess; its output read as it comes."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = threading.Condition()
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, into: list[str]) -> None:
        for line in stream:
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def lines(self) -> list[Line]:
        """The event lines printed so far."""
        found = []
        for text in list(self.out):
            parts = text.split(None, 2)
            if len(parts) == 3:
                found.append(Line(*parts))
        return found

    def wait_for(self, match: Callable[[Line], bool], *, timeout: float = 60) -> Line:
        """Block until a printed event line matches; AssertionError (with the output) if never."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines():
                    if match(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._alive()):
                    raise AssertionError(
                        "the deploy never printed the awaited line; it printed:\n"
                        + "\n".join(self.out + self.err)
                    )
                self._changed.wait(timeout=min(left, 0.5))

    def _alive(self) -> bool:
        return any(reader.is_alive() for reader in self._readers)

    def finish(self, timeout: float = DEPLOY_TIMEOUT) -> Result:
        """Wait for the end; a command still running after `timeout` is killed and fails the test."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"conveyor did not finish within {timeout:g} s (it hangs); it printed:\n"
                + "\n".join(self.out + self.err)
            ) from None
        for reader in self._readers:
            reader.join(timeout=10)
        return Result(code, "\n".join(self.out) + "\n", "\n".join(self.err) + "\n")

    def kill(self) -> None:
        """SIGKILL, as when a laptop is closed or the OOM killer strikes."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@dataclass
class Loads:
    """A steady load through each host's Caddy; `failed` per host."""

    loads: dict[str, Load] = field(default_factory=dict)

    def failed(self, *, skip: tuple[NetnsHost, ...] = ()) -> dict[str, list[str]]:
        """Failed requests per host address, leaving out the hosts a test cut off."""
        gone = {host.address for host in skip}
        return {a: load.failed for a, load in self.loads.items() if a not in gone and load.failed}

    def summary(self) -> str:
        """One line per host, for assertion messages."""
        return "; ".join(f"{a}: {load.summary()}" for a, load in self.loads.items())


class FaultFleet:
    """N namespaced hosts running the tiny app, and the means to break them one at a time."""

    def __init__(self, count: int) -> None:
        # A network no other live fleet uses: held by a lock file for this fleet's life.
        network, self._claim = _claim_network(80 + worker_number())
        self.user = f"cvfault{network}"
        self.prefix = f"cvf{network}h"
        self.base = Path(tempfile.mkdtemp(prefix="cvf-"))
        self.root = self.base / "project"
        self.mounts: list[tuple[int, Path]] = []  # (pid in its mount namespace, path)
        self.good = ""  # the release every host serves between tests
        # Its commit: a reset builds it again when ten later builds have pruned it locally.
        self.good_ref = ""
        self.env = _clean_env(self.base / "home")
        _remove_namespaces(self.prefix, count)
        self.created_user = ensure_user(self.user)
        self.fleet = _fleet(self.user, network)
        self.hosts: list[NetnsHost] = []
        try:
            self.hosts = self.fleet.start(count, prefix=self.prefix)
            write_tiny_project(
                self.root,
                hosts=[h.spec for h in self.hosts],
                port=APP_PORT,
                listen=f":{LISTEN}",
                app_dir=f"{self.base}/hosts/{{host}}",
                strategy=STRATEGY,
            )
            link_tools(self.base, [h.address for h in self.hosts], owner=self.user)
        except BaseException:
            self.close()
            raise

    # --- conveyor -------------------------------------------------------------------------

    @property
    def ssh_args(self) -> list[str]:
        """--known-hosts and --identity of this fleet."""
        return [
            "--known-hosts",
            str(self.fleet.known_hosts),
            "--identity",
            str(self.fleet.identity),
        ]

    def argv(self, *args: str) -> list[str]:
        """`conveyor -C project ARGS`."""
        return [CONVEYOR, "-C", str(self.root), *args]

    def run(self, *args: str, timeout: float = DEPLOY_TIMEOUT) -> Result:
        """Run a conveyor command to its end."""
        return Running(self.argv(*args), self.env).finish(timeout)

    def start_deploy(self, *extra: str) -> Running:
        """`conveyor deploy staging` in the background."""
        return Running(self.argv("deploy", "staging", *self.ssh_args, *extra), self.env)

    def deploy(self, *extra: str) -> Result:
        """`conveyor deploy staging` to its end."""
        return self.start_deploy(*extra).finish()

    def commit(self, mode: str = "ok") -> None:
        """A new commit of the app, so the next deploy has a new release to ship."""
        commit_mode(self.root, mode)

    def set_strategy(self, strategy: str) -> None:
        """Rewrite the environment's strategy line in conveyor.toml."""
        path = self.root / "conveyor.toml"
        lines = [
            f"strategy = {{ {strategy} }}" if line.startswith("strategy = ") else line
            for line in path.read_text().splitlines()
        ]
        path.write_text("\n".join(lines) + "\n")

    def status(self) -> list[dict[str, Any]]:
        """`conveyor status staging --json`, one row per host (exit 1 when one is unreachable)."""
        result = self.run("status", "staging", *self.ssh_args, "--json", timeout=60)
        rows: list[dict[str, Any]] = json.loads(result.out)
        return rows

    def history(self) -> list[dict[str, Any]]:
        """`conveyor history staging --json`, newest first."""
        result = self.run("history", "staging", "--json", timeout=30)
        assert result.code == 0, result.text
        records: list[dict[str, Any]] = json.loads(result.out)
        return records

    def show(self, deploy_id: str) -> dict[str, Any]:
        """`conveyor history show ID --json`: the record and its events."""
        result = self.run("history", "show", deploy_id, "--json", timeout=30)
        assert result.code == 0, result.text
        shown: dict[str, Any] = json.loads(result.out)
        return shown

    # --- what hosts serve -------------------------------------------------------------------

    def url(self, host: NetnsHost) -> str:
        """The host's Caddy, from the root namespace."""
        return f"http://{host.address}:{LISTEN}/"

    def served(self, host: NetnsHost) -> str:
        """The version the host's Caddy serves now."""
        response = httpx.get(self.url(host), timeout=5)
        assert response.status_code == 200, f"{host.address}: {response.status_code}"
        return str(response.json()["version"])

    def assert_one_release(
        self, release: str, *, hosts: tuple[NetnsHost, ...] | list[NetnsHost] | None = None
    ) -> None:
        """Each host's state says `release`, and its Caddy serves that release's version."""
        wanted = list(self.hosts if hosts is None else hosts)
        rows = {row["host"]: row for row in self.status()}
        for host in wanted:
            row = rows[host.spec]
            assert row["state"] is not None, f"{host.spec}: {row['error']}"
            state = row["state"]
            assert state["release"] == release, (
                f"{host.spec} runs {state['release']}, not {release}"
            )
            assert not state.get("pending_release"), f"{host.spec}: {state}"
            assert self.served(host) == state["version"], f"{host.spec} serves another version"

    def release_of(self, host: NetnsHost) -> str:
        """The release in a host's state file, read through `conveyor status`."""
        rows = {row["host"]: row for row in self.status()}
        release: str = rows[host.spec]["state"]["release"]
        return release

    @contextlib.contextmanager
    def load(self, rate: float = 40.0) -> Iterator[Loads]:
        """A steady load through every host's Caddy while the block runs."""
        with contextlib.ExitStack() as stack:
            loads = Loads(
                {h.address: stack.enter_context(Load(self.url(h), rate=rate)) for h in self.hosts}
            )
            yield loads

    # --- faults -----------------------------------------------------------------------------

    def app_dir(self, host: NetnsHost) -> Path:
        """The host's app_dir (the namespaces share this machine's filesystem)."""
        return self.base / "hosts" / host.address

    def mark(self, host: NetnsHost, marker: str) -> None:
        """Create <app_dir>/shared/<marker> on one host (see tests/fixtures/tinyapp)."""
        assert marker in MARKERS
        (self.app_dir(host) / "shared" / marker).touch()

    def cut(self, host: NetnsHost) -> None:
        """Take the host off the network: its veth link goes down."""
        subprocess.run(["ip", "link", "set", f"v-{host.name}", "down"], check=True)

    def reconnect(self, host: NetnsHost) -> None:
        """Bring the host's link back up."""
        subprocess.run(["ip", "link", "set", f"v-{host.name}", "up"], check=True)
        _wait_port(host.address, 22)

    def stop_sshd(self, host: NetnsHost) -> None:
        """Stop the host's sshd: new connections are refused."""
        host.process.terminate()
        host.process.wait(timeout=10)

    def start_sshd(self, host: NetnsHost) -> None:
        """Start the host's sshd again, as `Fleet` first started it."""
        home = self.fleet.directory / host.name
        log = (home / "sshd.log").open("ab")
        host.process = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                host.name,
                "/usr/sbin/sshd",
                "-D",
                "-e",
                "-f",
                str(home / "sshd_config"),
            ],
            stdout=log,
            stderr=log,
        )
        _wait_port(host.address, 22)

    def fill_disk(self, host: NetnsHost, *, megabytes: int = 2) -> Path:
        """Mount a small tmpfs over the host's objects/ (where uploads land) and fill it up.

        The mount is made in the mount namespace of the host's sshd (`ip netns exec` gives
        it its own, and / here does not propagate mounts), so the deploy's commands see it.
        """
        objects = self.app_dir(host) / "objects"
        objects.mkdir(exist_ok=True)
        uid = int(subprocess.run(["id", "-u", self.user], capture_output=True).stdout)
        inside = ["nsenter", "--target", str(host.process.pid), "--mount", "--"]
        options = f"size={megabytes}m,mode=0755,uid={uid}"
        subprocess.run(
            [*inside, "mount", "-t", "tmpfs", "-o", options, "tmpfs", str(objects)], check=True
        )
        self.mounts.append((host.process.pid, objects))
        # dd stops at "No space left on device"; the last write fills the last page.
        filler = objects / ".filler"
        subprocess.run(
            [*inside, "dd", "if=/dev/zero", f"of={filler}", "bs=64k"],
            capture_output=True,
            check=False,
        )
        return objects

    def unmount_all(self) -> None:
        """Undo every `fill_disk` (a mount namespace whose sshd has gone took its mount along)."""
        while self.mounts:
            pid, path = self.mounts.pop()
            subprocess.run(
                ["nsenter", "--target", str(pid), "--mount", "--", "umount", "-l", str(path)],
                capture_output=True,
                check=False,
            )

    # --- between tests ----------------------------------------------------------------------

    def heal(self) -> None:
        """Every host reachable again, no marker, no full disk, no lock left."""
        self.unmount_all()
        for host in self.hosts:
            subprocess.run(["ip", "link", "set", f"v-{host.name}", "up"], check=False)
            if host.process.poll() is not None:
                self.start_sshd(host)
            else:
                _wait_port(host.address, 22)
            for marker in MARKERS:
                (self.app_dir(host) / "shared" / marker).unlink(missing_ok=True)

    def reset(self) -> None:
        """Heal, then put every host back on the known-good release (skipped when it is)."""
        self.heal()
        if any((self.app_dir(h) / "deploy.lock").exists() for h in self.hosts):
            unlocked = self.run("unlock", "staging", *self.ssh_args, timeout=60)
            assert unlocked.code == 0, unlocked.text
        if self._settled():
            return
        result = self.deploy("--ref", self.good_ref)
        assert result.code == 0, result.text
        self.assert_one_release(self.good)

    def _settled(self) -> bool:
        """Every host's state file and Caddy say the known-good release (read directly)."""
        for host in self.hosts:
            try:
                state = json.loads((self.app_dir(host) / "state.json").read_text())
                if state.get("release") != self.good or state.get("pending_release"):
                    return False
                if self.served(host) != state.get("version"):
                    return False
            except (OSError, ValueError, AssertionError, httpx.HTTPError):
                return False
        return True

    def close(self) -> None:
        """Remove everything this fleet made, whatever state the tests left."""
        with contextlib.suppress(Exception):
            self.heal()
        self.unmount_all()
        stop_supervisors(self.base / "hosts")
        self.fleet.close()
        if self.created_user:
            remove_user(self.user)
        shutil.rmtree(self.base, ignore_errors=True)
        shutil.rmtree(self.fleet.directory, ignore_errors=True)
        self._claim.close()


def _fleet(user: str, network: int) -> Fleet:
    """A Fleet on 10.<network>.N.2: a network of its own per pytest-xdist worker."""
    return Fleet(user=user, subnet=f"10.{network}")


def _clean_env(home: Path) -> dict[str, str]:
    """The test process's environment without the caller's conveyor settings, HOME apart."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CONVEYOR_", "DB_", "JWT_", "API_", "DATABASE_"))
        and k != "ENVIRONMENT"
    }
    env["HOME"] = str(home)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


def _claim_network(first: int) -> tuple[int, IO[bytes]]:
    """The first network from `first` on that no live fleet holds (another pytest session
    or xdist worker, a benchmark); its lock file stays open, and so held, until close()."""
    for network in [*range(first, 100), *range(80, first)]:
        claim = open(f"/run/lock/cvfault-{network}.lock", "wb")  # noqa: SIM115
        try:
            fcntl.flock(claim, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            claim.close()
            continue
        addresses = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
        if f" 10.{network}." not in addresses or _ours(network):
            return network, claim
        claim.close()  # someone else's addresses (not a fleet of this module)
    raise RuntimeError("no free 10.80-99 network for a fault-injection fleet")


def _ours(network: int) -> bool:
    """Every namespace on this network is a leftover of a killed run of this module."""
    existing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return any(line.startswith(f"cvf{network}h") for line in existing.splitlines())


def _remove_namespaces(prefix: str, count: int) -> None:
    """Namespaces a killed earlier run of this module on this worker left behind."""
    existing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    names = {line.split()[0] for line in existing.splitlines() if line.strip()}
    for number in range(1, count + 1):
        name = f"{prefix}{number}"
        if name not in names:
            continue
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
        for pid in pids.stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", name], check=False)
        subprocess.run(["ip", "link", "del", f"v-{name}"], check=False, capture_output=True)


def _wait_port(address: str, port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((address, port), timeout=0.3).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answers on {address}:{port}")


def available() -> str | None:
    """Why these tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "fault-injection tests need root (network namespaces, tmpfs mounts)"
    for tool in ("ip", "/usr/sbin/sshd", "ssh-keygen", "ssh-keyscan", "useradd", "nsenter"):
        if shutil.which(tool) is None:
            return f"fault-injection tests need {tool} (iproute2, openssh-server)"
    return None
