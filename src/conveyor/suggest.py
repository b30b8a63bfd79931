"""Did-you-mean suggestions for misspelt keys and names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """Return the closest choice to `word`, or None when nothing is close."""
    options = list(choices)
    by_lower = {c.lower(): c for c in options}
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[matches[0]] if matches else None


def suggestion_suffix(word: str, choices: Iterable[str]) -> str:
    """` (did you mean "x"?)` or an empty string."""
    match = did_you_mean(word, choices)
    return f' (did you mean "{match}"?)' if match else ""
