"""A saved plan's file from data: its digest, tampering, and what differs (no host needed)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from conveyor.deploy.plan import Inputs, Plan, Step
from conveyor.deploy.saved import differences, document, read, write
from conveyor.errors import ConveyorError

PLAN = Plan("production", "1.2.0", (Step("deploy@app-1", "switch", "Caddy on :80 -> 9001"),))
STATE = {"release": "r1", "colour": "blue", "pending_release": None}


def plan(**changes: object) -> Plan:
    return replace(PLAN, inputs=inputs(**changes))


def inputs(**changes: object) -> Inputs:
    base: dict[str, object] = {
        "release": "r2",
        "commit": "abc",
        "values": "sha256:v1",
        "config": "sha256:c1",
        "hosts": {"deploy@app-1": STATE},
    }
    return Inputs(**{**base, **changes})  # type: ignore[arg-type]


def test_the_digest_covers_every_part_and_is_stable(tmp_path: Path) -> None:
    first, again = document(plan()), document(plan())
    assert first["digest"] == again["digest"] and first["digest"].startswith("sha256:")
    changed = [
        plan(values="sha256:v2"),
        plan(config="sha256:c2"),
        plan(release="r3"),
        plan(hosts={"deploy@app-1": {**STATE, "pending_release": "r2"}}),
        replace(plan(), steps=(Step("deploy@app-1", "switch", "Caddy on :80 -> 9002"),)),
    ]
    assert len({document(p)["digest"] for p in changed} | {first["digest"]}) == 6
    written = write(tmp_path / "plan.json", plan())
    assert written == first["digest"]
    assert read(tmp_path / "plan.json") == first


def test_an_edited_plan_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    write(path, plan())
    doc = json.loads(path.read_text())
    doc["steps"][0]["description"] = "Caddy on :80 -> 9002"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConveyorError, match="the plan was changed after it was written"):
        read(path)


def test_a_missing_or_foreign_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConveyorError, match="no such plan file"):
        read(tmp_path / "nope.json")
    (tmp_path / "other.json").write_text('{"format": 9}')
    with pytest.raises(ConveyorError, match="not a plan file of format 1"):
        read(tmp_path / "other.json")


def test_what_changed_is_named_never_a_value() -> None:
    saved = document(plan())
    assert differences(saved, saved) == []
    later = {**STATE, "release": "r3", "colour": "green"}
    now = document(plan(release="r9", values="sha256:v2", hosts={"deploy@app-1": later}))
    assert differences(saved, now) == [
        "the release is r9, the plan's was r2",
        "the environment's values changed",
        "deploy@app-1 is not as the plan saw it (serves r1 on blue then, serves r3 on green now)",
    ]


def test_only_a_plan_made_with_its_inputs_can_be_saved() -> None:
    with pytest.raises(ValueError, match="only a plan made with its inputs can be saved"):
        document(PLAN)


def test_a_file_that_is_not_json_is_named_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("steps: [switch]\n")
    with pytest.raises(ConveyorError) as raised:
        read(path)
    assert raised.value.message.startswith(f"{path}: not a plan file (Expecting value")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ConveyorError, match=r"list\.json: not a plan file of format 1$"):
        read(tmp_path / "list.json")
    (tmp_path / "bare.json").write_text('{"format": 1}')  # no inputs: not a saved deploy plan
    with pytest.raises(ConveyorError, match=r"bare\.json: not a plan file of format 1$"):
        read(tmp_path / "bare.json")


def test_a_plan_for_another_environment_is_named_so() -> None:
    saved = document(plan())
    now = document(replace(plan(), environment="staging"))
    assert differences(saved, now) == ["it is a plan for production, not staging"]


def test_a_change_of_conveyor_toml_is_named_but_never_shown() -> None:
    assert differences(document(plan()), document(plan(config="sha256:c2"))) == [
        "conveyor.toml changed"
    ]


def test_a_host_that_looks_the_same_but_whose_state_changed_names_the_keys() -> None:
    # Same release and colour, but another deploy id and a warm time since the plan.
    later = {**STATE, "deploy_id": "d-7", "warm_until": 99.0}
    now = document(plan(hosts={"deploy@app-1": later}))
    assert differences(document(plan()), now) == [
        "deploy@app-1 is not as the plan saw it (serves r1 on blue then, serves r1 on blue; "
        "its state.json's deploy_id, warm_until changed now)"
    ]


def test_hosts_added_gone_unreachable_pending_or_stopped_are_each_described() -> None:
    pending = {**STATE, "pending_release": "r2"}
    stopped = {**STATE, "stopped_at": 5.0}
    fresh = {"release": None, "colour": None}
    saved = document(
        plan(hosts={"deploy@app-1": STATE, "deploy@app-2": STATE, "deploy@app-3": fresh})
    )
    now = document(
        plan(
            hosts={
                "deploy@app-1": pending,
                "deploy@app-2": "connect: connection refused",
                "deploy@app-3": stopped,
                "deploy@app-4": STATE,
            }
        )
    )
    assert differences(saved, now) == [
        "deploy@app-1 is not as the plan saw it (serves r1 on blue then, "
        "serves r1 on blue, pending r2 now)",
        "deploy@app-2 is not as the plan saw it (serves r1 on blue then, "
        "connect: connection refused now)",
        "deploy@app-3 is not as the plan saw it (serves nothing on - then, "
        "serves r1 on blue, stopped by conveyor stop now)",
        "deploy@app-4 is not as the plan saw it (not in the plan then, serves r1 on blue now)",
    ]


def test_steps_that_differ_from_the_same_inputs_are_named_as_a_last_resort() -> None:
    other = replace(plan(), steps=(Step("deploy@app-1", "switch", "Caddy on :80 -> 9002"),))
    assert differences(document(plan()), document(other)) == ["its steps differ"]
    # Once something else is named, the steps (which follow from it) are not named too.
    changed = replace(other, inputs=inputs(values="sha256:v2"))
    assert differences(document(plan()), document(changed)) == ["the environment's values changed"]
