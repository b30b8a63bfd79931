"""SshConnector against a real OpenSSH sshd: commands, files, host keys, failures."""

from __future__ import annotations

import asyncio
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conveyor.errors import CommandFailed, CommandTimeout, HostKeyUnknown, HostUnreachable
from conveyor.hosts.connect import connector_for
from conveyor.hosts.ssh import SshConnector
from tests.integration.sshd import Sshd


def test_run_put_get_over_one_connection(sshd: Sshd, tmp_path: Path) -> None:
    target = tmp_path / "remote" / "state.json"

    async def scenario(conn: SshConnector) -> None:
        result = await conn.run(
            ["sh", "-c", 'echo "$A"; pwd; cat; echo err >&2'],
            env={"A": "x y"},
            cwd=str(tmp_path),
            stdin=b"piped",
        )
        assert (result.stdout, result.stderr) == (f"x y\n{tmp_path}\npiped", "err\n")
        assert result.host == sshd.spec
        await asyncio.gather(*(conn.run(["true"]) for _ in range(12)))
        await conn.put(b'{"live": 1}', str(target), mode=0o600)
        await conn.put(b'{"live": 2}', str(target), mode=0o640)
        assert await conn.get(str(target)) == b'{"live": 2}'
        with pytest.raises(FileNotFoundError):
            await conn.get(str(tmp_path / "missing"))
        await conn.close()
        await conn.close()

    before = sshd.logins()
    asyncio.run(scenario(sshd.connector()))
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]
    _wait_for(lambda: sshd.logins() > before)
    assert sshd.logins() - before == 1, "every command and file went over one connection"


def test_connector_for_reaches_the_spec(sshd: Sshd) -> None:
    async def scenario() -> str:
        conn = connector_for(sshd.spec, known_hosts=sshd.known_hosts, identity=sshd.identity)
        try:
            return (await conn.run(["echo", "$HOME", "a'b"])).stdout
        finally:
            await conn.close()

    assert asyncio.run(scenario()) == "$HOME a'b\n"


def test_command_failed_names_host_argv_code_and_output(sshd: Sshd) -> None:
    async def scenario() -> None:
        conn = sshd.connector()
        try:
            await conn.run(["sh", "-c", "echo nope >&2; exit 5"])
        finally:
            await conn.close()

    with pytest.raises(CommandFailed) as caught:
        asyncio.run(scenario())
    assert str(caught.value) == (
        f"command failed on {sshd.spec} with exit code 5: sh -c 'echo nope >&2; exit 5'\n"
        "Last lines of its output:\n  | nope"
    )


def test_timeout_kills_the_remote_command_and_its_children(sshd: Sshd, tmp_path: Path) -> None:
    marker = tmp_path / "survived"
    script = f"echo started; (sleep 1; touch {marker}) & sleep 30"

    async def scenario() -> None:
        conn = sshd.connector()
        try:
            await conn.run(["sh", "-c", script], timeout=0.5)
        finally:
            await conn.close()

    began = time.monotonic()
    with pytest.raises(CommandTimeout) as caught:
        asyncio.run(scenario())
    assert time.monotonic() - began < 3
    assert str(caught.value) == (
        f"command timed out after 0.5 s on {sshd.spec} and was killed: sh -c '{script}'\n"
        "Last lines of its output:\n  | started"
    )
    time.sleep(1.2)
    assert not marker.exists(), "a child of the timed-out command kept running"


def test_unknown_host_key_is_refused_with_its_fingerprint(sshd: Sshd, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    with pytest.raises(HostKeyUnknown) as caught:
        asyncio.run(sshd.connector(known_hosts=empty).connect())
    fingerprint = _fingerprint(sshd)
    assert str(caught.value) == (
        f"the host key of {sshd.spec} ({sshd.host}:{sshd.port}) is not in {empty}; "
        "conveyor did not connect.\n"
        f"It offers an ssh-ed25519 key with fingerprint {fingerprint}.\n"
        "Verify that fingerprint out of band (on the host: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), then trust it:\n"
        f"    ssh-keyscan -p {sshd.port} {sshd.host} >> {empty}"
    )


def test_default_known_hosts_is_in_home_and_shown_with_a_tilde(sshd: Sshd) -> None:
    # The autouse fixture points HOME at an empty directory: nothing is trusted there.
    with pytest.raises(HostKeyUnknown) as caught:
        asyncio.run(sshd.connector(known_hosts=None).connect())
    assert "is not in ~/.ssh/known_hosts;" in str(caught.value)
    assert ">> ~/.ssh/known_hosts" in str(caught.value)


def test_changed_host_key_is_refused_loudly(sshd: Sshd, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    stale = tmp_path / "known_hosts"
    entry = f"[{sshd.host}]:{sshd.port}"
    stale.write_text(f"{entry} {Path(f'{other}.pub').read_text()}")
    with pytest.raises(HostKeyUnknown) as caught:
        asyncio.run(sshd.connector(known_hosts=stale).connect())
    assert str(caught.value) == (
        f"WARNING: the host key of {sshd.spec} ({sshd.host}:{sshd.port}) has CHANGED; conveyor refused to connect.\n"
        f"{stale} holds a different key for it; it now offers an ssh-ed25519 key with fingerprint {_fingerprint(sshd)}.\n"
        "Someone may be intercepting the connection (man-in-the-middle), or the host was reinstalled.\n"
        "Only if you have verified the new fingerprint out of band (on the host: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), replace the old entry:\n"
        f"    ssh-keygen -R '{entry}' -f {stale}\n"
        f"    ssh-keyscan -p {sshd.port} {sshd.host} >> {stale}"
    )


def test_closed_port_is_unreachable_at_once(sshd: Sshd) -> None:
    closed = sshd.connector(port=1, connect_timeout=5)
    began = time.monotonic()
    with pytest.raises(HostUnreachable) as caught:
        asyncio.run(closed.connect())
    assert time.monotonic() - began < 1
    assert str(caught.value) == (
        f"cannot connect to {sshd.spec} ({sshd.host}:1): connection refused; nothing was run there.\n"
        "Check that the host is up, that sshd listens on port 1 and that this machine can reach it."
    )


def _fingerprint(sshd: Sshd) -> str:
    pub = sshd.log.parent / "ssh_host_ed25519_key.pub"
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True
    )
    return out.stdout.split()[1]


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 2
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
