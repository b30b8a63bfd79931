"""The migration host's record of the schema (`<app_dir>/schema.json`), and what it allows a
rollback to do.

Each deploy's migrate step writes, for its release: the database's revision before and
after (read back, under the lock), the revisions it ran, and the releases *proven* to
work with that schema: the release that served before, when its web colour answered
its health check directly, against the migrated database, right after the migrations
(`works_with`). `at` is the database's revision as conveyor last read it (a deploy, or
`conveyor db downgrade`).

A rollback to release Y is code only when the database is at Y's own schema, or at a
schema Y was proven against. When the record knows Y's schema and Y was never seen
working with this one, a rollback first has to run the downgrades back to Y's schema
(`--downgrade`). A release the record does not know (deployed before conveyor kept it)
goes back code only, and the rollback says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

from conveyor.errors import ConveyorError

KEPT = 20  # releases the record remembers (a host keeps fewer releases than that)


@dataclass(frozen=True)
class ReleaseSchema:
    """One release's migrations as its deploy ran them."""

    head: tuple[str, ...]  # the database's revision after them: this release's schema
    before: tuple[str, ...] = ()
    ran: tuple[str, ...] = ()
    works_with: tuple[str, ...] = ()  # other releases proven healthy against `head`
    backup: str = ""  # the verified dump taken before its migrations ran
    versions: str = ""  # sha256 of its revision files


@dataclass(frozen=True)
class Schema:
    """The whole record: the database's revision, and each release's schema, oldest first."""

    at: tuple[str, ...] | None = None
    releases: Mapping[str, ReleaseSchema] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """What a rollback to a release may do: `code_only`, or first go `down_to` a revision;
    `why` says which, in words."""

    code_only: bool
    why: str
    down_to: tuple[str, ...] | None = None


def loads(data: bytes | None, where: str = "schema.json") -> Schema:
    """The record (an empty one for None)."""
    if data is None:
        return Schema()
    try:
        raw = json.loads(data)
        releases = {
            rid: ReleaseSchema(
                head=tuple(entry["head"]),
                before=tuple(entry.get("before", ())),
                ran=tuple(entry.get("ran", ())),
                works_with=tuple(entry.get("works_with", ())),
                backup=str(entry.get("backup", "")),
                versions=str(entry.get("versions", "")),
            )
            for rid, entry in raw.get("releases", {}).items()
        }
        at = raw.get("at")
        return Schema(None if at is None else tuple(at), releases)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ConveyorError(
            f"{where} cannot be read ({error}); nothing was changed",
            hint="it is conveyor's record of the database's schema: remove it to start afresh",
        ) from None


def dumps(schema: Schema) -> bytes:
    """The record as JSON."""
    data = {
        "at": None if schema.at is None else list(schema.at),
        "releases": {rid: asdict(entry) for rid, entry in schema.releases.items()},
    }
    return (json.dumps(data, indent=2) + "\n").encode()


def migrated(
    schema: Schema,
    release: str,
    *,
    before: Sequence[str],
    after: Sequence[str],
    ran: Sequence[str],
    proven: Sequence[str],
    backup: str = "",
    versions: str = "",
) -> Schema:
    """The record once `release`'s migrations took the database from `before` to `after`,
    with the releases `proven` against it."""
    releases = {rid: entry for rid, entry in schema.releases.items() if rid != release}
    releases[release] = ReleaseSchema(
        tuple(after), tuple(before), tuple(ran), tuple(proven), backup, versions
    )
    kept = dict(list(releases.items())[-KEPT:])
    return Schema(tuple(after), kept)


def moved(schema: Schema, at: Sequence[str]) -> Schema:
    """The record once the database was taken to `at` outside a deploy (a downgrade)."""
    return replace(schema, at=tuple(at))


def verdict(schema: Schema, to: str) -> Verdict:
    """Whether rolling back to release `to` may leave the database as it is."""
    if schema.at is None:
        return Verdict(True, "no record of the database's schema here: code only")
    at = ", ".join(schema.at) or "empty"
    own = schema.releases.get(to)
    if own is not None and own.head == schema.at:
        return Verdict(True, f"the database is at {at}, {to}'s own schema: code only")
    for rid, entry in schema.releases.items():
        if entry.head == schema.at and to in entry.works_with:
            return Verdict(
                True,
                f"{to} answered healthy against the database at {at} during {rid}'s deploy: "
                "code only",
            )
    if own is None:
        return Verdict(
            True, f"no record of {to}'s schema (deployed before conveyor kept one): code only"
        )
    down = ", ".join(own.head) or "empty"
    return Verdict(
        False,
        f"the database is at {at}; {to} was deployed at {down} and was never seen working "
        f"with {at}",
        down_to=own.head,
    )
