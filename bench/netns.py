"""Hosts for benchmarks: each a Linux network namespace with its own loopback and a real sshd.

A namespace gives a "host" its own port space, so several hosts on this
machine can all run the app on the same ports, as separate servers would.
They share the filesystem, so each host's app_dir must differ ("{host}").
Needs root and iproute2; everything created here is removed by `close()`,
also after a start that failed half-way.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD_CONFIG = """\
ListenAddress {address}:22
HostKey {directory}/host_key
PidFile {directory}/sshd.pid
AuthorizedKeysFile {directory}/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers {user}
MaxSessions 32
MaxStartups 100
AllowTcpForwarding yes
Subsystem sftp internal-sftp
"""


@dataclass
class NetnsHost:
    """One namespace: its name, its address, its sshd process."""

    name: str
    address: str
    process: subprocess.Popen[bytes]
    user: str
    directory: Path | None = None  # the sshd's config, keys and log

    @property
    def spec(self) -> str:
        """`deploy@10.77.N.2`."""
        return f"{self.user}@{self.address}"

    @property
    def log(self) -> Path:
        """The sshd's log (one "Accepted publickey" line per connection)."""
        assert self.directory is not None
        return self.directory / "sshd.log"


@dataclass
class Fleet:
    """Namespaced hosts sharing one client key and one known_hosts file."""

    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cvnet-")))
    hosts: list[NetnsHost] = field(default_factory=list)
    # The account conveyor logs in as; a plain one, as on a real server (root's shell start-up
    # on this machine runs pyenv's init and adds ~0.15 s to every command).
    user: str = field(default_factory=getpass.getuser)
    # Host N is 10.77.N.2; another subnet lets two benchmarks run side by side.
    subnet: str = "10.77"
    # Every namespace made, recorded before anything else can fail, so close() finds it.
    namespaces: list[str] = field(default_factory=list)

    @property
    def identity(self) -> Path:
        """The client's private key."""
        return self.directory / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        """Every host's key."""
        return self.directory / "known_hosts"

    def start(self, count: int, *, prefix: str = "cvb") -> list[NetnsHost]:
        """Create `count` namespaces 10.77.N.0/24 with an sshd in each."""
        if not self.identity.exists():
            _keygen(self.identity)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.directory.chmod(0o755)
        new = []
        for number in range(len(self.hosts) + 1, len(self.hosts) + count + 1):
            host = self._host(f"{prefix}{number}", number)
            self.hosts.append(host)
            new.append(host)
        # The sshds start side by side; wait for them together, then one keyscan for all.
        for host in new:
            _wait(host.address, 22, host.process)
        self.known_hosts.write_text(_keyscan([host.address for host in self.hosts]))
        return self.hosts

    def _host(self, name: str, number: int) -> NetnsHost:
        outside, inside = f"{self.subnet}.{number}.1", f"{self.subnet}.{number}.2"
        veth = f"v-{name}"
        _ip("netns", "add", name)
        self.namespaces.append(name)
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name)
        _ip("addr", "add", f"{outside}/24", "dev", veth)
        _ip("link", "set", veth, "up")
        _ip_batch(
            name,
            [
                f"addr add {inside}/24 dev eth0",
                "link set eth0 up",
                "link set lo up",
            ],
        )
        home = self.directory / name
        home.mkdir()
        _keygen(home / "host_key")
        (home / "authorized_keys").write_text(Path(f"{self.identity}.pub").read_text())
        config = home / "sshd_config"
        config.write_text(SSHD_CONFIG.format(address=inside, directory=home, user=self.user))
        with (home / "sshd.log").open("wb") as log:
            process = subprocess.Popen(
                ["ip", "netns", "exec", name, "/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
                stdout=log,
                stderr=log,
            )
        return NetnsHost(name, inside, process, self.user, home)

    def close(self) -> None:
        """Stop every sshd and everything left in the namespaces, then delete them.

        Never raises: one host that will not go away does not keep the others.
        """
        for host in self.hosts:
            host.process.terminate()
            try:
                host.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                host.process.kill()
                host.process.wait(timeout=10)
        # Processes the deploys left in the namespaces (supervisord, Caddy, the app):
        # SIGTERM to all, a grace period for all together, then SIGKILL to what is left.
        for name in self.namespaces:
            _signal_all(_netns_pids(name), signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_netns_pids(n) for n in self.namespaces):
            time.sleep(0.2)
        for name in self.namespaces:
            _signal_all(_netns_pids(name), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        self.namespaces.clear()
        self.hosts.clear()


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _ip_batch(namespace: str, commands: list[str]) -> None:
    """Several `ip` commands inside a namespace in one process."""
    subprocess.run(
        ["ip", "-n", namespace, "-batch", "-"],
        input="\n".join(commands) + "\n",
        text=True,
        check=True,
        capture_output=True,
    )


def _netns_pids(name: str) -> list[int]:
    result = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    return [int(pid) for pid in result.stdout.split()]


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _keyscan(addresses: list[str]) -> str:
    """known_hosts lines for every address, with a retry for one that missed the first scan."""
    result = subprocess.run(
        ["ssh-keyscan", "-t", "ed25519", *addresses],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    found = {line.split()[0] for line in result.splitlines() if line and line[0] != "#"}
    for address in addresses:
        if address not in found:
            result += subprocess.run(
                ["ssh-keyscan", address], capture_output=True, text=True, check=True, timeout=10
            ).stdout
    return result


def _wait(address: str, port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd on {address} exited with {process.returncode}")
        try:
            socket.create_connection((address, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd on {address}:{port} did not start")


def ensure_user(name: str) -> bool:
    """Create the system account `name` (no password, shell bash); True when it was created."""
    if subprocess.run(["id", name], capture_output=True).returncode == 0:
        return False
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
    # No password, but not locked: sshd refuses a locked account even for a key.
    subprocess.run(["usermod", "-p", "*", name], check=True)
    return True


def remove_user(name: str) -> None:
    """Remove an account `ensure_user` created, with its home."""
    subprocess.run(["userdel", "--remove", name], capture_output=True, check=False)
