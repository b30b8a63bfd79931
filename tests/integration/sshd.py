"""A real OpenSSH sshd for tests: its own host keys, a client key, known_hosts by ssh-keyscan.

`start_sshd(directory)` runs `/usr/sbin/sshd -D -e -f <config>` as a child of the
test process, listening on a free port of a 127.0.0.N address, logging in as the
current user with a key generated for it; `stop()` ends it by its PID.
"""

from __future__ import annotations

import getpass
import os
import random
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conveyor.hosts.ssh import SshConnector

SSHD = Path("/usr/sbin/sshd")
_START_TIMEOUT = 10.0

_CONFIG = """\
ListenAddress {host}:{port}
HostKey {directory}/ssh_host_ed25519_key
PidFile {directory}/sshd.pid
AuthorizedKeysFile {directory}/authorized_keys
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers {user}
MaxSessions 32
MaxStartups 100
LogLevel INFO
"""
_SFTP = "Subsystem sftp internal-sftp\n"


@dataclass
class Sshd:
    """One running sshd and what a client needs to reach it."""

    host: str
    port: int
    user: str
    known_hosts: Path
    identity: Path
    log: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def spec(self) -> str:
        """The host as conveyor.toml writes it: "user@127.0.0.N:PORT"."""
        return f"{self.user}@{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        """The sshd listener's process id."""
        return self.process.pid

    def connector(self, **overrides: Any) -> SshConnector:
        """An SshConnector for this sshd (known_hosts and identity filled in)."""
        options: dict[str, Any] = {
            "user": self.user,
            "host": self.host,
            "port": self.port,
            "known_hosts": self.known_hosts,
            "identity": self.identity,
        }
        options.update(overrides)
        return SshConnector(self.spec, **options)

    def logins(self) -> int:
        """How many SSH logins (connections) sshd has accepted so far."""
        return self.log.read_text(errors="replace").count("Accepted publickey for")

    def stop(self) -> None:
        """Stop sshd by its PID and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
    )


def _free_address() -> tuple[str, int]:
    # Distinct loopback addresses keep parallel test workers (xdist) from colliding.
    host = f"127.0.0.{random.randint(2, 254)}"
    with socket.socket() as probe:
        probe.bind((host, 0))
        return host, probe.getsockname()[1]


def _wait_listening(sshd: Sshd) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if sshd.process.poll() is not None:
            break
        try:
            socket.create_connection((sshd.host, sshd.port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    sshd.stop()
    pytest.fail(f"sshd did not start on {sshd.host}:{sshd.port}:\n{sshd.log.read_text()}")


def keyscan(host: str, port: int) -> str:
    """The known_hosts lines for host:port, from ssh-keyscan."""
    scanned = subprocess.run(
        ["ssh-keyscan", "-p", str(port), host], capture_output=True, text=True, timeout=10
    )
    if not scanned.stdout.strip():
        pytest.fail(f"ssh-keyscan found no key on {host}:{port}: {scanned.stderr}")
    return scanned.stdout


def start_sshd(directory: Path, *, client_key: Path | None = None, sftp: bool = True) -> Sshd:
    """Start an sshd with keys under `directory` (`sftp=False`: without the sftp subsystem);
    fails (never skips) when sshd is missing."""
    if not SSHD.exists():
        pytest.fail(
            f"{SSHD} is missing: the SSH tests need a real OpenSSH server. Run `make services` "
            "(scripts/ensure-services.sh installs openssh-server as root) or "
            "`apt-get install openssh-server`."
        )
    directory.mkdir(parents=True, exist_ok=True)
    _keygen(directory / "ssh_host_ed25519_key", "conveyor-test-host")
    identity = client_key or directory / "id_ed25519"
    if client_key is None:
        _keygen(identity, "conveyor-test-client")
    (directory / "authorized_keys").write_text(Path(f"{identity}.pub").read_text())
    if os.geteuid() == 0:
        # sshd needs its privilege-separation directory; a fresh container may lack it.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    user = getpass.getuser()
    host, port = _free_address()
    config = directory / "sshd_config"
    text = _CONFIG.format(host=host, port=port, directory=directory, user=user)
    config.write_text(text + (_SFTP if sftp else ""))
    log = directory / "sshd.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(config)], stdout=sink, stderr=sink
        )
    known_hosts = directory / "known_hosts"
    sshd = Sshd(host, port, user, known_hosts, identity, log, process)
    _wait_listening(sshd)
    known_hosts.write_text(keyscan(host, port))
    return sshd
