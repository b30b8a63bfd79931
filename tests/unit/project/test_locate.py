"""The key locator: the line of a key path in TOML text, and never a crash."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.project.load import parse_toml
from conveyor.project.locate import key_lines, locate

DOC = '''\
# a comment with [brackets] and key = "value"
title = "x"

[app]
name = "shop"   # trailing comment
  python = '3.11'

[environments.production]
hosts = { backend = [
    "deploy@app-1",  # first
    # a comment line inside the array
    "deploy@app-2",
], "sched" = ["local"] }
strategy.batch = 2
strategy . watch = "30s"

[[steps]]
name = "a"
[[steps]]
name = "b"
[steps.sub]
x = 1

[text]
long = """
[not.a.table]
name = "not a key"
"""
raw = \'\'\'a ''quoted'' \'\'\'
after = 1
"quoted key" = 1
"esc\\u0061ped" = 2
'literal key' = 3
nested = [[1, 2], [3,
  4], { k = { deep = true } }]
dt = 1979-05-27 07:32:00Z
'''


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("title",), 2),
        (("app",), 4),
        (("app", "name"), 5),
        (("app", "python"), 6),
        (("environments",), 8),
        (("environments", "production"), 8),
        (("environments", "production", "hosts"), 9),
        (("environments", "production", "hosts", "backend"), 9),
        (("environments", "production", "hosts", "backend", 0), 10),
        (("environments", "production", "hosts", "backend", 1), 12),
        (("environments", "production", "hosts", "sched", 0), 13),
        (("environments", "production", "strategy"), 14),
        (("environments", "production", "strategy", "batch"), 14),
        (("environments", "production", "strategy", "watch"), 15),
        (("steps", 0), 17),
        (("steps", 0, "name"), 18),
        (("steps", 1, "name"), 20),
        (("steps", 1, "sub", "x"), 22),
        (("text", "long"), 25),
        (("text", "raw"), 29),
        (("text", "after"), 30),
        (("text", "quoted key"), 31),
        (("text", "escaped"), 32),
        (("text", "literal key"), 33),
        (("text", "nested", 0, 1), 34),
        (("text", "nested", 1, 1), 35),
        (("text", "nested", 2, "k", "deep"), 35),
        (("text", "dt"), 36),
    ],
)
def test_locates_keys_and_elements(path: tuple[str | int, ...], line: int) -> None:
    assert locate(DOC, path) == line


def test_text_inside_strings_is_not_taken_for_keys() -> None:
    lines = key_lines(DOC)
    assert ("not",) not in lines
    assert ("text", "name") not in lines
    assert ("name",) not in lines


def test_falls_back_to_the_longest_defined_prefix() -> None:
    assert locate(DOC, ("environments", "production", "hosts", "backend", 7)) == 9
    assert locate(DOC, ("app", "missing", "deeper")) == 4
    assert locate(DOC, ("nowhere", "at", "all")) is None
    assert locate(DOC, ()) is None


def test_the_document_really_is_toml() -> None:
    data = parse_toml(DOC, shown="doc")
    assert data["environments"]["production"]["hosts"]["backend"][1] == "deploy@app-2"
    assert data["steps"][1]["sub"] == {"x": 1}
    assert data["text"]["escaped"] == 2


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[",
        "[[",
        "[a",
        "= 1",
        'a = "unterminated',
        "a = '''never closed",
        'a = """never closed',
        "a = [1, 2",
        "a = {b = ",
        "a = { = 1 }",
        "a.=1",
        "a = [" * 5000,
        "\r\n[a]\r\nb = 1\r\n",
        '"\\',
        "a = 1 2 3 ] } ,",
        '"\\x" = 1',
        "a = { b = 1 c = 2 }",
        "a = [1 2]",
        'a = """x""""\nb = 1',
    ],
)
def test_odd_input_gives_no_line_rather_than_an_error(text: str) -> None:
    lines = key_lines(text)
    assert all(1 <= line <= text.count("\n") + 1 for line in lines.values())


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("[]{}=.,'\"#\\ \n\tab1-_")), max_size=200))
def test_never_raises_on_toml_like_noise(text: str) -> None:
    for line in key_lines(text).values():
        assert 1 <= line <= text.count("\n") + 1
    locate(text, ("a", 0, "b"))


@given(st.text(max_size=300))
def test_never_raises_on_arbitrary_text(text: str) -> None:
    locate(text, ("a", "b", 0))


KEYS = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True)
SCALARS = st.one_of(st.integers(), st.booleans(), st.text(max_size=10))


@given(st.dictionaries(KEYS, st.dictionaries(KEYS, SCALARS, max_size=4), max_size=4))
def test_every_key_of_a_generated_document_is_on_its_own_line(
    tables: dict[str, dict[str, object]],
) -> None:
    lines = []
    for table, values in tables.items():
        lines.append(f"[{table}]")
        for key, value in values.items():
            lines.append(f"{key} = {_toml_value(value)}")
    text = "\n".join(lines) + "\n"
    assert parse_toml(text, shown="doc") == tables
    source = text.splitlines()
    for table, values in tables.items():
        assert source[locate(text, (table,)) - 1] == f"[{table}]"  # type: ignore[operator]
        for key in values:
            assert source[locate(text, (table, key)) - 1].startswith(f"{key} = ")  # type: ignore[operator]


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        escaped = "".join(
            c if c.isprintable() and c not in '"\\' else f"\\U{ord(c):08x}" for c in value
        )
        return f'"{escaped}"'
    return str(value)
