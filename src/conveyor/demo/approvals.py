"""The approval half of `conveyor demo`: staging starts asking for a signed approval.

Two people get SSH keys: the demo's author (who commits every release) and a reviewer.
The repository's allowed_signers names both; staging's `approval` asks for one approver
who is not an author of the range. The deploy that accepts 1.3.0's dropped column waits
as a request; the author's own approval is refused; the reviewer's is signed and counted;
the approved plan runs exactly as signed. Each step notifies a local webhook (`hook.py`)
that meets the first message with 429 and Retry-After.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

PEOPLE = ("demo", "reviewer")  # demo@example.com commits the demo's releases
APPROVAL = (
    'approval = { required = 1, by = ["reviewer@example.com", "demo@example.com"], '
    "checks = false }\n"
)


def require_approval(app: Path, hook: str) -> dict[str, Path]:
    """Keys for both people (in .conveyor/, out of git), allowed_signers, staging's
    `approval` and its notifications to `hook` (committed with the next release); returns
    each person's key."""
    keys = app / ".conveyor" / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    lines = []
    for name in PEOPLE:
        key = keys / name
        if not key.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
                check=True,
            )
        lines.append(f"{name}@example.com {key.with_suffix('.pub').read_text().strip()}")
    (app / "allowed_signers").write_text("\n".join(lines) + "\n")
    toml = app / "conveyor.toml"
    text = toml.read_text()
    header = re.search(r"^\[environments\.staging\][^\n]*\n", text, flags=re.MULTILINE)
    assert header is not None, "conveyor init writes a staging environment"
    notify = (
        f'notify = {{ targets = ["{hook}"], on = ["approval_requested", "approval_given", '
        '"succeeded", "failed", "rolled_back"] }\n'
    )
    toml.write_text(text[: header.end()] + APPROVAL + notify + text[header.end() :])
    return {name: keys / name for name in PEOPLE}


def waiting_request(app: Path) -> str:
    """The id of staging's approval request that waits."""
    from conveyor.gates.requests import listing
    from conveyor.history.store import HistoryStore

    with HistoryStore.for_project(app) as store:
        waiting = listing(store, "staging", pending=True, limit=1)
    return waiting[0].id if waiting else "none"


def approve_and_deploy(
    app: Path,
    keys: dict[str, Path],
    step: Callable[[str, Sequence[str], int], None],
) -> None:
    """Accept the dropped column: a request, a refused approval, a counted one, the run."""
    accept = ("--accept", "0005:drop-column", "--why", "tagline was never shown to anyone")
    step(
        "Accept the dropped column: the deploy waits as a request",
        ("deploy", "staging", *accept),
        3,
    )
    request = waiting_request(app)
    step(
        "Its author approves his own change: refused",
        ("approve", request, "--key", str(keys["demo"])),
        1,
    )
    step(
        "A reviewer signs it with her SSH key",
        ("approve", request, "--key", str(keys["reviewer"])),
        0,
    )
    step("Deploy exactly the approved plan", ("deploy", "staging", "--resume", request), 0)
