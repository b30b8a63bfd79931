"""Who approved, proven with SSH signatures, as git's SSH signing proves who committed.

`ssh-keygen -Y sign` signs a statement with the approver's key (or the agent holding it);
`ssh-keygen -Y find-principals` names who the key belongs to in an `allowed_signers` file
kept in the repository; `ssh-keygen -Y verify` checks the signature against that
principal. No library reads SSHSIG: OpenSSH's own tool is the reference, and it is on
every machine that can ssh.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conveyor.errors import ConveyorError

# Signatures made for something else (a git commit, a file) never count as an approval.
NAMESPACE = "conveyor-approval"
_DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")


def ssh_keygen() -> str:
    """The path of ssh-keygen, or an error saying how to get it."""
    found = shutil.which("ssh-keygen")
    if found is None:
        raise ConveyorError(
            "ssh-keygen is not installed: approvals are signed and checked with it",
            hint="install OpenSSH's client (Debian: apt install openssh-client)",
        )
    return found


def default_key() -> Path:
    """The approver's key: git's user.signingkey when it names a file, else ~/.ssh/id_*."""
    try:
        configured = subprocess.run(
            ["git", "config", "--get", "user.signingkey"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        configured = ""
    if configured and not configured.startswith(("ssh-", "key::")):
        path = Path(configured).expanduser()
        if path.exists():
            return path
    home = Path.home() / ".ssh"
    for name in _DEFAULT_KEYS:
        if (home / name).exists():
            return home / name
    raise ConveyorError(
        "no SSH key to sign the approval with (looked at git's user.signingkey and "
        f"{', '.join(f'~/.ssh/{n}' for n in _DEFAULT_KEYS)})",
        hint="name one with --key PATH (a private key, or a public key whose private key "
        "ssh-agent holds)",
    )


def sign(statement: str, key: Path) -> str:
    """The armored SSH signature of `statement` by `key`; the terminal stays free for a
    passphrase prompt."""
    if not key.exists():
        raise ConveyorError(f"{key}: no such key file", hint="name your key with --key PATH")
    with tempfile.TemporaryDirectory(prefix="conveyor-sign-") as scratch:
        data = Path(scratch) / "statement"
        data.write_text(statement, encoding="utf-8")
        done = subprocess.run(
            [ssh_keygen(), "-Y", "sign", "-q", "-f", str(key), "-n", NAMESPACE, str(data)],
            capture_output=True,
            text=True,
            check=False,
        )
        signature = data.with_name("statement.sig")
        if done.returncode != 0 or not signature.exists():
            said = done.stderr.strip().splitlines()
            raise ConveyorError(
                f"ssh-keygen could not sign with {key}: {said[-1] if said else 'no reason given'}",
                hint="use a key ssh-keygen can read (a passphrase is asked on the terminal), "
                "or one ssh-agent holds",
            )
        return signature.read_text(encoding="ascii")


def public_key(key: Path) -> str:
    """ "type base64" of `key` (its .pub beside it, else derived by ssh-keygen -y)."""
    pub = key if key.name.endswith(".pub") else key.with_name(key.name + ".pub")
    if pub.is_file():
        text = pub.read_text(encoding="ascii", errors="replace")
    else:
        done = subprocess.run(
            [ssh_keygen(), "-y", "-f", str(key)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise ConveyorError(
                f"{key}: not an SSH key ssh-keygen can read",
                hint="name your key with --key PATH",
            )
        text = done.stdout
    parts = text.split()
    if len(parts) < 2:
        raise ConveyorError(f"{pub}: not an SSH public key")
    return f"{parts[0]} {parts[1]}"


def names_of(key: Path, allowed_signers: Path) -> list[str]:
    """The principals allowed_signers gives `key`, in file order, to sign as (which of them
    counts is ssh-keygen's to say when the signature is checked)."""
    wanted = public_key(key)
    names: list[str] = []
    for line in allowed_signers.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        # "principals [options] keytype base64 [comment]"
        for at in range(1, len(fields) - 1):
            if f"{fields[at]} {fields[at + 1]}" == wanted:
                names += [n for n in fields[0].split(",") if n not in names]
                break
    return names


def principals(signature: str, allowed_signers: Path) -> list[str]:
    """Who `allowed_signers` says made `signature` (nobody: [])."""
    with _files(signature) as sig:
        done = subprocess.run(
            [ssh_keygen(), "-Y", "find-principals", "-s", sig, "-f", str(allowed_signers)],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def verify(statement: str, signature: str, principal: str, allowed_signers: Path) -> bool:
    """True when `principal`'s key in `allowed_signers` signed exactly `statement` for
    conveyor's approvals (and the key is valid there now)."""
    with _files(signature) as sig:
        done = subprocess.run(
            [
                ssh_keygen(),
                "-Y",
                "verify",
                "-f",
                str(allowed_signers),
                "-I",
                principal,
                "-n",
                NAMESPACE,
                "-s",
                sig,
            ],
            input=statement.encode(),
            capture_output=True,
            check=False,
        )
    return done.returncode == 0


@contextmanager
def _files(signature: str) -> Iterator[str]:
    """A signature in a private temporary file, for ssh-keygen's -s."""
    fd, path = tempfile.mkstemp(prefix="conveyor-", suffix=".sig")
    try:
        with os.fdopen(fd, "w", encoding="ascii", errors="replace") as file:
            file.write(signature)
        yield path
    finally:
        os.unlink(path)
