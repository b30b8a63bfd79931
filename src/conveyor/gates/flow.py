"""How a deploy to an environment with `approval` passes its gates.

`conveyor deploy ENV` plans as `--plan-out` does (every check, hosts only read). A plan
with no request yet becomes one, pending, and the command exits 3 saying what it needs.
Once approvers have signed it (`conveyor approve ID`), the same command, or `conveyor
deploy ENV --resume ID`, plans again: it runs only when that plan is the approved one
(same digest: release, values, configuration and every host's state), the signatures
still verify and hold under the policy, the automatic gates pass and no freeze window
is in force that an approver did not override. A request runs once.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from conveyor.build import load_release
from conveyor.build.git import commits_between
from conveyor.deploy.changes import is_hotfix_ref
from conveyor.deploy.preflight import Access, Limit
from conveyor.deploy.saved import SavedRun, check_document, document, holds, saved_run
from conveyor.errors import AwaitingApproval, ConveyorError
from conveyor.gates import requests
from conveyor.gates.automatic import Gate, evaluate
from conveyor.gates.freeze import frozen
from conveyor.gates.policy import Standing, standing
from conveyor.gates.requests import Request
from conveyor.gates.trust import Trust, have, in_force, in_force_here, serving_commit
from conveyor.history.records import utcnow
from conveyor.history.store import HistoryStore
from conveyor.migrations.lint import Acceptance
from conveyor.notify.notices import approval_notices
from conveyor.project.load import Project


def no_rollback_to(project: Project, environment: str, release: str) -> None:
    """In an environment with approvals, `rollback --to` is refused: it deploys a release
    with today's values and configuration, which is a deploy and needs its approvals. The
    plain rollback (the previous release, with what it ran with) needs none."""
    if in_force_here(project, environment) is None:
        return
    raise ConveyorError(
        f"{environment} needs approvals: rollback --to ships {release} with today's values "
        "and configuration, which is a deploy; nothing was done",
        hint=f"conveyor rollback {environment} goes back to the previous release without one; "
        f"for another, conveyor deploy {environment} --release {release} asks for approval",
    )


@dataclass(frozen=True)
class Cleared:
    """A request that may run now, claimed: run exactly `run`, with `accept`."""

    request: Request
    run: SavedRun
    accept: Acceptance
    standing: Standing
    gates: tuple[Gate, ...]


@dataclass(frozen=True)
class Asked:
    """What a deploy asks for: the release to deploy and how."""

    ref: str = "HEAD"
    release_id: str | None = None
    watch: float | None = None
    limit: Limit = field(default_factory=Limit)
    overrides: dict[str, str] | None = None
    access: Access = field(default_factory=Access)
    accept: Acceptance = field(default_factory=Acceptance)
    force: bool = False
    hotfix: bool = False


def clear(
    project: Project,
    environment: str,
    store: HistoryStore,
    asked: Asked,
    *,
    resume: str | None = None,
    now: Callable[[], datetime] = utcnow,
    claim: bool = True,
) -> Cleared:
    """The request this deploy runs, claimed; AwaitingApproval when it must wait (a new
    request is recorded then), ConveyorError when it may not run. `claim=False`: the dry
    run's look, which leaves the request as it is."""
    trust = in_force(project, store, environment)
    assert trust is not None
    policy, signers = trust.policy, trust.signers
    if resume is not None:
        request = requests.get(store, resume)
        if request.environment != environment:
            raise ConveyorError(
                f"approval request {resume} is for {request.environment}, not {environment}"
            )
        _runnable(request, environment)  # before planning again: its answer does not change
        if request.plan.get("digest") != request.digest or not holds(request.plan):
            raise ConveyorError(
                f"approval request {request.id}: its stored plan is not the plan its digest "
                "names (the history was changed by hand); nothing was deployed",
                hint=f"ask for a new approval: conveyor deploy {environment}",
            )
        accept = accepted(request)
        run = check_document(
            project,
            environment,
            request.plan,
            access=asked.access,
            overrides=asked.overrides,
            accept=accept,
            source=f"approval request {request.id}",
            hint=f"ask for an approval of the plan as it is now: conveyor deploy {environment}",
            force=bool(request.context.get("force")),
        )
    else:
        request, run, accept = _request_for(project, environment, store, asked, trust, now())
    at = now()
    stands = standing(request, policy, signers, at)
    gates = tuple(
        evaluate(
            project, policy, environment, store, plan=request.plan, commit=request.commit, now=at
        )
    )
    failing = [g for g in gates if not g.passed]
    if failing:
        raise ConveyorError(
            f"approval request {request.id} may not run: "
            + "; ".join(f"{g.name}: {g.said}" for g in failing)
            + "; nothing was deployed"
        )
    window = frozen(policy.freeze, at)
    if stands.missing:
        raise AwaitingApproval(describe(request, stands, gates, trust, window))
    if window is not None and stands.override is None:
        raise ConveyorError(
            f"{environment} is frozen now ({window}); nothing was deployed",
            hint=f"an approver may break the freeze: conveyor approve {request.id} --override "
            '--why "..."',
        )
    if claim and not requests.claim(store, request.id):
        raise ConveyorError(
            f"approval request {request.id} was claimed by another deploy just now; nothing "
            "was deployed",
            hint=f'"conveyor approvals show {request.id}" says which deploy ran it',
        )
    return Cleared(request, run, accept, stands, gates)


def _runnable(request: Request, environment: str) -> None:
    """Refuse a request that ran or was rejected."""
    if request.status == "ran":
        raise ConveyorError(
            f"approval request {request.id} ran already (deploy {request.deploy_id}); "
            "an approval lets one deploy run",
            hint=f"ask again: conveyor deploy {environment}",
        )
    if request.status == "rejected":
        raise ConveyorError(
            f"approval request {request.id} was rejected: {request.why}; nothing was deployed",
            hint=f"mend what it says and ask again: conveyor deploy {environment}",
        )


def accepted(request: Request) -> Acceptance:
    """The lint findings the request's deploy accepted, and why."""
    said = request.context.get("accept") or {}
    return Acceptance(tuple(said.get("rules", ())), str(said.get("why", "")))


def _request_for(
    project: Project,
    environment: str,
    store: HistoryStore,
    asked: Asked,
    trust: Trust,
    now: datetime,
) -> tuple[Request, SavedRun, Acceptance]:
    """The request for the plan made now: the open one with its digest, else a new one."""
    from conveyor.deploy.run import plan_deploy

    plan = plan_deploy(
        project,
        environment,
        ref=asked.ref,
        release_id=asked.release_id,
        access=asked.access,
        watch=asked.watch,
        limit=asked.limit,
        overrides=asked.overrides,
        force=asked.force,
        saving=True,
        accept=asked.accept,
    )
    doc = document(plan)
    for open_ in requests.listing(store, environment, pending=True, limit=50):
        if open_.digest == doc["digest"]:
            return open_, saved_run(doc), asked.accept
    commit = str(doc["inputs"]["commit"]) or load_release(project, str(doc["release"])).commit
    people, span_ = authors(project, store, environment, commit)
    context = {
        "accept": {"rules": list(asked.accept.rules), "why": asked.accept.why},
        "ref": asked.ref,
        "hotfix": asked.hotfix or is_hotfix_ref(project.root, asked.ref),
        "force": asked.force,
        "range": span_,
    }
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    request = requests.create(
        store,
        environment=environment,
        plan=doc,
        version=plan.release,
        commit=commit,
        context=context,
        authors=sorted(people),
        requested_by=who,
        now=now,
        announce=lambda request_id: approval_notices(
            project.config,
            event="approval_requested",
            approval_id=request_id,
            environment=environment,
            version=plan.release,
            who=who,
        ),
    )
    policy = trust.policy
    gates = evaluate(project, policy, environment, store, plan=doc, commit=commit, now=now)
    raise AwaitingApproval(
        describe(request, Standing(needed=policy.required), tuple(gates), trust, None, new=True)
    )


RANGE_LIMIT = 10_000


def authors(
    project: Project, store: HistoryStore, environment: str, commit: str
) -> tuple[set[str], str]:
    """Who authored or committed a change between what serves and `commit`, and the range;
    an error when git cannot list it all (nobody who wrote a change may slip through)."""
    base = serving_commit(store, environment)
    if base:
        have(project, base, environment)
    changes = commits_between(project.root, base, commit, limit=RANGE_LIMIT)
    if len(changes) >= RANGE_LIMIT:
        raise ConveyorError(
            f"{RANGE_LIMIT} or more commits since what {environment} serves: too many to "
            "list their authors; nothing was recorded"
        )
    people: set[str] = set()
    for change in changes:
        people |= {change.author, change.committer}
    return people, f"{base[:12]}..{commit[:12]}" if base else commit[:12]


def describe(
    request: Request,
    stands: Standing,
    gates: tuple[Gate, ...],
    trust: Trust,
    window: str | None,
    *,
    new: bool = False,
) -> str:
    """A request for a person: what it deploys, the gates, who has approved, what is left."""
    policy = trust.policy
    verb = "recorded:" if new else "waiting:"
    lines = [
        f"approval request {request.id} {verb} deploy {request.version} to "
        f"{request.environment} (plan {request.digest})",
        f"policy: {trust.source}",
        "gates:",
        *(f"  {'ok  ' if g.passed else 'FAIL'} {g.name}: {g.said}" for g in gates),
    ]
    if policy.checklist:
        lines.append("checklist (each approver confirms): " + "; ".join(policy.checklist))
    who = ", ".join(policy.by) if policy.by else "anyone in " + policy.allowed_signers
    lines.append(
        f"approvals: {len(stands.approvers)} of {stands.needed}"
        + (f" ({', '.join(stands.approvers)})" if stands.approvers else "")
        + f"; from {who}"
        + (", not the authors of its changes" if policy.separate_from_author else "")
    )
    lines += [f"  not counted: {r}" for r in stands.refused]
    if window:
        lines.append(f"frozen now ({window}): an approval needs --override --why to break it")
    lines.append(
        f"approve: conveyor approve {request.id}; then run: conveyor deploy "
        f"{request.environment} --resume {request.id}"
    )
    return "\n".join(lines)
