"""The schema record's verdict on a rollback. Pure logic: the record is written by real
deploys in tests/integration/test_rollback_schema.py."""

from __future__ import annotations

import pytest

from conveyor.errors import ConveyorError
from conveyor.migrations import record


def deployed(*steps: tuple[str, str, str, list[str]]) -> record.Schema:
    """A record after deploys of (release, before, after, proven)."""
    schema = record.Schema()
    for release, before, after, proven in steps:
        schema = record.migrated(
            schema, release, before=[before] if before else [], after=[after], ran=[after],
            proven=proven,
        )  # fmt: skip
    return schema


def test_a_release_proven_against_the_schema_goes_back_code_only() -> None:
    schema = deployed(("r1", "", "0002", []), ("r2", "0002", "0003", ["r1"]))
    verdict = record.verdict(schema, "r1")
    assert verdict.code_only
    assert (
        verdict.why
        == "r1 answered healthy against the database at 0003 during r2's deploy: code only"
    )


def test_a_release_never_seen_with_the_schema_needs_its_own_schema_back() -> None:
    schema = deployed(
        ("r1", "", "0002", []), ("r2", "0002", "0003", ["r1"]), ("r3", "0003", "0004", [])
    )
    verdict = record.verdict(schema, "r2")
    assert not verdict.code_only and verdict.down_to == ("0003",)
    assert (
        verdict.why
        == "the database is at 0004; r2 was deployed at 0003 and was never seen working with 0004"
    )
    # After the downgrade, r2 is at its own schema.
    assert record.verdict(record.moved(schema, ["0003"]), "r2").code_only


def test_without_a_record_or_a_known_release_the_rollback_is_code_only_and_says_so() -> None:
    assert record.verdict(record.Schema(), "r1").why == (
        "no record of the database's schema here: code only"
    )
    schema = deployed(("r2", "0002", "0003", []))
    assert record.verdict(schema, "r1").code_only
    assert "no record of r1's schema" in record.verdict(schema, "r1").why


def test_the_record_round_trips_and_keeps_the_latest_releases() -> None:
    schema = deployed(*((f"r{n}", f"{n:04}", f"{n + 1:04}", [f"r{n - 1}"]) for n in range(1, 30)))
    again = record.loads(record.dumps(schema))
    assert again == schema
    assert len(again.releases) == record.KEPT and "r29" in again.releases
    assert again.at == ("0030",)


def test_a_damaged_record_is_named() -> None:
    with pytest.raises(ConveyorError, match=r"app-1:/srv/schema\.json cannot be read"):
        record.loads(b"{not json", "app-1:/srv/schema.json")
