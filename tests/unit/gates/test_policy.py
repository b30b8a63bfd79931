"""The statement an approver signs and the policy's judgement of each signature, with real
SSH keys and ssh-keygen (the only real part the policy needs)."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conveyor.gates import signing
from conveyor.gates.policy import (
    Verdict,
    authors_digest,
    parse,
    refusal,
    signers_digest,
    standing,
    statement,
    wrote_a_change,
)
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


def signed(
    keys: dict[str, Path], allowed: Path, who: str, *, as_: str = "", **fields: object
) -> Signature:
    """`who`'s approval of request a-1 as `approve` would sign it (as `as_`, if given)."""
    name = f"{as_ or who}@example.com"
    verdict = Verdict(
        "a-1",
        "production",
        "sha256:abc",
        "approve",
        NOW,
        signer=name,
        authors=authors_digest(AUTHORS),
        signers=signers_digest(allowed),
        **fields,  # type: ignore[arg-type]
    )
    text = statement(verdict)
    return Signature(name, verdict.verdict, text, signing.sign(text, keys[who]), NOW)


def test_a_statement_reads_back_as_it_was_signed() -> None:
    verdict = Verdict(
        "a-1",
        "prod",
        "sha256:abc",
        "approve",
        NOW,
        signer="alice@example.com",
        authors="sha256:def",
        signers="sha256:012",
        checklist=("notes written", "smoke\ntested"),
        override="INC-7",
    )
    text = statement(verdict)
    assert "checklist: notes written | smoke tested\n" in text  # one line each
    assert parse(text) == replace(verdict, checklist=("notes written", "smoke tested"))
    assert parse("conveyor approval 1\nrequest: a-1\n") is None
    assert parse("I approve") is None
    naive = statement(verdict).replace("+00:00", "")
    assert parse(naive) is None  # a time without its zone means nothing


def test_an_author_is_known_by_email_or_by_name() -> None:
    assert wrote_a_change("CAROL@example.com", AUTHORS) == AUTHORS[0]
    assert wrote_a_change("carol kim", AUTHORS) == AUTHORS[0]
    assert wrote_a_change("alice@example.com", AUTHORS) is None


def test_each_signature_counts_only_under_the_policy(
    people: tuple[dict[str, Path], Path],
) -> None:
    keys, allowed = people
    policy = ApprovalConfig(required=2, checklist=["notes written"], expires="1h")
    alice = signed(keys, allowed, "alice", checklist=("notes written",))
    bob = signed(keys, allowed, "bob")  # confirmed nothing
    carol = signed(keys, allowed, "carol", checklist=("notes written",))  # wrote a change
    eve_as_bob = signed(keys, allowed, "eve", as_="bob", checklist=("notes written",))
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


def test_one_key_is_one_approver_and_an_author_under_any_of_its_names(
    people: tuple[dict[str, Path], Path], tmp_path: Path
) -> None:
    keys, _ = people
    allowed = tmp_path / "allowed_signers"
    pub = keys["alice"].with_name("alice.pub").read_text()
    allowed.write_text(f"alice@personal.dev,alice@example.com {pub}")
    policy = ApprovalConfig(required=2, separate_from_author=False)

    def as_(name: str) -> Signature:
        verdict = Verdict(
            "a-1",
            "production",
            "sha256:abc",
            "approve",
            NOW,
            signer=name,
            authors=authors_digest(AUTHORS),
            signers=signers_digest(allowed),
        )
        text = statement(verdict)
        return Signature(name, "approve", text, signing.sign(text, keys["alice"]), NOW)

    twice = standing(
        request(as_("alice@personal.dev"), as_("alice@example.com")), policy, allowed, NOW
    )
    assert twice.approvers == ("alice@personal.dev",)
    assert twice.refused == ("alice@example.com: the same key approved already",)
    # Signed as her other name, she is still the author of the range.
    authored = replace(request(), authors=("Alice <alice@example.com>",))
    strict = ApprovalConfig(required=1)
    verdict = Verdict(
        "a-1",
        "production",
        "sha256:abc",
        "approve",
        NOW,
        signer="alice@personal.dev",
        authors=authors_digest(authored.authors),
        signers=signers_digest(allowed),
    )
    text = statement(verdict)
    mine = Signature("alice@personal.dev", "approve", text, signing.sign(text, keys["alice"]), NOW)
    assert refusal(mine, authored, strict, allowed, NOW) == (
        "wrote a change in this deploy (Alice <alice@example.com>) and "
        "approval.separate_from_author is set"
    )
