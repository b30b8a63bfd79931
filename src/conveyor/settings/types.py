"""The types a setting can declare, how a value is checked, and how `.env.example` names them."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

TYPE_NAMES = ("str", "int", "float", "bool", "url", "port", "email", "secret", "choice")
TRUE_WORDS = frozenset({"true", "1", "yes", "on", "t", "y"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", "f", "n"})

_ALIASES = {"string": "str", "integer": "int", "boolean": "bool"}
# Digits may be grouped with underscores, as pydantic accepts: 1_000.
_INTEGER = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_FIRST_WORD = re.compile(r"\w+")
# At least two options joined by "|", so that "one of them" in prose is not a type.
_ONE_OF = re.compile(r"one\s+of:?\s*(?P<items>[^\s|,;]+(?:\s*\|\s*[^\s|,;]+)+)", re.IGNORECASE)

INT_MESSAGE = "expected an integer"
FLOAT_MESSAGE = "expected a number"
PORT_MESSAGE = "expected a port number between 1 and 65535"
BOOL_MESSAGE = "expected true/false (also accepted: 1/0, yes/no, on/off)"
URL_MESSAGE = "expected a URL like scheme://host[:port]/path"
EMAIL_MESSAGE = "expected an email address like name@example.com"


def validate(type_name: str, value: str, *, choices: tuple[str, ...] | None = None) -> str | None:
    """Why `value` is not a valid `type_name` (never quoting the value), or None when it is."""
    if choices is not None:
        return None if value in choices else f"expected one of: {', '.join(choices)}"
    check = _CHECKS.get(type_name)
    if check is None:
        raise ValueError(f"unknown setting type {type_name!r}; known: {', '.join(TYPE_NAMES)}")
    return check(value)


def parse_type_comment(comment: str | None) -> tuple[str, tuple[str, ...] | None] | None:
    """The type named by a trailing `.env.example` comment (`# port`, `# one of a|b`), or None."""
    if comment is None:
        return None
    text = comment.strip().lstrip("#").strip()
    one_of = _ONE_OF.match(text)
    if one_of:
        return "choice", tuple(item.strip() for item in one_of["items"].split("|"))
    word = _FIRST_WORD.match(text)
    if word is None:
        return None
    name = _ALIASES.get(word.group().lower(), word.group().lower())
    if name in TYPE_NAMES and name != "choice":
        return name, None
    return None


def _check_int(value: str) -> str | None:
    """An integer, optionally signed."""
    return None if _INTEGER.fullmatch(value.strip()) else INT_MESSAGE


def _check_float(value: str) -> str | None:
    """Anything Python's float() reads."""
    try:
        float(value)
    except ValueError:
        return FLOAT_MESSAGE
    return None


def _check_port(value: str) -> str | None:
    """An integer from 1 to 65535."""
    text = value.strip()
    if not _INTEGER.fullmatch(text) or not 1 <= int(text) <= 65535:
        return PORT_MESSAGE
    return None


def _check_bool(value: str) -> str | None:
    """One of the words pydantic reads as a boolean."""
    return None if value.strip().lower() in TRUE_WORDS | FALSE_WORDS else BOOL_MESSAGE


def _check_url(value: str) -> str | None:
    """scheme://host..., where the host may be empty when a path follows (sqlite:///app.db)."""
    scheme, separator, _ = value.partition("://")
    if not separator or not _SCHEME.fullmatch(scheme) or any(c.isspace() for c in value):
        return URL_MESSAGE
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        return URL_MESSAGE
    return None if parts.netloc or parts.path else URL_MESSAGE


def _check_email(value: str) -> str | None:
    """name@domain.tld, loosely: the mail server has the last word."""
    return None if _EMAIL.fullmatch(value) else EMAIL_MESSAGE


def _check_any(value: str) -> str | None:
    """Every string is valid."""
    return None


def _check_choice(value: str) -> str | None:
    """A choice without its choices is a programming error."""
    raise ValueError('the setting type "choice" needs choices')


_CHECKS: dict[str, Callable[[str], str | None]] = {
    "str": _check_any,
    "secret": _check_any,
    "int": _check_int,
    "float": _check_float,
    "bool": _check_bool,
    "port": _check_port,
    "url": _check_url,
    "email": _check_email,
    "choice": _check_choice,
}
