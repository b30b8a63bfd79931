"""Hosts for benchmarks: each a Linux network namespace with its own loopback and a real sshd.

A namespace gives a "host" its own port space, so several hosts on this
machine can all run the app on the same ports, as separate servers would.
They share the filesystem, so each host's app_dir must differ ("{host}").
Needs root and iproute2; everything created here is removed by `close()`.
"""

from __future__ import annotations

import contextlib
import getpass
import os
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

    @property
    def spec(self) -> str:
        """`deploy@10.77.N.2`."""
        return f"{self.user}@{self.address}"


@dataclass
class Fleet:
    """Namespaced hosts sharing one client key and one known_hosts file."""

    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cvnet-")))
    hosts: list[NetnsHost] = field(default_factory=list)
    # The account conveyor logs in as; a plain one, as on a real server (root's shell start-up
    # on this machine runs pyenv's init and adds ~0.15 s to every command).
    user: str = field(default_factory=getpass.getuser)
    # Second octet of the hosts' addresses (10.<network>.N.2): fleets alive at once differ.
    network: int = 77

    @property
    def identity(self) -> Path:
        """The client's private key."""
        return self.directory / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        """Every host's key."""
        return self.directory / "known_hosts"

    def start(self, count: int, *, prefix: str = "cvb") -> list[NetnsHost]:
        """Create `count` namespaces 10.<network>.N.0/24 with an sshd in each."""
        if not self.identity.exists():
            _keygen(self.identity)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        for number in range(len(self.hosts) + 1, len(self.hosts) + count + 1):
            self.hosts.append(self._host(f"{prefix}{number}", number))
        lines = [_keyscan(host.address) for host in self.hosts]
        self.known_hosts.write_text("".join(lines))
        return self.hosts

    def _host(self, name: str, number: int) -> NetnsHost:
        net = self.network
        outside, inside = f"10.{net}.{number}.1", f"10.{net}.{number}.2"
        veth = f"v-{name}"
        _ip("netns", "add", name)
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name)
        _ip("addr", "add", f"{outside}/24", "dev", veth)
        _ip("link", "set", veth, "up")
        for args in (
            ("addr", "add", f"{inside}/24", "dev", "eth0"),
            ("link", "set", "eth0", "up"),
            ("link", "set", "lo", "up"),
        ):
            _ip("-n", name, *args)
        home = self.directory / name
        home.mkdir()
        self.directory.chmod(0o755)
        _keygen(home / "host_key")
        (home / "authorized_keys").write_text(Path(f"{self.identity}.pub").read_text())
        config = home / "sshd_config"
        config.write_text(SSHD_CONFIG.format(address=inside, directory=home, user=self.user))
        log = (home / "sshd.log").open("wb")
        process = subprocess.Popen(
            ["ip", "netns", "exec", name, "/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
            stdout=log,
            stderr=log,
        )
        _wait(inside, 22)
        return NetnsHost(name, inside, process, self.user)

    def close(self) -> None:
        """Stop every sshd (and with the namespace, everything left in it)."""
        for host in self.hosts:
            host.process.terminate()
            host.process.wait(timeout=10)
            # Processes the deploys left in the namespace (supervisord, Caddy, the app).
            pids = subprocess.run(
                ["ip", "netns", "pids", host.name], capture_output=True, text=True
            ).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), 15)
            subprocess.run(["ip", "netns", "del", host.name], check=False)
        self.hosts.clear()


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _keyscan(address: str) -> str:
    return subprocess.run(
        ["ssh-keyscan", address], capture_output=True, text=True, check=True, timeout=10
    ).stdout


def _wait(address: str, port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
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
