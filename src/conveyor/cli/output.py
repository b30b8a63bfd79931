"""Terminal output: one place decides colour, width and where errors go."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from rich.console import Console


def out() -> Console:
    """A console on the current stdout (tests swap it), never wrapping long lines.

    Emoji codes are off: output is data (`lock:ok:` must not become a picture)."""
    return _console(sys.stdout)


def err() -> Console:
    """A console on the current stderr."""
    return _console(sys.stderr)


def _console(file: TextIO) -> Console:
    # NO_COLOR (no-color.org) means plain text: rich alone would still write bold and dim.
    if os.environ.get("NO_COLOR"):
        return Console(file=file, soft_wrap=True, highlight=False, emoji=False, color_system=None)
    return Console(file=file, soft_wrap=True, highlight=False, emoji=False)
