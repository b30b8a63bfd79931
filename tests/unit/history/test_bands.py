"""DORA's bands: each edge, on which side it falls, and the figures without a band."""

from __future__ import annotations

import pytest

from conveyor.history.bands import DAY, THRESHOLDS, band


@pytest.mark.parametrize(
    ("metric", "value", "expected"),
    [
        ("deployment_frequency", 3.0, "elite"),
        ("deployment_frequency", 1.0, "elite"),  # once a day on average
        ("deployment_frequency", 0.99, "high"),
        ("deployment_frequency", 1 / 7, "high"),  # once a week
        ("deployment_frequency", 1 / 30, "medium"),  # once a month
        ("deployment_frequency", 1 / 31, "low"),
        ("deployment_frequency", 0.0, "low"),
        ("change_lead_time", DAY - 1, "elite"),
        ("change_lead_time", DAY, "high"),  # "less than one day" is elite
        ("change_lead_time", 7 * DAY, "medium"),
        ("change_lead_time", 30 * DAY, "low"),
        ("change_failure_rate", 0.0, "elite"),
        ("change_failure_rate", 0.05, "elite"),  # 5% is the elite figure
        ("change_failure_rate", 0.051, "high"),
        ("change_failure_rate", 0.15, "medium"),
        ("change_failure_rate", 0.16, "low"),
        ("failed_deployment_recovery_time", 3599.0, "elite"),
        ("failed_deployment_recovery_time", 3600.0, "high"),
        ("failed_deployment_recovery_time", 6 * DAY, "medium"),
        ("failed_deployment_recovery_time", 7 * DAY, "low"),
        ("change_failure_rate", None, None),  # not enough data
        ("deployment_rework_rate", 0.5, None),  # DORA publishes no band
    ],
)
def test_band_edges(metric: str, value: float | None, expected: str | None) -> None:
    assert band(metric, value) == expected


def test_the_table_holds_the_four_banded_figures() -> None:
    assert sorted(THRESHOLDS) == [
        "change_failure_rate",
        "change_lead_time",
        "deployment_frequency",
        "failed_deployment_recovery_time",
    ]
