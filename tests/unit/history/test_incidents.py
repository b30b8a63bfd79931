"""Which deploys needed remediation, and the incidents they made, from built records."""

from __future__ import annotations

from datetime import timedelta

from conveyor.history import DeployRecord
from conveyor.history.incidents import Incidents, incidents, needed_remediation
from tests.unit.history.conftest import T0


def rec(
    name: str,
    start: float,
    end: float | None,
    status: str = "succeeded",
    *,
    kind: str = "deploy",
    hotfix: bool = False,
) -> DeployRecord:
    """A record from `start` to `end`, in minutes after T0."""
    return DeployRecord(
        id=name, environment="production", kind=kind, release="r", version="1", commit="c",
        status=status, user="u", machine="m", started_at=T0 + timedelta(minutes=start),
        finished_at=None if end is None else T0 + timedelta(minutes=end), message="",
        cause=None, hosts=(), hotfix=hotfix,
    )  # fmt: skip


UNTIL = T0 + timedelta(minutes=1000)


def test_a_rollback_is_about_the_newest_deploy_that_kept_traffic() -> None:
    records = [
        rec("old", 0, 1),
        rec("good", 10, 11),  # serving: the rollback takes traffic from its release
        rec("bad", 20, 21, "failed"),  # never kept traffic; counted by its own status
        rec("back", 30, 31, kind="rollback"),
    ]
    assert needed_remediation(records) == {"good", "bad"}


def test_a_hotfix_or_a_recovery_is_about_the_newest_deploy_however_it_ended() -> None:
    after_a_failure = [
        rec("good", 0, 1),
        rec("bad", 10, 11, "failed"),
        rec("fix", 20, 21, hotfix=True),
    ]
    assert needed_remediation(after_a_failure) == {"bad"}  # not the good deploy before it
    recovered = [rec("old", 0, 1), rec("last", 10, 11), rec("rec", 20, 21, kind="recover")]
    assert needed_remediation(recovered) == {"last"}
    # ok -> failed -> hotfix: one incident from the failure to the hotfix, 11 -> 21.
    assert incidents(after_a_failure, {"bad"}, until=UNTIL) == Incidents((10 * 60.0,), None)


def test_a_later_good_deploy_ends_the_blame() -> None:
    records = [rec("a", 0, 1), rec("b", 10, 11), rec("back", 20, 21, kind="rollback")]
    assert needed_remediation(records) == {"b"}
    assert needed_remediation([rec("back", 0, 1, kind="rollback")]) == set()  # nothing before


def test_a_failed_remediation_still_blames_and_a_hotfix_can_be_blamed_too() -> None:
    records = [
        rec("a", 0, 1),
        rec("back", 5, 6, "failed", kind="rollback"),  # tried: a needed remediation
        rec("fix", 10, 11, hotfix=True),
        rec("again", 20, 21, hotfix=True),  # the first hotfix was not enough
    ]
    assert needed_remediation(records) == {"a", "fix"}
    found = incidents(records, needed_remediation(records), until=UNTIL)
    # a (1) and fix (11) are one incident, restored by the second hotfix at 21: 20 minutes.
    assert found == Incidents((20 * 60.0,), None)
    assert found.count == 1


def test_stops_starts_and_db_commands_are_neither_deploys_nor_remediation() -> None:
    records = [
        rec("bad", 0, 1, "failed"),
        rec("stop", 2, 3, kind="stop"),
        rec("start", 4, 5, kind="start"),
        rec("db", 6, 7, kind="migrate"),
        rec("good", 10, 12),
    ]
    assert needed_remediation(records) == {"bad"}
    assert incidents(records, {"bad"}, until=UNTIL) == Incidents((11 * 60.0,), None)


def test_an_open_incident_has_an_age_and_nothing_open_has_none() -> None:
    records = [rec("bad", 0, 1, "failed"), rec("running", 5, None)]
    assert incidents(records, {"bad"}, until=UNTIL) == Incidents((), 999 * 60.0)
    assert incidents([], set(), until=UNTIL) == Incidents()
    assert Incidents((), 5.0).count == 1
