"""The YAML writer (PyYAML underneath) against PyYAML's own reading of what it wrote."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from conveyor.export.yaml import dump, load, plain


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("ubuntu-latest", "ubuntu-latest"),
        ("on", '"on"'),
        ("yes", '"yes"'),
        ("3.10", '"3.10"'),
        ("${{ matrix.python }}", '"${{ matrix.python }}"'),
        ("a: b", '"a: b"'),
        ("always()", '"always()"'),
        ('say "hi" # now', '"say \\"hi\\" # now"'),
        (True, "true"),
        (None, ""),
        (3, "3"),
    ],
)
def test_scalars_are_quoted_when_in_doubt(value: Any, text: str) -> None:
    assert dump({"key": value}) == (f"key: {text}\n" if text else "key:\n")
    assert plain("ubuntu-latest") and not plain("on")


def test_dump_round_trips() -> None:
    data = {
        "name": "ci",
        "on": {"push": {"branches": ["main", "develop"]}, "pull_request": None},
        "empty": {},
        "jobs": {
            "a": {
                "steps": [
                    {"uses": "actions/checkout@v4"},
                    {"name": "Run", "run": "one\n\ntwo\n", "with": {"x": "3.10"}},
                    "plain",
                ],
                "nested": [["x"], {}],
            }
        },
    }
    text = dump(data, header="Generated.\n\nDo not edit.")
    assert text == (
        "# Generated.\n#\n# Do not edit.\nname: ci\non:\n  push:\n    branches: [main, develop]\n"
        "  pull_request:\nempty: {}\njobs:\n  a:\n    steps:\n      - uses: actions/checkout@v4\n"
        "      - name: Run\n        run: |\n          one\n\n          two\n        with:\n"
        '          x: "3.10"\n      - plain\n    nested:\n      - [x]\n      - {}\n'
    )
    loaded = yaml.safe_load(text)
    loaded[True] = loaded.pop(True)  # YAML 1.1 reads the key `on` as true; GitHub does not
    assert loaded.pop(True) == data["on"]
    assert {k: v for k, v in data.items() if k != "on"} == loaded
    assert load(text) == data  # our own reader takes `on` as GitHub does


def test_text_without_a_final_newline_keeps_it_that_way() -> None:
    text = dump({"run": "one\ntwo"})
    assert text == "run: |-\n  one\n  two\n"
    assert yaml.safe_load(text) == {"run": "one\ntwo"}


def test_a_long_line_is_never_folded() -> None:
    long = "python -c " + "x" * 300
    assert dump({"run": long}) == f"run: {long}\n"


_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), _TEXT)
_DATA = st.recursive(
    _LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=12,
)


@given(st.dictionaries(_TEXT, _DATA, max_size=4))
def test_anything_dumped_reads_back_equal(data: dict[str, Any]) -> None:
    assert load(dump(data)) == data
