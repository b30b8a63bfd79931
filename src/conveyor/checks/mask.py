"""Secrets from the environment never appear in a step's output."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from conveyor.settings.secrets import MASK, is_secret

# Shorter values would mask ordinary words ("dev", "true") all over the output.
MIN_LENGTH = 6
# Shell variables whose names look secret to the rule (PWD as in password) but are paths.
NOT_SECRET = frozenset({"PWD", "OLDPWD"})


def secret_values(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Values of environment variables that hold secrets, longest first."""
    env = os.environ if environ is None else environ
    values = {
        v
        for k, v in env.items()
        if k not in NOT_SECRET and len(v) >= MIN_LENGTH and is_secret(k, v)
    }
    return tuple(sorted(values, key=len, reverse=True))


def masker(environ: Mapping[str, str] | None = None) -> Callable[[str], str]:
    """A function that replaces every secret value in a text by the mask."""
    values = secret_values(environ)

    def mask(text: str) -> str:
        for value in values:
            text = text.replace(value, MASK)
        return text

    return mask
