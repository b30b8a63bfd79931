"""Conveyor: continuous delivery for Python services on your own Linux servers."""

from __future__ import annotations

__version__ = "0.1.0"
