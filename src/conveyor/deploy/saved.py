"""A deploy plan saved to a file: versioned JSON with a digest over its canonical form.

`conveyor deploy ENV --plan-out FILE` writes it after the deploy's own checks;
`conveyor deploy ENV --plan FILE` plans again from what is true now and deploys
only when that plan is the saved one: the same steps built from the same release,
the same values (by their digest: a secret value is never in the file), the same
configuration and the same state on every host. Anything else is refused, naming
what changed, and nothing is touched. Approvals will sign this digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from conveyor.deploy.plan import Inputs, Plan
from conveyor.deploy.preflight import Access, Limit
from conveyor.errors import ConveyorError
from conveyor.migrations.lint import Acceptance
from conveyor.project.load import Project

FORMAT = 1


def digest(text: str | bytes) -> str:
    """`sha256:<hex>` of a text."""
    data = text.encode() if isinstance(text, str) else text
    return "sha256:" + hashlib.sha256(data).hexdigest()


def document(plan: Plan) -> dict[str, Any]:
    """The plan as a JSON document, its digest over everything else in it."""
    if plan.inputs is None:
        raise ValueError("only a plan made with its inputs can be saved")
    body = {
        "format": FORMAT,
        "kind": "deploy",
        "environment": plan.environment,
        "release": plan.release,
        "inputs": asdict(plan.inputs),
        "max_failures": plan.max_failures,
        "steps": [asdict(step) for step in plan.steps],
    }
    body = json.loads(json.dumps(body))  # tuples as lists: the form a reader sees
    return {**body, "digest": digest(_canonical(body))}


def write(path: Path, plan: Plan) -> str:
    """Write the plan file; returns its digest."""
    doc = document(plan)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return str(doc["digest"])


def read(path: Path) -> dict[str, Any]:
    """A plan file, checked: its format, and that its digest is its content's."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConveyorError(
            f"{path}: no such plan file",
            hint="write one with conveyor deploy ENV --plan-out FILE",
        ) from None
    except (OSError, ValueError) as error:
        raise ConveyorError(f"{path}: not a plan file ({error})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or "inputs" not in doc:
        raise ConveyorError(f"{path}: not a plan file of format {FORMAT}")
    if not holds(doc):
        raise ConveyorError(
            f"{path}: the plan was changed after it was written (its digest does not match "
            "its content); nothing was done",
            hint="write a new plan: conveyor deploy ENV --plan-out FILE",
        )
    return doc


def holds(doc: Mapping[str, Any]) -> bool:
    """True when a plan document's digest is its content's."""
    body = {k: v for k, v in doc.items() if k != "digest"}
    return doc.get("digest") == digest(_canonical(body))


def differences(saved: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """What differs between a saved plan and the plan made now, for a person (never a value)."""
    found = []
    was, new = saved["inputs"], now["inputs"]
    if saved["environment"] != now["environment"]:
        found.append(f"it is a plan for {saved['environment']}, not {now['environment']}")
    if was["release"] != new["release"]:
        found.append(f"the release is {new['release']}, the plan's was {was['release']}")
    if was["values"] != new["values"]:
        found.append("the environment's values changed")
    if was["config"] != new["config"]:
        found.append("conveyor.toml changed")
    for host in sorted(set(was["hosts"]) | set(new["hosts"])):
        before, after = was["hosts"].get(host), new["hosts"].get(host)
        if before != after:
            then, now_ = _host(before), _host(after)
            if then == now_ and isinstance(before, dict) and isinstance(after, dict):
                keys = sorted(
                    k for k in before.keys() | after.keys() if before.get(k) != after.get(k)
                )
                now_ += f"; its state.json's {', '.join(keys)} changed"
            found.append(f"{host} is not as the plan saw it ({then} then, {now_} now)")
    if not found and saved["steps"] != now["steps"]:
        found.append("its steps differ")
    return found


def _host(seen: Any) -> str:
    if seen is None:
        return "not in the plan"
    if isinstance(seen, str):
        return seen
    pending = f", pending {seen['pending_release']}" if seen.get("pending_release") else ""
    stopped = ", stopped by conveyor stop" if seen.get("stopped_at") else ""
    release, colour = seen.get("release") or "nothing", seen.get("colour") or "-"
    return f"serves {release} on {colour}{pending}{stopped}"


def _canonical(body: Mapping[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


@dataclass(frozen=True)
class SavedRun:
    """How to run a saved plan that still holds: its options and what it was built from."""

    ref: str
    release_id: str | None
    watch: float | None
    limit: Limit
    inputs: Inputs
    digest: str


def check_saved(
    project: Project,
    environment: str,
    path: Path,
    *,
    access: Access | None = None,
    overrides: Mapping[str, str] | None = None,
    accept: Acceptance | None = None,
) -> SavedRun:
    """Plan again from what is true now; the saved plan runs only when the two are one plan,
    else the error names what changed (nothing is touched)."""
    return check_document(
        project,
        environment,
        read(path),
        access=access,
        overrides=overrides,
        accept=accept,
        source=str(path),
        hint=f"make a new plan: conveyor deploy {environment} --plan-out {path}",
    )


def check_document(
    project: Project,
    environment: str,
    saved: Mapping[str, Any],
    *,
    access: Access | None = None,
    overrides: Mapping[str, str] | None = None,
    accept: Acceptance | None = None,
    source: str,
    hint: str,
    force: bool = False,
) -> SavedRun:
    """`check_saved` for a plan document from anywhere (a file, an approval request):
    `source` names it in the error, `hint` says how to get a new one."""
    from conveyor.deploy.run import plan_deploy  # it plans with this module's digests

    run = saved_run(saved)
    plan = plan_deploy(
        project,
        environment,
        ref=run.ref,
        release_id=run.release_id,
        access=access,
        watch=run.watch,
        limit=run.limit,
        overrides=overrides,
        saving=True,
        accept=accept,
        force=force,
    )
    changed = differences(saved, document(plan))
    if changed:
        raise ConveyorError(
            f"{source}: the saved plan no longer holds: {'; '.join(changed)}; nothing was done",
            hint=hint,
        )
    return run


def saved_run(saved: Mapping[str, Any]) -> SavedRun:
    """How to run a plan document (checked already)."""
    was = saved["inputs"]
    # A release the plan would build comes from its commit; a built one by its id.
    ref, release_id = (str(was["commit"]), None) if was["commit"] else ("HEAD", str(was["release"]))
    limit = Limit(tuple(was["roles"]), tuple(was["limit_hosts"]))
    inputs = Inputs(
        **{**was, "roles": tuple(was["roles"]), "limit_hosts": tuple(was["limit_hosts"])}
    )
    return SavedRun(ref, release_id, was["watch"], limit, inputs, str(saved["digest"]))
