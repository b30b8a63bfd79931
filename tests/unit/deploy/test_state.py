"""Host state: switching, rolling back, and reading damaged files."""

from __future__ import annotations

import pytest

from conveyor.deploy.state import HostState, dumps, loads
from conveyor.errors import ConveyorError


def test_first_deploy_starts_on_blue() -> None:
    assert HostState().idle_colour == "blue"


def test_switch_then_rollback_returns_to_the_warm_colour() -> None:
    first = HostState().switched(
        "r1", version="1.0", venv="v1", at=1.0, deploy_id="d1", warm_for=60
    )
    assert (first.release, first.colour, first.previous_release) == ("r1", "blue", None)
    second = first.switched("r2", version="2.0", venv="v2", at=2.0, deploy_id="d2", warm_for=60)
    assert (second.release, second.colour) == ("r2", "green")
    assert (second.previous_release, second.previous_colour) == ("r1", "blue")
    assert (second.venv, second.previous_venv, second.warm_until) == ("v2", "v1", 62.0)
    assert first.warm_until is None  # nothing to keep warm on a first deploy
    back = second.rolled_back(at=3.0)
    assert (back.release, back.colour) == ("r1", "blue")
    assert (back.previous_release, back.previous_colour) == ("r2", "green")
    assert (back.venv, back.previous_venv) == ("v1", "v2")
    assert (back.version, back.previous_version) == ("1.0", "2.0")


def test_rollback_without_a_previous_release_is_refused() -> None:
    with pytest.raises(ConveyorError, match="no previous release on this host"):
        HostState().switched(
            "r1", version="1.0", venv="v1", at=1.0, deploy_id="d1", warm_for=60
        ).rolled_back(at=2.0)


def test_round_trip_is_stable() -> None:
    state = HostState(release="r1", colour="blue", ports={"web": {"blue": 8100, "green": 8101}})
    assert loads(dumps(state), where="app-1:/srv/x/state.json") == state
    assert dumps(state) == dumps(loads(dumps(state), where="x"))


@pytest.mark.parametrize(
    "text",
    ["", "[]", '{"format": 2}', '{"format": 1, "colour": "red"}', '{"format": 1, "nope": 1}'],
)
def test_damaged_files_name_the_place(text: str) -> None:
    with pytest.raises(ConveyorError, match=r"^app-1:/srv/x/state.json: the host's state file"):
        loads(text, where="app-1:/srv/x/state.json")


def test_a_switch_after_conveyor_stop_serves_again_with_nothing_warm() -> None:
    stopped = HostState(release="r1", version="1.0", colour="blue", venv="v1", stopped_at=5.0)
    after = stopped.switched("r2", version="2.0", venv="v2", at=9.0, deploy_id="d", warm_for=60)
    assert (after.stopped_at, after.warm_until, after.colour) == (None, None, "green")
    back = HostState(**{**after.__dict__, "stopped_at": 10.0}).rolled_back(at=11.0)
    assert back.stopped_at is None
