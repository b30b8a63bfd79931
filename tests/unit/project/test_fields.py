"""Value types: hosts, durations, rendering of values in messages, key paths."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.project.fields import HostAddress, format_duration, parse_duration, parse_host, show
from conveyor.project.references import _first_cycle, dotted


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("local", HostAddress(user=None, host="localhost")),
        ("deploy@app-1", HostAddress(user="deploy", host="app-1")),
        (
            "deploy@app-1.example.com:2222",
            HostAddress(user="deploy", host="app-1.example.com", port=2222),
        ),
        ("root@10.0.0.5:22", HostAddress(user="root", host="10.0.0.5", port=22)),
        ("deploy@[::1]", HostAddress(user="deploy", host="::1")),
        ("deploy@[fe80::1]:2200", HostAddress(user="deploy", host="fe80::1", port=2200)),
    ],
)
def test_parse_host(text: str, address: HostAddress) -> None:
    assert parse_host(text) == address
    assert parse_host(text).is_local == (text == "local")


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("0s", timedelta(0)),
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("90m", timedelta(minutes=90)),
    ],
)
def test_parse_duration(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta


def test_parse_duration_passes_timedeltas_through() -> None:
    assert parse_duration(timedelta(seconds=3)) == timedelta(seconds=3)


@pytest.mark.parametrize("value", ["15", "15 m", "1d", "-1s", "1.5s", "1s\n", 30, None, True])
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(
        ValueError, match=r'^expected a duration like "500ms", "30s", "15m" or "1h", got '
    ):
        parse_duration(value)


@given(st.integers(min_value=0, max_value=10**9))
def test_format_duration_round_trips(millis: int) -> None:
    delta = timedelta(milliseconds=millis)
    assert parse_duration(format_duration(delta)) == delta


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "0ms"),
        (timedelta(milliseconds=1500), "1500ms"),
        (timedelta(seconds=90), "90s"),
        (timedelta(minutes=120), "2h"),
    ],
)
def test_format_duration_picks_the_largest_exact_unit(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("app 1", '"app 1"'),
        ('say "hi"\\', '"say \\"hi\\"\\\\"'),
        ("two\nlines\t", '"two\\nlines\\t"'),
        ("café", '"café"'),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (1.5, "1.5"),
        ([], "[]"),
        ([1], "an array"),
        ({}, "{}"),
        ({"a": 1}, "a table"),
    ],
)
def test_show(value: object, text: str) -> None:
    assert show(value) == text


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("app", "name"), "app.name"),
        (
            ("environments", "production", "hosts", "backend", 0),
            "environments.production.hosts.backend[0]",
        ),
        (("hosts", "Back End"), 'hosts."Back End"'),
        (("a", 0, 1, "b"), "a[0][1].b"),
        ((), ""),
    ],
)
def test_dotted(path: tuple[str | int, ...], text: str) -> None:
    assert dotted(path) == text


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({}, []),
        ({"a": ["b"], "b": []}, []),
        ({"a": ["b", "c"], "b": ["c"], "c": []}, []),
        ({"a": ["a"]}, []),
        ({"a": ["b"], "b": ["a"]}, ["a", "b", "a"]),
        ({"x": ["a"], "a": ["b"], "b": ["c"], "c": ["a"]}, ["a", "b", "c", "a"]),
        ({"a": [], "b": ["c"], "c": ["d"], "d": ["b"]}, ["b", "c", "d", "b"]),
    ],
)
def test_first_cycle(graph: dict[str, list[str]], cycle: list[str]) -> None:
    assert _first_cycle(graph) == cycle
