"""DORA's performance bands (elite, high, medium, low), and which one a figure falls in.

Source: the Accelerate State of DevOps Report 2023 (DORA / Google Cloud), "How do you
compare?": the software delivery performance of its four clusters. The 2024 report's
table agrees on the elite, high and medium throughput figures.

| band   | deployment frequency        | change lead time  | failure rate | recovery time   |
|--------|-----------------------------|-------------------|--------------|-----------------|
| elite  | on demand (several a day)   | under one day     | 5%           | under an hour   |
| high   | once a day to once a week   | one day to a week | 10%          | under a day     |
| medium | once a week to once a month | a week to a month | 15%          | a day to a week |
| low    | slower than medium          | slower than medium | 64%         | a month or more |

The report describes each cluster; the edges below are read from it. Deployment
frequency: at least once a day on average is elite, once a week high, once a month
(30 days) medium. Lead time and recovery time (their p50) must be under the edge. The
change failure rate is the cluster's typical rate, read as an upper bound (up to 5% is
elite). Whatever misses medium is low. The 2024 report's failure rates (elite 5%, high
20%, medium 10%, low 40%) do not rise band by band, so they cannot place a figure; the
2023 ones are used. DORA publishes no bands for the deployment rework rate (a measure
since the 2024 report), so it gets none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Band = Literal["elite", "high", "medium", "low"]
Rule = Literal["at_least", "below", "at_most"]

DAY = 86400.0


@dataclass(frozen=True)
class Edges:
    """Where elite, high and medium end, best first, and how a value is held against them."""

    elite: float
    high: float
    medium: float
    rule: Rule
    unit: str  # what the edges count, for the docs


# The one table of thresholds (source and reading: the module's docstring).
THRESHOLDS: dict[str, Edges] = {
    "deployment_frequency": Edges(1.0, 1 / 7, 1 / 30, "at_least", "succeeded deploys a day"),
    "change_lead_time": Edges(DAY, 7 * DAY, 30 * DAY, "below", "seconds, p50"),
    "change_failure_rate": Edges(0.05, 0.10, 0.15, "at_most", "ratio"),
    "failed_deployment_recovery_time": Edges(3600.0, DAY, 7 * DAY, "below", "seconds, p50"),
}


def band(metric: str, value: float | None) -> Band | None:
    """The band `value` of `metric` falls in; None without a value or a published band."""
    edges = THRESHOLDS.get(metric)
    if value is None or edges is None:
        return None
    ordered: tuple[tuple[Band, float], ...] = (
        ("elite", edges.elite),
        ("high", edges.high),
        ("medium", edges.medium),
    )
    for name, edge in ordered:
        if _within(value, edge, edges.rule):
            return name
    return "low"


def _within(value: float, edge: float, rule: Rule) -> bool:
    if rule == "at_least":
        return value >= edge
    if rule == "below":
        return value < edge
    return value <= edge
