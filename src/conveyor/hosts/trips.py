"""Round trips: how many times a connector sent its host a request and waited for the answer.

Each `run`, `put` and `get` call is one round trip, whether it succeeds or not (the
`commands`), and so is the start of a session a connection opens once: an agent
(hosts/agent.py) or the SFTP session. `forward` (a tunnel) and `connect` are not
counted. An upload (hosts/upload.py) is the two `run`s it makes whatever the size of
the tree (one when it is told what the host's store holds). For SSH, a `put` is one
call but several SFTP requests on the open connection (mkdir, open, write, chmod,
rename): the count is what the caller waits on, not packets.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

# Interpreters whose `-c` argument is a program, not a flag's value (`supervisorctl -c conf`).
_INTERPRETER = re.compile(r"python[0-9.]*|sh|bash")


def command_label(argv: Sequence[str]) -> str:
    """What a command is, without its arguments: "supervisorctl", "python3 -c",
    "python3 -m alembic". Arguments are left out: they can be long, and are nobody's
    business in a count."""
    if not argv:
        return "?"
    program = PurePosixPath(argv[0]).name
    if len(argv) > 1 and _INTERPRETER.fullmatch(program):
        if argv[1] == "-c":
            return f"{program} -c"
        if argv[1] == "-m" and len(argv) > 2:
            return f"{program} -m {argv[2]}"
    return program


@dataclass
class RoundTrips:
    """A connector's round trips by kind ("run", "put", "get") and by command label."""

    by_kind: Counter[str] = field(default_factory=Counter)
    by_command: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """Every round trip so far."""
        return self.by_kind.total()

    @property
    def commands(self) -> int:
        """The commands run and the files written or read: every round trip but the sessions
        a connection opens once (its agents, its SFTP session)."""
        return self.total - self.by_kind["session"]

    def ran(self, argv: Sequence[str]) -> None:
        """Count one command."""
        self.by_kind["run"] += 1
        self.by_command[command_label(argv)] += 1

    def started(self) -> None:
        """Count an agent's start (hosts/agent.py): a session, waited on until it is ready."""
        self.opened("agent start")

    def opened(self, what: str) -> None:
        """Count a session opened on the connection and waited on ("sftp start")."""
        self.by_kind["session"] += 1
        self.by_command[what] += 1

    def moved(self, kind: str) -> None:
        """Count one file written ("put") or read ("get"); never its path or contents."""
        self.by_kind[kind] += 1
        self.by_command[kind] += 1

    def add(self, other: RoundTrips) -> None:
        """Add another count to this one (one host's connectors over a whole command)."""
        self.by_kind.update(other.by_kind)
        self.by_command.update(other.by_command)
