"""An approver's side of a request: what it stands at (`review`, which `approvals show`
prints and `approve` shows before signing), and a verdict signed, judged and recorded
(`sign`): the CLI only asks and prints."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from conveyor.errors import ConveyorError
from conveyor.gates import requests, signing
from conveyor.gates.automatic import Gate, evaluate
from conveyor.gates.flow import describe
from conveyor.gates.freeze import frozen
from conveyor.gates.policy import (
    Standing,
    Verdict,
    authors_digest,
    signers_digest,
    standing,
    statement,
)
from conveyor.gates.requests import Request
from conveyor.gates.trust import Trust
from conveyor.history.store import HistoryStore
from conveyor.notify.notices import approval_notices
from conveyor.project.environment import ApprovalConfig
from conveyor.project.load import Project


@dataclass(frozen=True)
class Review:
    """A request as its policy judges it now: who counts, the automatic gates, a freeze."""

    request: Request
    trust: Trust
    stands: Standing
    gates: tuple[Gate, ...]
    frozen: str | None

    @property
    def policy(self) -> ApprovalConfig:
        """The policy in force."""
        return self.trust.policy

    @property
    def signers(self) -> Path:
        """The allowed_signers file in force."""
        return self.trust.signers

    def said(self) -> str:
        """The request, its gates and signatures, as a person reads them."""
        return describe(self.request, self.stands, self.gates, self.trust, self.frozen)


def review(
    project: Project, store: HistoryStore, request: Request, trust: Trust, now: datetime
) -> Review:
    """The request judged under `trust`, the policy in force (`trust.in_force`)."""
    policy = trust.policy
    gates = evaluate(
        project,
        policy,
        request.environment,
        store,
        plan=request.plan,
        commit=request.commit,
        now=now,
    )
    return Review(
        request,
        trust,
        standing(request, policy, trust.signers, now),
        tuple(gates),
        frozen(policy.freeze, now),
    )


@dataclass(frozen=True)
class Signed:
    """A verdict recorded: who signed, and where the request stands with it."""

    signer: str
    status: str  # "pending", "approved" or "rejected"
    stands: Standing


def sign(
    project: Project, store: HistoryStore, seen: Review, verdict: Verdict, key: Path
) -> Signed:
    """Sign `verdict` as the key's name in allowed_signers, judge it under the policy as the
    deploy will, and record it with its notifications; a verdict that would not count is
    refused, and nothing is recorded."""
    request, policy = seen.request, seen.policy
    names = signing.names_of(key, seen.signers)
    if not names:
        raise ConveyorError(
            f"the key you signed with is not in {policy.allowed_signers}; nothing was recorded",
            hint="add your public key there (and commit it), or sign with --key PATH",
        )
    if any(c in name for name in names for c in "*?!"):
        raise ConveyorError(
            f"{policy.allowed_signers} names your key by a pattern ({', '.join(names)}); "
            "an approver must be named plainly; nothing was recorded",
            hint='write your line as "you@example.com ssh-ed25519 AAAA..."',
        )
    signer = next((n for n in names if not policy.by or n in policy.by), names[0])
    verdict = replace(
        verdict,
        signer=signer,
        authors=authors_digest(request.authors),
        signers=signers_digest(seen.signers),
    )
    text = statement(verdict)
    record = requests.Signature(signer, verdict.verdict, text, signing.sign(text, key), verdict.at)
    before = seen.stands
    with_it = replace(request, signatures=(*request.signatures, record))
    after = standing(with_it, policy, seen.signers, verdict.at)
    said = [r for r in after.refused[len(before.refused) :] if r.startswith(f"{signer}: ")]
    if verdict.verdict == "reject":
        counted = after.rejected == (signer, verdict.why)
    else:
        counted = len(after.approvers) > len(before.approvers)
    if not counted:
        why_not = said[-1].split(": ", 1)[1] if said else "it does not count"
        raise ConveyorError(
            f"{signer} may not {verdict.verdict} {request.id}: {why_not}; nothing was recorded"
        )
    rejected = verdict.verdict == "reject"
    status = "rejected" if rejected else ("approved" if not after.missing else "pending")
    notices = approval_notices(
        project.config,
        event="approval_rejected" if rejected else "approval_given",
        approval_id=request.id,
        environment=request.environment,
        version=request.version,
        who=signer,
        why=verdict.why or verdict.override or None,
    )
    requests.add_signature(store, request, record, status=status, why=verdict.why, notices=notices)
    return Signed(signer, status, after)
