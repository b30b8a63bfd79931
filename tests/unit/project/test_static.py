"""Values computed from syntax trees: pure logic, no files."""

from __future__ import annotations

import ast

import pytest

from conveyor.project.static import Unknown, env_text, evaluate


def value(text: str, **names: object) -> object:
    def lookup(name: str) -> object:
        if name in names:
            return names[name]
        raise Unknown(name)

    return evaluate(ast.parse(text, mode="eval").body, lookup)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("60 * 24 * 8", 11520),
        ("-5", -5),
        ('"/api" + "/v1"', "/api/v1"),
        ("[1, 'a']", [1, "a"]),
        ('f"{API}/utils"', "/api/v1/utils"),
    ],
)
def test_known_values(text: str, expected: object) -> None:
    assert value(text, API="/api/v1") == expected


@pytest.mark.parametrize(
    "text", ["secrets.token_urlsafe(32)", "'x' * 100000", "'%s' % 1", "10 ** 100", "1 / 0", "X"]
)
def test_unknown_values(text: str) -> None:
    with pytest.raises(Unknown):
        value(text)


def test_env_text() -> None:
    assert [env_text(v) for v in (True, ["a"], 3)] == ["true", '["a"]', "3"]
