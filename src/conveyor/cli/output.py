"""Terminal output: one place decides colour, width and where errors go."""

from __future__ import annotations

import sys

from rich.console import Console


def out() -> Console:
    """A console on the current stdout (tests swap it), never wrapping long lines.

    Emoji codes are off: output is data (`lock:ok:` must not become a picture)."""
    return Console(file=sys.stdout, soft_wrap=True, highlight=False, emoji=False)


def err() -> Console:
    """A console on the current stderr."""
    return Console(file=sys.stderr, soft_wrap=True, highlight=False, emoji=False)
