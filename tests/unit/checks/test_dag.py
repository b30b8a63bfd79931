"""Scheduling from data: needs, slots, writers before readers, exclusive steps."""

from __future__ import annotations

from conveyor.checks.dag import blocked, implicit_needs, ready
from conveyor.checks.step import Step


def _steps(*specs: tuple[str, tuple[str, ...], bool]) -> list[Step]:
    return [Step(name, ("true",), needs=needs, writes=writes) for name, needs, writes in specs]


def test_writers_go_before_readers_of_the_same_files_and_in_order_among_themselves() -> None:
    steps = _steps(("lint", (), False), ("fmt", (), True), ("sort", (), True), ("docs", (), False))
    files = {
        "lint": frozenset({"a.py"}),
        "fmt": frozenset({"a.py", "b.py"}),
        "sort": frozenset({"b.py"}),
        "docs": frozenset({"README.md"}),
    }
    assert implicit_needs(steps, files) == {
        "lint": ("fmt",),
        "fmt": (),
        "sort": ("fmt",),
        "docs": (),
    }


def test_an_explicit_need_the_other_way_round_wins() -> None:
    steps = _steps(("fmt", ("lint",), True), ("lint", (), False))
    files = {"fmt": frozenset({"a.py"}), "lint": frozenset({"a.py"})}
    assert implicit_needs(steps, files) == {"fmt": ("lint",), "lint": ()}


def test_ready_respects_needs_and_slots() -> None:
    steps = _steps(("a", (), False), ("b", (), False), ("c", ("a", "b"), False))
    files = {s.name: frozenset({s.name}) for s in steps}
    needs = {s.name: s.needs for s in steps}
    pick = lambda **kw: [s.name for s in ready(steps, needs, files=files, **kw)]  # noqa: E731
    assert pick(finished=set(), running=set(), slots=2) == ["a", "b"]
    assert pick(finished=set(), running=set(), slots=1) == ["a"]
    assert pick(finished={"a"}, running={"b"}, slots=1) == []
    assert pick(finished={"a", "b"}, running=set(), slots=4) == ["c"]


def test_a_writer_never_starts_beside_a_reader_of_its_files() -> None:
    steps = _steps(("fmt", (), True), ("lint", (), False), ("other", (), False))
    files = {"fmt": frozenset({"a.py"}), "lint": frozenset({"a.py"}), "other": frozenset({"b"})}
    no_needs = {s.name: () for s in steps}
    started = ready(steps, no_needs, finished=set(), running={"lint"}, files=files, slots=4)
    assert [s.name for s in started] == ["other"]


def test_an_exclusive_step_runs_alone() -> None:
    steps = [Step("a", ("true",)), Step("bench", ("true",), exclusive=True), Step("c", ("true",))]
    files = {s.name: frozenset() for s in steps}
    needs = {s.name: () for s in steps}
    names = lambda **kw: [s.name for s in ready(steps, needs, files=files, slots=4, **kw)]  # noqa: E731
    assert names(finished=set(), running=set()) == ["a", "c"]
    assert names(finished={"a", "c"}, running=set()) == ["bench"]
    assert names(finished={"a"}, running={"bench"}) == []


def test_blocked_follows_failures_through_written_needs() -> None:
    steps = _steps(("a", (), False), ("b", ("a",), False), ("c", ("b",), False), ("d", (), False))
    assert blocked(steps, {"a"}) == {"b", "c"}
    assert blocked(steps, set()) == set()


def test_heavier_steps_start_first() -> None:
    steps = [Step("fmt", ("x",)), Step("lint", ("x",)), Step("tests", ("x",), weight=3)]
    files = {s.name: frozenset() for s in steps}
    needs = {s.name: () for s in steps}
    started = ready(steps, needs, finished=set(), running=set(), files=files, slots=2)
    assert [s.name for s in started] == ["tests", "fmt"]
