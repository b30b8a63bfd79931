"""The statement an approver signs and the policy's judgement of each signature, with real
SSH keys and ssh-keygen (the only real part the policy needs)."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conveyor.gates import signing
from conveyor.gates.policy import Verdict, parse, refusal, standing, statement, wrote_a_change
from conveyor.gates.requests import Request, Signature
from conveyor.project.environment import ApprovalConfig

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)
AUTHORS = ("Carol Kim <carol@example.com>", "Bot <ci@example.com>")


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], Path]:
    """Keys of alice, bob and carol, all in allowed_signers; eve's, in none."""
    root = tmp_path_factory.mktemp("keys")
    keys = {}
    for name in ("alice", "bob", "carol", "eve"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)], check=True
        )
        keys[name] = root / name
    allowed = root / "allowed_signers"
    allowed.write_text(
        "".join(
            f"{n}@example.com {(root / f'{n}.pub').read_text()}" for n in ("alice", "bob", "carol")
        )
    )
    return keys, allowed


def request(*signatures: Signature) -> Request:
    return Request(
        id="a-1",
        environment="production",
        release="r-1",
        version="1.2.0",
        commit="c0ffee",
        digest="sha256:abc",
        plan={},
        context={},
        authors=AUTHORS,
        status="pending",
        requested_by="ci@runner",
        requested_at=NOW,
        decided_at=None,
        why=None,
        deploy_id=None,
        signatures=signatures,
    )


def signed(keys: dict[str, Path], who: str, **fields: object) -> Signature:
    verdict = Verdict("a-1", "production", "sha256:abc", "approve", NOW, **fields)  # type: ignore[arg-type]
    text = statement(verdict)
    return Signature(
        f"{who}@example.com", verdict.verdict, text, signing.sign(text, keys[who]), NOW
    )


def test_a_statement_reads_back_as_it_was_signed() -> None:
    verdict = Verdict(
        "a-1", "prod", "sha256:abc", "approve", NOW, ("notes written", "smoke\ntested"), "INC-7"
    )
    text = statement(verdict)
    assert "checklist: notes written | smoke tested\n" in text  # one line each
    assert parse(text) == replace(verdict, checklist=("notes written", "smoke tested"))
    assert parse("conveyor approval 1\nrequest: a-1\n") is None
    assert parse("I approve") is None


def test_an_author_is_known_by_email_or_by_name() -> None:
    assert wrote_a_change("CAROL@example.com", AUTHORS) == AUTHORS[0]
    assert wrote_a_change("carol kim", AUTHORS) == AUTHORS[0]
    assert wrote_a_change("alice@example.com", AUTHORS) is None


def test_each_signature_counts_only_under_the_policy(
    people: tuple[dict[str, Path], Path],
) -> None:
    keys, allowed = people
    policy = ApprovalConfig(required=2, checklist=["notes written"], expires="1h")
    alice = signed(keys, "alice", checklist=("notes written",))
    bob = signed(keys, "bob")  # confirmed nothing
    carol = signed(keys, "carol", checklist=("notes written",))  # wrote a change
    eve_as_bob = replace(
        signed(keys, "eve", checklist=("notes written",)), signer="bob@example.com"
    )
    for_another = replace(alice, statement=alice.statement.replace("sha256:abc", "sha256:def"))
    said = standing(request(alice, bob, carol, eve_as_bob, for_another), policy, allowed, NOW)
    assert said.approvers == ("alice@example.com",)
    assert said.missing == 1
    assert said.refused == (
        "bob@example.com: did not confirm 'notes written'",
        "carol@example.com: wrote a change in this deploy (Carol Kim <carol@example.com>) and "
        "approval.separate_from_author is set",
        "bob@example.com: its signature does not verify against allowed_signers",
        "alice@example.com: what it signed is not this request's plan",
    )
    later = NOW + timedelta(hours=1, minutes=1)
    assert refusal(alice, request(), policy, allowed, later) == (
        "given 1h01m ago, approvals expire after 1h"
    )
    assert refusal(alice, request(), policy, allowed, NOW - timedelta(minutes=6)) == (
        "it is dated 2026-12-06 12:00:00 UTC, in the future"
    )
    assert refusal(
        alice, request(), policy.model_copy(update={"by": ["bob@example.com"]}), allowed, NOW
    ) == ("not in approval.by")
