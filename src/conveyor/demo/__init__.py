"""The bundled example app (`demo/app`) and the `conveyor demo` driver."""

from __future__ import annotations

from pathlib import Path

APP_DIR = Path(__file__).parent / "app"
FIXTURES_DIR = Path(__file__).parent / "fixtures"
