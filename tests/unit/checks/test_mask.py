"""Masking secrets from the environment."""

from __future__ import annotations

from conveyor.checks.mask import masker, secret_values


def test_secret_values_by_name_and_by_url_longest_first() -> None:
    env = {
        "API_TOKEN": "abcdef123",
        "DATABASE_URL": "postgresql://u:pw-long@h/db",
        "PWD": "/home/alice/project",
        "SHORT_KEY": "abc",
        "EDITOR": "vim-editor",
    }
    assert secret_values(env) == ("postgresql://u:pw-long@h/db", "abcdef123")


def test_masker_replaces_every_occurrence() -> None:
    mask = masker({"JWT_SECRET": "topsecret1"})
    assert mask("a topsecret1 b topsecret1") == "a ******** b ********"
