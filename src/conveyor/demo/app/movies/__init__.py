"""Movies: a small movie-recommendation service, the example app Conveyor deploys."""

from __future__ import annotations

__version__ = "1.0.0"
