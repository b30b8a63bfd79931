"""Approvals on a real local host (supervisor, Caddy, the tiny app), signed with real SSH
keys and checked with OpenSSH's ssh-keygen: the deploy waits as a request, only valid
signatures from the right people count, and exactly the approved plan runs, once."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete

from conveyor.deploy.preflight import Access
from conveyor.errors import AwaitingApproval, ConveyorError
from conveyor.gates import requests
from conveyor.gates.flow import Asked, clear
from conveyor.history.models import SignatureRow
from conveyor.history.records import utcnow
from conveyor.history.store import HistoryStore
from conveyor.project.load import load_project
from tests.integration.deployed import GIT, DeployProject

PEOPLE = ("alice", "bob", "test", "mallory")  # "test" wrote every commit of the tiny app


def keys(directory: Path) -> dict[str, Path]:
    """An ed25519 key per person, and eve's, whom allowed_signers does not know."""
    directory.mkdir()
    made = {}
    for name in (*PEOPLE, "eve"):
        path = directory / name
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)],
            check=True,
        )
        made[name] = path
    return made


def gate(project: DeployProject, approval: str, signers: dict[str, Path]) -> None:
    """Put `approval` on staging and commit it with the allowed_signers file."""
    lines = [
        f"{name}@example.com {signers[name].with_suffix('.pub').read_text().strip()}"
        for name in PEOPLE
    ]
    (project.root / "allowed_signers").write_text("\n".join(lines) + "\n")
    toml = project.root / "conveyor.toml"
    toml.write_text(toml.read_text() + f"approval = {{ {approval} }}\n")
    subprocess.run(["git", "add", "-A"], cwd=project.root, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", "approvals"], cwd=project.root, check=True)


def request_id(text: str) -> str:
    found = re.search(r"approval request (a-\S+)", text)
    assert found, text
    return found[1]


@pytest.fixture
def signers(tmp_path: Path) -> dict[str, Path]:
    return keys(tmp_path / "keys")


BY = 'by = ["alice@example.com", "bob@example.com", "test@example.com"]'


def test_a_deploy_waits_for_two_valid_signatures_and_runs_exactly_the_approved_plan(
    local: DeployProject, signers: dict[str, Path]
) -> None:
    gate(local, f'required = 2, {BY}, checks = false, expires = "1h"', signers)

    asked = local.deploy()
    assert asked.code == 3, asked.out + asked.err
    rid = request_id(asked.out)
    assert "approvals: 0 of 2" in asked.out
    assert f"approve: conveyor approve {rid}" in asked.out
    assert not (local.app_dir("localhost") / "current").exists()  # nothing deployed
    # The same command again finds the same request: one plan, one request.
    again = local.deploy()
    assert again.code == 3 and request_id(again.out) == rid
    assert "waiting: deploy" in again.out

    def approve(who: str, *extra: str) -> tuple[int, str]:
        done = local.run("approve", rid, "--key", str(signers[who]), *extra)
        return done.code, done.out + done.err

    # Who signs is proven by the key: the author, an unknown key, someone not in `by`.
    code, said = approve("test")
    assert code == 1
    assert "test@example.com may not approve" in said
    assert "wrote a change in this deploy (Test <test@example.com>)" in said
    code, said = approve("eve")
    assert code == 1 and "the key you signed with is not in allowed_signers" in said
    code, said = approve("mallory")
    assert code == 1 and "mallory@example.com may not approve" in said
    assert "not in approval.by" in said

    code, said = approve("alice")
    assert code == 0, said
    assert "approved" in said and "(1 of 2; 1 more needed)" in said
    code, said = approve("alice")
    assert code == 1 and "approved" in said and "already" in said
    waiting = local.deploy("--resume", rid)
    assert waiting.code == 3 and "approvals: 1 of 2 (alice@example.com)" in waiting.out

    # A signature row somebody wrote into the shared history by hand does not count.
    project = load_project(local.root)
    with HistoryStore.for_project(local.root) as store:
        alices = requests.get(store, rid).signatures[0]
        forged = requests.Signature(
            "bob@example.com", "approve", alices.statement, alices.signature, utcnow()
        )
        requests.add_signature(store, requests.get(store, rid), forged, status="pending")
    waiting = local.deploy("--resume", rid)
    assert waiting.code == 3
    assert (
        "not counted: bob@example.com: its recorded verdict or signer is not the one it signed"
        in (waiting.out)
    )
    with HistoryStore.for_project(local.root) as store, store.transaction() as s:
        s.execute(delete(SignatureRow).where(SignatureRow.signer == "bob@example.com"))

    code, said = approve("bob")
    assert code == 0 and "(2 of 2; it may run now)" in said

    # Expired: the same signatures, an hour and a minute later.
    with HistoryStore.for_project(local.root) as store:
        later = utcnow() + timedelta(hours=1, minutes=1)
        with pytest.raises(AwaitingApproval, match="approvals expire after 1h"):
            clear(project, "staging", store, Asked(access=Access()), resume=rid, now=lambda: later)

    # What it was built from changed after the approval (the values): refused, naming it.
    env = local.root / ".env.staging"
    values = env.read_text()
    env.write_text(values.replace("hello staging", "hello again"))
    changed = local.deploy("--resume", rid)
    assert changed.code == 1
    assert (
        f"approval request {rid}: the saved plan no longer holds: the environment's values "
        "changed; nothing was done"
    ) in changed.err
    assert not (local.app_dir("localhost") / "current").exists()
    env.write_text(values)

    # A new commit is another plan: another request, while the approved one still runs
    # exactly its own commit, not HEAD.
    approved = subprocess.run(
        ["git", "rev-parse", "--short=7", "HEAD"],
        cwd=local.root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    local.commit("500")
    other = local.deploy()
    assert other.code == 3 and request_id(other.out) != rid

    dry = local.deploy("--dry-run", "--resume", rid)
    assert dry.code == 0, dry.out + dry.err
    assert "a deploy would run exactly its plan" in dry.out and "(dry run)" in dry.out
    planned = local.deploy("--dry-run")
    assert planned.code == 0 and "staging needs 2 approval(s)" in planned.out

    ran = local.deploy("--resume", rid)
    assert ran.code == 0, ran.out + ran.err
    assert f"approval request {rid} holds: approved by alice@example.com, bob@example.com" in (
        ran.out
    )
    assert approved in local.get()["version"]
    deploy_id = re.search(r"\(deploy (d-\S+)\)", ran.out)
    assert deploy_id, ran.out
    with HistoryStore.for_project(local.root) as store:
        assert requests.get(store, rid).status == "ran"
        assert requests.get(store, rid).deploy_id == deploy_id[1]
        events = [e for e in store.events(deploy_id[1]) if e.kind == "approval"]
        assert events and events[0].fields["approvers"] == "alice@example.com, bob@example.com"

    # A rollback --to is no way around the approvals: it would ship today's values.
    for dry in ((), ("--dry-run",)):
        around = local.run("rollback", "staging", "--to", "0.0.1", *dry)
        assert around.code == 1
        assert (
            "staging needs approvals: rollback --to ships 0.0.1 with today's values and "
            "configuration, which is a deploy; nothing was done"
        ) in around.err

    # An approval lets one deploy run.
    twice = local.deploy("--resume", rid)
    assert twice.code == 1 and f"approval request {rid} ran already" in twice.err


def test_a_freeze_holds_the_deploy_until_an_approver_breaks_it(
    local: DeployProject, signers: dict[str, Path]
) -> None:
    start, end = utcnow() - timedelta(hours=1), utcnow() + timedelta(hours=1)
    window = f"{start:%Y-%m-%d %H:%M}-{end:%Y-%m-%d %H:%M} UTC"
    gate(
        local,
        f'required = 1, checks = false, freeze = ["{window}"], separate_from_author = false',
        signers,
    )
    rid = request_id(local.deploy().out)
    assert local.run("approve", rid, "--key", str(signers["alice"])).code == 0
    frozen = local.deploy()
    assert frozen.code == 1
    assert f"staging is frozen now ({window}); nothing was deployed" in frozen.err
    assert f"conveyor approve {rid} --override" in frozen.err
    override = local.run(
        "approve", rid, "--key", str(signers["bob"]), "--override", "--why", "the fix for INC-7"
    )
    assert override.code == 0, override.out + override.err
    project = load_project(local.root)
    with HistoryStore.for_project(local.root) as store:
        cleared = clear(project, "staging", store, Asked(access=Access()), resume=rid)
        assert cleared.standing.override == ("bob@example.com", "the fix for INC-7")
        # Claimed: it runs once.
        with pytest.raises(ConveyorError, match="ran already"):
            clear(project, "staging", store, Asked(access=Access()), resume=rid)


def test_an_approver_lists_reads_and_rejects_a_request_and_it_never_runs(
    local: DeployProject, signers: dict[str, Path]
) -> None:
    gate(local, f"required = 1, {BY}, checks = false", signers)
    rid = request_id(local.deploy().out)

    listed = local.run("approvals", "staging")
    assert listed.code == 0 and rid in listed.out and "pending" in listed.out
    shown = local.run("approvals", "show", rid, "--json")
    assert shown.code == 0, shown.out + shown.err
    seen = json.loads(shown.out)
    assert (seen["status"], seen["approvers"], seen["signatures"]) == ("pending", [], [])
    assert [g["name"] for g in seen["gates"]] == ["migrations"]

    outsider = local.run("reject", rid, "--why", "no", "--key", str(signers["mallory"]))
    assert outsider.code == 1
    assert "mallory@example.com may not reject" in outsider.err and "not in approval.by" in (
        outsider.err
    )
    rejected = local.run(
        "reject", rid, "--why", "not before the sale", "--key", str(signers["bob"])
    )
    assert rejected.code == 0, rejected.out + rejected.err
    assert f"rejected {rid} as bob@example.com: not before the sale" in rejected.out

    shown = local.run("approvals", "show", rid)
    assert "status: rejected" in shown.out and "reject by bob@example.com" in shown.out
    assert local.run("approvals", "staging").out.strip() == "no approval requests waiting"
    refused = local.deploy("--resume", rid)
    assert refused.code == 1
    assert f"approval request {rid} was rejected: not before the sale" in refused.err
    late = local.run("approve", rid, "--key", str(signers["alice"]))
    assert late.code == 1 and f"approval request {rid} is rejected" in late.err
    assert not (local.app_dir("localhost") / "current").exists()


def test_the_policy_in_force_is_the_one_the_environment_serves(
    local: DeployProject, signers: dict[str, Path]
) -> None:
    """A branch that drops the approval table and adds its own key to allowed_signers still
    needs an approval under the policy of the newest deploy: such a change takes effect
    once it has been deployed, under the policy it replaces."""
    gate(local, f"required = 1, {BY}, checks = false", signers)
    first = local.deploy()
    assert first.code == 3 and "policy: this checkout's (nothing deployed there yet)" in first.out
    rid = request_id(first.out)
    assert local.run("approve", rid, "--key", str(signers["alice"])).code == 0
    assert local.deploy("--resume", rid).code == 0
    serving = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=local.root, capture_output=True, text=True, check=True
    ).stdout.strip()

    toml = local.root / "conveyor.toml"
    toml.write_text(
        "\n".join(line for line in toml.read_text().splitlines() if "approval" not in line) + "\n"
    )
    eve = signers["eve"].with_suffix(".pub").read_text().strip()
    with (local.root / "allowed_signers").open("a") as file:
        file.write(f"eve@example.com {eve}\n")
    local.commit("ok")

    for dry in (("--dry-run",), ()):
        waits = local.deploy(*dry)
        assert waits.code == (0 if dry else 3), waits.out + waits.err
        assert f"as commit {serving[:12]} has it (the newest deploy to staging)" in waits.out
    rid = request_id(waits.out)
    eves = local.run("approve", rid, "--key", str(signers["eve"]))
    assert eves.code == 1 and "the key you signed with is not in allowed_signers" in eves.err
    assert local.run("approve", rid, "--key", str(signers["bob"])).code == 0
    ran = local.deploy("--resume", rid)
    assert ran.code == 0, ran.out + ran.err
    # Now the change serves: the next deploy needs no approval.
    local.commit("ok")
    assert local.deploy().code == 0
