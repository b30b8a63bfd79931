"""Who may approve, and whether a request has what it needs: the statement an approver
signs, and each signature judged against the environment's `approval` policy.

A statement names everything the approval is bound to: the request, the environment, the
plan's digest (which covers the release, the values, the configuration and every host's
state), who the authors of the range are (their digest), the allowed_signers file it was
checked against (its digest), the signer, the verdict, the time, the checklist items
confirmed and any freeze override. A signature over anything else, by a key
`allowed_signers` does not list, by somebody who wrote a change in the range (under any
of the names the key has there), or older than `expires`, does not count; and one key
counts once, whatever names it signs as.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from conveyor.deploy.saved import digest
from conveyor.gates import signing
from conveyor.gates.automatic import span
from conveyor.gates.requests import Request, Signature
from conveyor.project.environment import ApprovalConfig
from conveyor.project.fields import format_duration

FORMAT = "conveyor approval 1"
# A signer's clock may be a little ahead of ours; more than this is a statement from the future.
SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Verdict:
    """What one approver says about one request (the fields of the statement)."""

    request: str
    environment: str
    digest: str
    verdict: str  # "approve" or "reject"
    at: datetime  # aware
    signer: str = ""  # the principal it signs as
    authors: str = ""  # digest of the range's authors (`authors_digest`)
    signers: str = ""  # digest of the allowed_signers file it was checked against
    checklist: tuple[str, ...] = ()
    override: str = ""  # why a freeze window is broken
    why: str = ""  # why a rejection


def statement(v: Verdict) -> str:
    """The exact text an approver signs."""

    def one_line(text: str) -> str:
        return " ".join(text.split()) or "-"

    return "\n".join(
        [
            FORMAT,
            f"request: {v.request}",
            f"environment: {v.environment}",
            f"digest: {v.digest}",
            f"authors: {v.authors}",
            f"signers: {v.signers}",
            f"signer: {v.signer}",
            f"verdict: {v.verdict}",
            f"at: {v.at.isoformat()}",
            f"checklist: {' | '.join(one_line(i) for i in v.checklist) or '-'}",
            f"override: {one_line(v.override)}",
            f"why: {one_line(v.why)}",
            "",
        ]
    )


def parse(text: str) -> Verdict | None:
    """A statement's fields, or None when it is not one."""
    lines = text.split("\n")
    if not lines or lines[0] != FORMAT:
        return None
    fields = dict(line.partition(": ")[::2] for line in lines[1:] if line)
    try:
        checklist = fields["checklist"]
        at = datetime.fromisoformat(fields["at"])
        if at.tzinfo is None:
            return None
        return Verdict(
            request=fields["request"],
            environment=fields["environment"],
            digest=fields["digest"],
            verdict=fields["verdict"],
            at=at,
            signer=fields["signer"],
            authors=fields["authors"],
            signers=fields["signers"],
            checklist=() if checklist == "-" else tuple(checklist.split(" | ")),
            override="" if fields["override"] == "-" else fields["override"],
            why="" if fields["why"] == "-" else fields["why"],
        )
    except (KeyError, ValueError):
        return None


def authors_digest(authors: Sequence[str]) -> str:
    """What a statement binds of the range's authors."""
    return digest("\n".join(sorted(authors)))


def signers_digest(allowed_signers: Path) -> str:
    """What a statement binds of the allowed_signers file."""
    return digest(allowed_signers.read_bytes())


def wrote_a_change(signer: str, authors: Sequence[str]) -> str | None:
    """The author or committer in the range that `signer` is (by email or by name)."""
    who = signer.strip().lower()
    for person in authors:
        name, _, email = person.partition(" <")
        if who in (name.strip().lower(), email.rstrip(">").strip().lower()):
            return person
    return None


@dataclass(frozen=True)
class Standing:
    """A request as its signatures leave it."""

    approvers: tuple[str, ...] = ()  # distinct, valid
    needed: int = 1
    refused: tuple[str, ...] = ()  # "eve: not in approval.by", one per signature not counted
    rejected: tuple[str, str] | None = None  # (signer, why)
    override: tuple[str, str] | None = None  # (signer, why) of a valid freeze override
    approved_at: datetime | None = None  # when the last approval needed was given

    @property
    def missing(self) -> int:
        """Approvals still needed."""
        return max(0, self.needed - len(self.approvers))


def refusal(
    signature: Signature,
    request: Request,
    policy: ApprovalConfig,
    allowed_signers: Path,
    now: datetime,
) -> str | None:
    """Why this signature does not count (None: it counts)."""
    return judge(signature, request, policy, allowed_signers, now)[0]


def judge(
    signature: Signature,
    request: Request,
    policy: ApprovalConfig,
    allowed_signers: Path,
    now: datetime,
) -> tuple[str | None, frozenset[str]]:
    """Why this signature does not count (None: it counts), and every name its key has in
    allowed_signers (one key is one approver, whatever name it signs as)."""
    said = parse(signature.statement)
    if said is None or (said.request, said.environment, said.digest) != (
        request.id,
        request.environment,
        request.digest,
    ):
        return "what it signed is not this request's plan", frozenset()
    if said.authors != authors_digest(request.authors):
        return "it was signed for other authors of the range", frozenset()
    if said.signers != signers_digest(allowed_signers):
        return f"it was checked against another {allowed_signers.name}", frozenset()
    if (said.verdict, said.signer) != (signature.verdict, signature.signer):
        return "its recorded verdict or signer is not the one it signed", frozenset()
    names = frozenset(signing.principals(signature.signature, allowed_signers))
    if signature.signer not in names or not signing.verify(
        signature.statement, signature.signature, signature.signer, allowed_signers
    ):
        return f"its signature does not verify against {allowed_signers.name}", names
    if policy.by and signature.signer not in policy.by:
        return "not in approval.by", names
    if said.at > now + SKEW:
        return f"it is dated {said.at:%F %T} UTC, in the future", names
    if said.verdict != "approve":
        return None, names  # anybody in `by` may stop a deploy, its authors too
    authors = [wrote_a_change(name, request.authors) for name in sorted(names)]
    author = next((a for a in authors if a is not None), None)
    if policy.separate_from_author and author is not None:
        return (
            f"wrote a change in this deploy ({author}) and approval.separate_from_author is set",
            names,
        )
    if now - said.at > policy.expires:
        return f"given {span(now - said.at)} ago, approvals expire after " + format_duration(
            policy.expires
        ), names
    unchecked = [item for item in policy.checklist if item not in said.checklist]
    if unchecked:
        return f"did not confirm {', '.join(repr(i) for i in unchecked)}", names
    return None, names


def standing(
    request: Request, policy: ApprovalConfig, allowed_signers: Path, now: datetime
) -> Standing:
    """Each signature judged: who counts, who does not and why, a rejection, an override."""
    approvers: list[str] = []
    keys: list[frozenset[str]] = []
    refused: list[str] = []
    rejected = override = None
    approved_at = None
    for signature in request.signatures:
        why_not, names = judge(signature, request, policy, allowed_signers, now)
        if why_not is not None:
            refused.append(f"{signature.signer}: {why_not}")
            continue
        said = parse(signature.statement)
        assert said is not None
        if said.verdict == "reject":
            rejected = (signature.signer, said.why)
        elif names in keys:
            refused.append(f"{signature.signer}: the same key approved already")
        else:
            keys.append(names)
            approvers.append(signature.signer)
            if len(approvers) <= policy.required:
                approved_at = said.at
            if said.override:
                override = (signature.signer, said.override)
    return Standing(
        tuple(approvers), policy.required, tuple(refused), rejected, override, approved_at
    )
