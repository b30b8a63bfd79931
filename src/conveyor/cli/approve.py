"""`conveyor approve ID`, `conveyor reject ID --why`, `conveyor approvals [ENV | show ID]`,
and the deploy that waits for them (`gates/flow.py`)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from conveyor.cli.context import project_dir
from conveyor.cli.notify import notifying
from conveyor.cli.output import err, out
from conveyor.errors import AwaitingApproval, ConveyorError
from conveyor.project.load import Project, load_project

if TYPE_CHECKING:
    from conveyor.deploy.plan import Plan
    from conveyor.gates.flow import Asked
    from conveyor.gates.policy import Verdict
    from conveyor.gates.requests import Request
    from conveyor.gates.trust import Trust
    from conveyor.history.store import HistoryStore

USAGE = "[ENV | show ID]"


def register(app: typer.Typer) -> None:
    """Add approve, reject and approvals."""
    app.command("approve")(approve_command)
    app.command("reject")(reject_command)
    app.command("approvals")(approvals_command)


def approve_command(
    ctx: typer.Context,
    request_id: str = typer.Argument(..., metavar="ID", help="The approval request."),
    key: Path | None = typer.Option(
        None, "--key", help="SSH key to sign with (default: git's user.signingkey, ~/.ssh/id_*)."
    ),
    confirm: list[str] = typer.Option(
        [],
        "--confirm",
        metavar="ITEM",
        help="A checklist item you confirm, by its text or number (repeatable; asked on a "
        "terminal when not given).",
    ),
    override: bool = typer.Option(
        False, "--override", help="Break a freeze window in force (needs --why; recorded)."
    ),
    why: str = typer.Option("", "--why", help="Why the freeze may be broken (with --override)."),
) -> None:
    """Approve a waiting deploy: sign its plan's digest with your SSH key."""
    if override and not why.strip():
        raise ConveyorError("--override needs --why: the reason is recorded and signed")
    project = load_project(project_dir(ctx))
    with notifying(project), _store(project) as store:
        request, trust = _pending(project, store, request_id)
        items = _checklist(trust.policy.checklist, confirm)
        from conveyor.gates.policy import Verdict

        _sign(
            project,
            store,
            request,
            trust,
            Verdict(
                request.id,
                request.environment,
                request.digest,
                "approve",
                _now(),
                checklist=items,
                override=why.strip() if override else "",
            ),
            key,
        )


def reject_command(
    ctx: typer.Context,
    request_id: str = typer.Argument(..., metavar="ID", help="The approval request."),
    why: str = typer.Option(..., "--why", help="Why it may not run (recorded, signed)."),
    key: Path | None = typer.Option(None, "--key", help="SSH key to sign with."),
) -> None:
    """Reject a waiting deploy, signed: it will not run."""
    if not why.strip():
        raise ConveyorError("--why may not be empty: the reason is recorded")
    project = load_project(project_dir(ctx))
    with notifying(project), _store(project) as store:
        request, trust = _pending(project, store, request_id)
        from conveyor.gates.policy import Verdict

        verdict = Verdict(
            request.id, request.environment, request.digest, "reject", _now(), why=why.strip()
        )
        _sign(project, store, request, trust, verdict, key)


def approvals_command(
    ctx: typer.Context,
    words: list[str] | None = typer.Argument(None, metavar=USAGE, help="ENV, or: show ID."),
    everything: bool = typer.Option(False, "--all", help="Decided and run requests too."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List approval requests waiting (or all); "approvals show ID" prints one."""
    from conveyor.gates import requests

    args = list(words or [])
    project = load_project(project_dir(ctx))
    with _store(project) as store:
        if args[:1] == ["show"]:
            if len(args) != 2:
                raise typer.BadParameter("show takes one ID", param_hint=USAGE)
            _show(project, store, requests.get(store, args[1]), as_json)
            return
        if len(args) > 1:
            raise typer.BadParameter(f"expected one, got: {' '.join(args)}", param_hint=USAGE)
        found = requests.listing(store, args[0] if args else None, pending=not everything)
    if as_json:
        out().print_json(json.dumps([_as_dict(r) for r in found], default=str))
        return
    if not found:
        out().print("no approval requests" + ("" if everything else " waiting"), markup=False)
        return
    for r in found:
        approvals = sum(s.verdict == "approve" for s in r.signatures)
        out().print(
            f"{r.id}  {r.environment}  {r.status:<8}  {r.version}  {approvals} signed  "
            f"requested by {r.requested_by} at {r.requested_at:%F %T}Z"
            + (f"  ran as {r.deploy_id}" if r.deploy_id else ""),
            markup=False,
        )


def approved_deploy(
    project: Project, environment: str, asked: Asked, *, resume: str | None, dry_run: bool = False
) -> None:
    """The deploy of an environment with `approval`: a request recorded (exit 3), or the
    approved plan run once, with its approval on the deploy's record. `dry_run` (with
    `resume`): every check, the request left as it is."""
    from conveyor.cli.deploy import report
    from conveyor.cli.progress import Progress
    from conveyor.deploy.run import deploy
    from conveyor.gates import requests
    from conveyor.gates.flow import clear

    with notifying(project), _store(project) as store:
        try:
            cleared = clear(project, environment, store, asked, resume=resume, claim=not dry_run)
        except AwaitingApproval as waiting:
            out().print(waiting.message, markup=False)
            raise typer.Exit(waiting.exit_code) from None
        request, run = cleared.request, cleared.run
        stands = cleared.standing
        broken = ""
        if stands.override is not None:
            broken = f"; freeze broken by {stands.override[0]}: {stands.override[1]}"
        doing = (
            f"a deploy would run exactly its plan ({request.digest}); nothing was done (dry run)"
            if dry_run
            else f"deploying exactly its plan ({request.digest})"
        )
        out().print(
            f"approval request {request.id} holds: approved by {', '.join(stands.approvers)}"
            + broken
            + f"; {doing}",
            markup=False,
        )
        if dry_run:
            return
        started: list[str] = []

        def begun(deploy_id: str) -> None:
            # The request names its deploy as soon as there is one: a run killed from here
            # on is that deploy's (recover finishes it), never an approval left hanging.
            started.append(deploy_id)
            try:
                requests.settle(store, request.id, deploy_id)
            except Exception as error:  # said again below, once the deploy has ended
                err().print(
                    f"warning: {request.id} not linked to {deploy_id} yet: {error}", markup=False
                )

        progress = Progress()
        try:
            deploy_id, outcome = deploy(
                project,
                environment,
                ref=run.ref,
                release_id=run.release_id,
                access=asked.access,
                watch=run.watch,
                emit=progress,
                limit=run.limit,
                overrides=asked.overrides,
                saved=run.inputs,
                accept=cleared.accept,
                started=begun,
                hotfix=asked.hotfix or bool(request.context.get("hotfix")),
                force=asked.force or bool(request.context.get("force")),
            )
        finally:
            progress.close()
            requests.settle(store, request.id, started[0] if started else None)
            if started:
                store.event(
                    started[0],
                    kind="approval",
                    message=f"approved as {request.id} by {', '.join(stands.approvers)}",
                    fields={
                        "request": request.id,
                        "requested_at": request.requested_at.isoformat(),
                        "approved_at": (stands.approved_at or request.requested_at).isoformat(),
                        "approvers": ", ".join(stands.approvers),
                        "override": stands.override[1] if stands.override else "",
                    },
                )
    report(deploy_id, outcome, progress.elapsed())


def dry_run_note(project: Project, environment: str, plan: Plan, trust: Trust) -> None:
    """What a real deploy would wait for, under a dry run's plan and the policy in force."""
    from conveyor.deploy.saved import document
    from conveyor.gates.automatic import evaluate
    from conveyor.gates.freeze import frozen

    doc = document(plan) if plan.inputs is not None else {"release": plan.release, "steps": []}
    commit = plan.inputs.commit if plan.inputs is not None else ""
    policy = trust.policy
    with _store(project) as store:
        gates = evaluate(project, policy, environment, store, plan=doc, commit=commit, now=_now())
    out().print(
        f"\n{environment} needs {policy.required} approval(s): a real deploy records this plan "
        f"as a request and waits (exit 3); policy: {trust.source}",
        markup=False,
    )
    for g in gates:
        out().print(f"  {'ok  ' if g.passed else 'FAIL'} {g.name}: {g.said}", markup=False)
    window = frozen(policy.freeze, _now())
    if window:
        out().print(f"  frozen now ({window}): it runs only with an --override", markup=False)


def _pending(project: Project, store: HistoryStore, request_id: str) -> tuple[Request, Trust]:
    from conveyor.gates import requests
    from conveyor.gates.trust import in_force

    request = requests.get(store, request_id)
    if request.status not in ("pending", "approved"):
        raise ConveyorError(
            f"approval request {request.id} is {request.status}"
            + (f" (deploy {request.deploy_id})" if request.deploy_id else "")
            + "; nothing was signed"
        )
    trust = in_force(project, store, request.environment)  # allowed_signers must exist
    if trust is None:
        raise ConveyorError(
            f"{request.environment} no longer needs approvals (conveyor.toml); nothing was signed"
        )
    return request, trust


def _checklist(items: list[str], confirmed: list[str]) -> tuple[str, ...]:
    """The checklist items confirmed: by --confirm (text or number), else asked one by one
    on a terminal; every item must be."""
    if not items:
        if confirmed:
            raise ConveyorError("--confirm: this environment's approval has no checklist")
        return ()
    chosen: list[str] = []
    for given in confirmed:
        item = items[int(given) - 1] if given.isdigit() and 0 < int(given) <= len(items) else given
        if item not in items:
            raise ConveyorError(
                f"--confirm {given!r}: not an item of the checklist",
                hint="the items: " + "; ".join(f"{n}. {i}" for n, i in enumerate(items, 1)),
            )
        chosen.append(item)
    if not confirmed and sys.stdin.isatty():
        chosen = [i for i in items if typer.confirm(f"confirm: {i}?", default=False)]
    missing = [i for i in items if i not in chosen]
    if missing:
        raise ConveyorError(
            "every checklist item must be confirmed; not confirmed: " + "; ".join(missing),
            hint="confirm each with --confirm ITEM (its text or number); nothing was signed",
        )
    return tuple(i for i in items if i in chosen)


def _sign(
    project: Project,
    store: HistoryStore,
    request: Request,
    trust: Trust,
    verdict: Verdict,
    key: Path | None,
) -> None:
    """Show the request, then sign the verdict (`gates/review.py`) and say where it stands."""
    from conveyor.deploy.saved import digest
    from conveyor.gates import signing
    from conveyor.gates.review import review, sign

    seen = review(project, store, request, trust, verdict.at)
    out().print(seen.said(), markup=False)
    if request.plan.get("inputs", {}).get("config") != digest(project.config.model_dump_json()):
        err().print(
            "warning: your conveyor.toml is not the one this plan was made with; what you "
            "sign is the request's plan, shown above",
            markup=False,
        )
    signed = sign(project, store, seen, verdict, key or signing.default_key())
    if signed.status == "rejected":
        out().print(f"rejected {request.id} as {signed.signer}: {verdict.why}", markup=False)
        return
    after = signed.stands
    left = f"{after.missing} more needed" if after.missing else "it may run now"
    out().print(
        f"approved {request.id} as {signed.signer} ({len(after.approvers)} of {after.needed}; "
        f"{left}): conveyor deploy {request.environment} --resume {request.id}",
        markup=False,
    )


def _show(project: Project, store: HistoryStore, request: Request, as_json: bool) -> None:
    from conveyor.gates.review import review
    from conveyor.gates.trust import in_force

    trust = in_force(project, store, request.environment)
    seen = review(project, store, request, trust, _now()) if trust is not None else None
    if as_json:
        out().print_json(
            json.dumps(
                {
                    **_as_dict(request),
                    "approvers": list(seen.stands.approvers) if seen else [],
                    "not_counted": list(seen.stands.refused) if seen else [],
                    "gates": [g.as_dict() for g in seen.gates] if seen else [],
                },
                default=str,
            )
        )
        return
    if seen is None:
        err().print(f"{request.environment} no longer needs approvals", markup=False)
        return
    out().print(seen.said(), markup=False)
    out().print(
        f"status: {request.status}"
        + (f" (deploy {request.deploy_id})" if request.deploy_id else ""),
        markup=False,
    )
    for s in request.signatures:
        out().print(f"  {s.signed_at:%F %T}Z {s.verdict} by {s.signer}", markup=False)


def _as_dict(request: Request) -> dict[str, Any]:
    found = asdict(request)
    found.pop("plan")
    found["signatures"] = [
        {
            "signer": s.signer,
            "verdict": s.verdict,
            "signed_at": s.signed_at.isoformat(),
            "statement": s.statement,
        }
        for s in request.signatures
    ]
    return found


def _store(project: Project) -> HistoryStore:
    from conveyor.history.store import HistoryStore

    return HistoryStore.for_project(project.root)


def _now() -> datetime:
    from conveyor.history.records import utcnow

    return utcnow()
