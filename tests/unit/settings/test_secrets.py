"""Recognising, masking and judging secrets."""

from __future__ import annotations

import pytest

from conveyor.settings import secrets
from conveyor.settings.secrets import decide_secret, is_secret, secret_mark


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("DB_PASSWORD", True),
        ("JWT_SECRET_KEY", True),
        ("API_KEY", True),
        ("SENTRY_DSN", True),
        ("GITHUB_TOKEN", True),
        ("db_password", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("KEYBOARD_LAYOUT", False),
        ("MONKEY", False),
        ("DB_HOST", False),
        ("AUTHOR_NAME", False),
        ("TOKENIZER_MODEL", False),
    ],
)
def test_secret_names(name: str, expected: bool) -> None:
    assert secrets.is_secret_name(name) is expected


def test_url_credentials_are_secret_but_the_rest_of_the_url_is_shown() -> None:
    url = "postgresql://admin:admin123@localhost:5435/stocktrading"
    assert secrets.is_secret("DATABASE_URL", url)
    assert (
        secrets.mask("DATABASE_URL", url)
        == "postgresql://admin:********@localhost:5435/stocktrading"
    )
    assert (
        secrets.mask("DATABASE_URL", "postgresql://localhost/app") == "postgresql://localhost/app"
    )
    assert secrets.url_password("http://[::1") is None


def test_masking() -> None:
    assert secrets.mask("JWT_SECRET_KEY", "abc") == "********"
    assert secrets.mask("JWT_SECRET_KEY", "") == ""
    assert secrets.mask("LOG_LEVEL", "info") == "info"
    assert secrets.mask("SESSION", "abc", declared=True) == "********"


HINT = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("admin123", "is a well-known password"),
        (
            "dev-secret-key-change-in-production",
            'contains "change", which marks a development value',
        ),
        ("my-super-secret-auth-token", 'contains "secret", which marks a development value'),
        ("Kp3x9Lq2", "is shorter than 16 characters"),
        ("aaaaaaaaaaaaaaaaaaaaaaaa", f"is too predictable (it repeats a few characters); {HINT}"),
        ("abcdabcdabcdabcd", f"is too predictable (it repeats a few characters); {HINT}"),
        (
            "8203948572039485",
            "is too predictable (under 64 bits: make it longer or mix letters, digits and "
            f"symbols); {HINT}",
        ),
        ("Stg-9fj2K1pq88Lw", None),  # a random 16-character password a person would pick
        ("qwhdkeuvnslapwoe", None),  # 16 random lower-case letters: 75 bits
        ("Zx8kq2LmP0vR7tY3wQ9nB4cH6jF1sD5g", None),
    ],
)
def test_weakness(value: str, why: str | None) -> None:
    assert secrets.weakness(value) == why


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<DB_HOST>", True),
        ("${DB_HOST}", True),
        ("changeme", True),
        ("CHANGE_ME", True),
        ("<GENERATE_RANDOM_SECRET>", True),
        ("your-api-key", True),
        ("%(password)s", True),
        ("localhost", False),
        ("", False),
        ("a<b>c", False),
    ],
)
def test_placeholders(value: str, expected: bool) -> None:
    assert secrets.is_placeholder(value) is expected


@pytest.mark.parametrize(
    ("comment", "mark"),
    [
        ("# secret", True),
        ("secret", True),
        ("# port, not secret", False),
        ("# not a secret", False),
        ("# str; Not_Secret", False),
        ("# one of debug|info", None),
        (None, None),
        # A phrase that merely contains the words is no mark: the password stays masked.
        ("# not secret-manager managed", None),
        ("# the secret sauce", None),
    ],
)
def test_a_mark_is_a_whole_item_of_the_comment(comment: str | None, mark: bool | None) -> None:
    assert secrets.secret_mark(comment) is mark


@pytest.mark.parametrize(
    ("name", "type_name", "mark", "expected"),
    [
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "int", None, False),
        ("EMAIL_RESET_TOKEN_EXPIRE_HOURS", "int", True, False),  # the type decides first
        ("TOKEN_MODE", "choice", None, False),
        ("SECRET_RATIO", "float", None, False),
        ("USE_TOKEN", "bool", None, False),
        ("GREETING", "secret", False, True),  # SecretStr always is
        ("TOKEN_AUDIENCE", "str", False, False),  # `# not secret`
        ("PROJECT_NAME", "str", True, True),  # `# secret`
        ("API_TOKEN", "str", None, True),  # then the name
        ("SENTRY_DSN", "url", None, True),
    ],
)
def test_decide_secret(name: str, type_name: str, mark: bool | None, expected: bool) -> None:
    assert decide_secret(name, type_name, mark=mark) is expected


@pytest.mark.parametrize(
    ("comment", "expected"),
    [("# secret", True), ("secret, rotate yearly", True), ("# not secret", False),
     ("url, not a secret", False), ("# url", None), (None, None), ("the secret sauce", None)],
)  # fmt: skip
def test_secret_mark(comment: str | None, expected: bool | None) -> None:
    assert secret_mark(comment) is expected


def test_a_declared_decision_wins_over_the_name_but_not_over_url_credentials() -> None:
    assert is_secret("API_TOKEN", "abc", declared=False) is False
    assert is_secret("WEBHOOK", "https://u:pw@example.com", declared=False) is True
    assert is_secret("API_TOKEN", "abc") is True
