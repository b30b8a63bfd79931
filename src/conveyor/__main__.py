"""`python -m conveyor` runs the CLI."""

from __future__ import annotations

from conveyor.cli import run

run()
