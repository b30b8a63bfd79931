"""Who may approve, and whether a request has what it needs: the statement an approver
signs, and each signature judged against the environment's `approval` policy.

A statement names everything the approval is bound to: the request, the environment, the
plan's digest (which covers the release, the values, the configuration and every host's
state), the verdict, the time, the checklist items confirmed and any freeze override. A
signature over anything else, by a key `allowed_signers` does not list, by somebody who
wrote a change in the range, or older than `expires`, does not count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

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
    at: datetime
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
        return Verdict(
            request=fields["request"],
            environment=fields["environment"],
            digest=fields["digest"],
            verdict=fields["verdict"],
            at=datetime.fromisoformat(fields["at"]),
            checklist=() if checklist == "-" else tuple(checklist.split(" | ")),
            override="" if fields["override"] == "-" else fields["override"],
            why="" if fields["why"] == "-" else fields["why"],
        )
    except (KeyError, ValueError):
        return None


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
    said = parse(signature.statement)
    if said is None or (said.request, said.environment, said.digest) != (
        request.id,
        request.environment,
        request.digest,
    ):
        return "what it signed is not this request's plan"
    if said.verdict != signature.verdict:
        return "its recorded verdict is not the one it signed"
    if not signing.verify(
        signature.statement, signature.signature, signature.signer, allowed_signers
    ):
        return f"its signature does not verify against {allowed_signers.name}"
    if policy.by and signature.signer not in policy.by:
        return "not in approval.by"
    if said.at > now + SKEW:
        return f"it is dated {said.at:%F %T} UTC, in the future"
    if said.verdict != "approve":
        return None  # anybody in `by` may stop a deploy, its authors too
    author = wrote_a_change(signature.signer, request.authors)
    if policy.separate_from_author and author is not None:
        return f"wrote a change in this deploy ({author}) and approval.separate_from_author is set"
    if now - said.at > policy.expires:
        return f"given {span(now - said.at)} ago, approvals expire after " + format_duration(
            policy.expires
        )
    unchecked = [item for item in policy.checklist if item not in said.checklist]
    if unchecked:
        return f"did not confirm {', '.join(repr(i) for i in unchecked)}"
    return None


def standing(
    request: Request, policy: ApprovalConfig, allowed_signers: Path, now: datetime
) -> Standing:
    """Each signature judged: who counts, who does not and why, a rejection, an override."""
    approvers: list[str] = []
    refused: list[str] = []
    rejected = override = None
    approved_at = None
    for signature in request.signatures:
        why_not = refusal(signature, request, policy, allowed_signers, now)
        if why_not is not None:
            refused.append(f"{signature.signer}: {why_not}")
            continue
        said = parse(signature.statement)
        assert said is not None
        if said.verdict == "reject":
            rejected = (signature.signer, said.why)
        elif signature.signer not in approvers:
            approvers.append(signature.signer)
            if len(approvers) <= policy.required:
                approved_at = said.at
            if said.override:
                override = (signature.signer, said.override)
    return Standing(
        tuple(approvers), policy.required, tuple(refused), rejected, override, approved_at
    )
