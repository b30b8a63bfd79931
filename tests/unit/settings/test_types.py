"""Tests for setting types: validation messages and type comments."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.settings.types import TYPE_NAMES, parse_type_comment, validate

INT = "expected an integer"
FLOAT = "expected a number"
PORT = "expected a port number between 1 and 65535"
BOOL = "expected true/false (also accepted: 1/0, yes/no, on/off)"
URL = "expected a URL like scheme://host[:port]/path"
EMAIL = "expected an email address like name@example.com"


@pytest.mark.parametrize(
    ("type_name", "value", "expected"),
    [
        ("str", "", None),
        ("str", "anything at all", None),
        ("secret", "", None),
        ("secret", "hunter2", None),
        ("int", "42", None),
        ("int", " -7 ", None),
        ("int", "+5", None),
        ("int", "1_000", None),
        ("int", "", INT),
        ("int", "4.2", INT),
        ("int", "0x10", INT),
        ("int", "1__0", INT),
        ("int", "\uff11\uff12", INT),  # fullwidth digits
        ("int", "ten", INT),
        ("float", "0.5", None),
        ("float", "1e-3", None),
        ("float", "7", None),
        ("float", "", FLOAT),
        ("float", "1,5", FLOAT),
        ("port", "1", None),
        ("port", "5432", None),
        ("port", "65535", None),
        ("port", "0", PORT),
        ("port", "65536", PORT),
        ("port", "-1", PORT),
        ("port", "http", PORT),
        ("port", "", PORT),
        ("bool", "true", None),
        ("bool", "False", None),
        ("bool", "1", None),
        ("bool", "0", None),
        ("bool", "YES", None),
        ("bool", "no", None),
        ("bool", "on", None),
        ("bool", "off", None),
        ("bool", "", BOOL),
        ("bool", "2", BOOL),
        ("bool", "enabled", BOOL),
        ("url", "https://example.com", None),
        ("url", "http://localhost:8000/health", None),
        ("url", "postgresql+psycopg://user:pw@db:5432/app", None),
        ("url", "redis://localhost:6379/0", None),
        ("url", "sqlite:///./app.db", None),
        ("url", "", URL),
        ("url", "example.com", URL),
        ("url", "http://", URL),
        ("url", "http://host:99999/", URL),
        ("url", "http://host:port/", URL),
        ("url", "http://my host/", URL),
        ("url", "1http://host", URL),
        ("url", "http://[::1/", URL),
        ("email", "ops@example.com", None),
        ("email", "first.last+tag@mail.example.co.uk", None),
        ("email", "", EMAIL),
        ("email", "ops", EMAIL),
        ("email", "ops@localhost", EMAIL),
        ("email", "a b@example.com", EMAIL),
        ("email", "a@@example.com", EMAIL),
    ],
)
def test_validate(type_name: str, value: str, expected: str | None) -> None:
    assert validate(type_name, value) == expected


def test_validate_choices() -> None:
    choices = ("debug", "info", "warning")
    assert validate("choice", "info", choices=choices) is None
    assert validate("choice", "INFO", choices=choices) == "expected one of: debug, info, warning"
    assert validate("str", "x", choices=("a", "b")) == "expected one of: a, b"


def test_choice_without_choices_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match='the setting type "choice" needs choices'):
        validate("choice", "x")


def test_unknown_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown setting type 'datetime'"):
        validate("datetime", "x")


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([name for name in TYPE_NAMES if name != "choice"]), st.text())
def test_messages_are_fixed_texts_without_the_value(type_name: str, value: str) -> None:
    assert validate(type_name, value) in {None, INT, FLOAT, PORT, BOOL, URL, EMAIL}


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        (None, None),
        ("", None),
        ("int", ("int", None)),
        ("# int", ("int", None)),
        ("port", ("port", None)),
        ("secret", ("secret", None)),
        ("Secret key for sessions", ("secret", None)),
        ("url, production only", ("url", None)),
        ("email", ("email", None)),
        ("bool", ("bool", None)),
        ("boolean", ("bool", None)),
        ("integer (seconds)", ("int", None)),
        ("string", ("str", None)),
        ("str", ("str", None)),
        ("float", ("float", None)),
        ("one of debug|info|warning", ("choice", ("debug", "info", "warning"))),
        ("One of: a | b", ("choice", ("a", "b"))),
        ("one of debug|info, default info", ("choice", ("debug", "info"))),
        ("one of them is wrong", None),
        ("choice", None),
        ("the database host", None),
        ("number of workers", None),
        ("integers only", None),
        ("---", None),
    ],
)
def test_parse_type_comment(
    comment: str | None, expected: tuple[str, tuple[str, ...] | None] | None
) -> None:
    assert parse_type_comment(comment) == expected
