"""Host key checking against known_hosts, and the refusals a person can act on.

There is deliberately no way to turn checking off: an unknown key is refused
with its fingerprint and the command to trust it, a changed key louder still, a
revoked key with its fingerprint and no way back in.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import asyncssh


def default_known_hosts() -> Path:
    """`~/.ssh/known_hosts` of the user running conveyor (read at connect time)."""
    return Path.home() / ".ssh" / "known_hosts"


def load_known_hosts(path: Path) -> asyncssh.SSHKnownHosts:
    """The entries of `path`; a missing file trusts nothing (never falls back elsewhere)."""
    if not path.exists():
        return asyncssh.import_known_hosts("")
    return asyncssh.read_known_hosts(str(path))


class KeyRecorder(asyncssh.SSHClient):
    """Remembers the key a server offered when it was not in known_hosts, and rejects it."""

    def __init__(self) -> None:
        self.offered: asyncssh.SSHKey | None = None
        self.address: str = ""

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        """Called only for a key that known_hosts does not trust: record it, refuse it."""
        self.offered = key
        self.address = addr
        return False


def _shown_path(path: Path) -> str:
    home = Path.home()
    if path.is_relative_to(home):
        return "~/" + path.relative_to(home).as_posix()
    return shlex.quote(str(path))


def refusal(name: str, host: str, port: int, known_hosts: Path, recorder: KeyRecorder) -> str:
    """The message for a host whose key known_hosts does not trust."""
    shown = _shown_path(known_hosts)
    scan = f"ssh-keyscan -p {port} {shlex.quote(host)} >> {shown}"
    key = recorder.offered
    # asyncssh refuses a revoked key before asking the recorder: known_hosts says which it is.
    revoked = _revoked(known_hosts, host, port) if key is None else ()
    if revoked:
        keys = " or ".join(f"{k.get_algorithm()} {k.get_fingerprint('sha256')}" for k in revoked)
        return (
            f"the host key of {name} ({host}:{port}) is REVOKED: {shown} marks its key "
            f"({keys}) @revoked; conveyor refused to connect.\n"
            f"A revoked key is never to be trusted again: keep the @revoked line. The host needs "
            f"new host keys (whoever runs it regenerates them); then verify the new "
            f"fingerprint out of band before adding it."
        )
    if key is None:
        return (
            f"the host key of {name} ({host}:{port}) could not be verified against {shown}; "
            f"conveyor did not connect.\nVerify the host's key out of band, then trust it:\n"
            f"    {scan}"
        )
    offered = f"an {key.get_algorithm()} key with fingerprint {key.get_fingerprint('sha256')}"
    entries = load_known_hosts(known_hosts).match(
        host, recorder.address, None if port == 22 else port
    )
    if entries[0]:
        entry = host if port == 22 else f"[{host}]:{port}"
        return (
            f"WARNING: the host key of {name} ({host}:{port}) has CHANGED; "
            f"conveyor refused to connect.\n"
            f"{shown} holds a different key for it; it now offers {offered}.\n"
            f"Someone may be intercepting the connection (man-in-the-middle), or the host "
            f"was reinstalled.\nOnly if you have verified the new fingerprint out of band "
            f"(on the host: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), replace the old entry:\n"
            f"    ssh-keygen -R {shlex.quote(entry)} -f {shown}\n"
            f"    {scan}"
        )
    return (
        f"the host key of {name} ({host}:{port}) is not in {shown}; conveyor did not connect.\n"
        f"It offers {offered}.\n"
        f"Verify that fingerprint out of band (on the host: ssh-keygen -lf "
        f"/etc/ssh/ssh_host_*_key.pub), then trust it:\n"
        f"    {scan}"
    )


def _revoked(known_hosts: Path, host: str, port: int) -> tuple[asyncssh.SSHKey, ...]:
    """The keys known_hosts marks @revoked for host:port."""
    if not known_hosts.exists():
        return ()
    entries = load_known_hosts(known_hosts).match(host, host, None if port == 22 else port)
    # One key can match more than one line (by name and by address): each key once.
    return tuple({key.get_fingerprint("sha256"): key for key in entries[2]}.values())
