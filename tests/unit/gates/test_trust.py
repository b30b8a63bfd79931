"""Which approval policy is in force: the serving commit's, read from git (a real
repository and a real SQLite history; no host is needed to say which commit serves)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.errors import ConveyorError
from conveyor.gates.trust import in_force, in_force_here, serving_commit
from conveyor.history.store import HistoryStore
from conveyor.project.load import load_project
from tests.unit.gates import repo
from tests.unit.gates.repo import SHOP

BASE = SHOP
STRICT = BASE + 'approval = { required = 2, by = ["alice@example.com", "bob@example.com"] }\n'
LOOSE = BASE + "approval = { required = 1 }\n"


def commit(root: Path, toml: str, signers: str = "alice@example.com ssh-ed25519 AAAA\n") -> str:
    return repo.commit(root, {"conveyor.toml": toml, "allowed_signers": signers})


def served(store: HistoryStore, sha: str, kind: str = "deploy") -> None:
    """A succeeded record of production: a deploy of `sha`, or a rollback (to `sha`, or
    plainly back when it is "")."""
    record = store.start(
        environment="production",
        kind=kind,
        release="r",
        version="1",
        commit=sha,
        hosts=["local"],
        user="u",
        machine="m",
    )
    store.finish(record, status="succeeded", message="ok")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    with HistoryStore(f"sqlite:///{tmp_path / 'h.db'}") as history:
        yield history


def test_before_anything_serves_the_checkout_is_in_force(
    tmp_path: Path, store: HistoryStore
) -> None:
    commit(tmp_path, STRICT)
    trust = in_force(load_project(tmp_path), store, "production")
    assert trust is not None
    assert (trust.policy.required, trust.source) == (
        2,
        "this checkout's (nothing deployed there yet)",
    )
    assert trust.signers == tmp_path / "allowed_signers"


def test_a_branch_cannot_loosen_or_drop_the_policy_it_is_deployed_under(
    tmp_path: Path, store: HistoryStore
) -> None:
    serving = commit(tmp_path, STRICT)
    served(store, serving)
    for toml in (LOOSE, BASE):
        commit(
            tmp_path,
            toml,
            signers="alice@example.com ssh-ed25519 AAAA\nmallory@x ssh-ed25519 BBBB\n",
        )
        trust = in_force(load_project(tmp_path), store, "production")
        assert trust is not None
        assert trust.policy.required == 2 and trust.policy.by == [
            "alice@example.com",
            "bob@example.com",
        ]
        assert trust.source == f"as commit {serving[:12]} has it (the newest deploy to production)"
        assert trust.signers.read_text() == "alice@example.com ssh-ed25519 AAAA\n"


def test_where_what_serves_asks_for_none_the_checkout_adds_a_gate(
    tmp_path: Path, store: HistoryStore
) -> None:
    served(store, commit(tmp_path, BASE))
    commit(tmp_path, LOOSE)
    trust = in_force(load_project(tmp_path), store, "production")
    assert trust is not None and trust.policy.required == 1
    assert trust.source == "this checkout's (what was deployed there asks for none)"
    commit(tmp_path, BASE)
    assert in_force(load_project(tmp_path), store, "production") is None


def test_a_serving_commit_the_clone_lacks_or_cannot_read_stops_it(
    tmp_path: Path, store: HistoryStore
) -> None:
    commit(tmp_path, BASE)
    served(store, "0" * 40)
    # An environment that never asked for approvals deploys from a shallow clone as before.
    assert in_force(load_project(tmp_path), store, "production") is None
    commit(tmp_path, STRICT)
    with pytest.raises(ConveyorError, match="history names commit 000000000000, which this clone"):
        in_force(load_project(tmp_path), store, "production")
    for table, key in (('required = 2, expires = "soon"', "expires"), ("requird = 2", "requird")):
        served(store, commit(tmp_path, BASE + f"approval = {{ {table} }}\n"))
        commit(tmp_path, STRICT)
        with pytest.raises(
            ConveyorError,
            match=rf"\[environments.production.approval\] is not valid here \({key}: ",
        ):
            in_force(load_project(tmp_path), store, "production")


def test_the_policy_is_found_where_the_serving_commit_kept_its_configuration(
    tmp_path: Path, store: HistoryStore
) -> None:
    """The serving commit had [tool.conveyor] in pyproject.toml; the branch moved it out."""
    pyproject = re.sub(r"(?m)^\[", "[tool.conveyor.", STRICT)
    served(store, repo.commit(tmp_path, {"pyproject.toml": pyproject, "allowed_signers": ""}))
    (tmp_path / "pyproject.toml").unlink()
    commit(tmp_path, BASE)
    trust = in_force(load_project(tmp_path), store, "production")
    assert trust is not None and trust.policy.required == 2


def test_a_rollback_goes_back_in_what_serves_but_never_takes_the_policy_away(
    tmp_path: Path, store: HistoryStore
) -> None:
    """Deploy W (no approval), then X (approval): a plain rollback serves W again, yet X's
    policy stays in force; a second rollback swaps back to X, as the hosts do; a rollback
    to a named release serves that one, and X's policy still holds."""
    before = commit(tmp_path, BASE)
    served(store, before)
    strict = commit(tmp_path, STRICT)
    served(store, strict)
    commit(tmp_path, BASE)  # the branch drops the table
    for back, serving in ((1, before), (2, strict)):
        served(store, "", kind="rollback")
        assert serving_commit(store, "production") == serving, back
        trust = in_force(load_project(tmp_path), store, "production")
        assert trust is not None and trust.policy.required == 2, back
    served(store, before, kind="rollback")  # rollback --to
    assert serving_commit(store, "production") == before
    trust = in_force(load_project(tmp_path), store, "production")
    assert trust is not None and trust.policy.required == 2


def test_asking_where_nothing_was_recorded_creates_no_history(tmp_path: Path) -> None:
    """`deploy --dry-run` of a project never deployed from here writes nothing."""
    commit(tmp_path, STRICT)
    trust = in_force_here(load_project(tmp_path), "production")
    assert trust is not None and trust.source == "this checkout's (nothing deployed there yet)"
    assert not (tmp_path / ".conveyor").exists()
    commit(tmp_path, BASE)
    assert in_force_here(load_project(tmp_path), "production") is None
