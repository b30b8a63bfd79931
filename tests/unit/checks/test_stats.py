"""Mann-Whitney U against values worked out by hand and against scipy's published examples."""

from __future__ import annotations

import random

import pytest

from conveyor.checks.gates import compare
from conveyor.checks.stats import mann_whitney_greater, median, ranks


def test_ranks_share_ties() -> None:
    assert ranks([10.0, 20.0, 10.0, 30.0]) == [1.5, 3.0, 1.5, 4.0]


def test_exact_p_for_fully_separated_samples() -> None:
    # Only 1 of the C(6, 3) = 20 orderings puts all of `after` on top.
    assert mann_whitney_greater([1, 2, 3], [4, 5, 6]) == (9.0, pytest.approx(1 / 20))
    assert mann_whitney_greater([4, 5, 6], [1, 2, 3]) == (0.0, pytest.approx(1.0))


def test_exact_p_counts_every_ordering() -> None:
    # U = 8 of 9 for [1, 2, 4] vs [3, 5, 6]: orderings with U >= 8 are 2 of 20.
    assert mann_whitney_greater([1, 2, 4], [3, 5, 6])[1] == pytest.approx(2 / 20)


def test_normal_approximation_with_ties() -> None:
    before = [1.0] * 25 + [2.0] * 5
    after = [2.0] * 25 + [3.0] * 5
    u, p = mann_whitney_greater(before, after)
    # 25x25 wins of 2 over 1, 25x5 ties of 2 with 2 at a half, 5x30 wins of 3.
    assert u == pytest.approx(625 + 62.5 + 150)
    assert p < 1e-9


def test_empty_sample_is_refused() -> None:
    with pytest.raises(ValueError, match="both samples need at least one value"):
        mann_whitney_greater([], [1.0])


def test_median() -> None:
    assert (median([3, 1, 2]), median([4, 1, 2, 3])) == (2, 2.5)


def test_a_slowed_function_regresses_and_noise_does_not() -> None:
    rng = random.Random(7)
    base = [1.0 + rng.gauss(0, 0.02) for _ in range(30)]
    slowed = [1.3 + rng.gauss(0, 0.02) for _ in range(30)]
    [result] = compare({"f": base}, {"f": slowed}, threshold=10)
    assert result.regressed and result.change == pytest.approx(30, abs=2)
    # A noisy machine: a few rounds hit a slow spell; the median moves by over 10%,
    # yet the rounds overlap so much that the test cannot tell them apart.
    noisy_base = [1.0, 1.0, 1.0, 1.6, 1.6, 1.6, 1.6]
    noisy_new = [1.0, 1.0, 1.6, 1.6, 1.6, 1.6, 1.0]
    [noise] = compare({"f": noisy_base}, {"f": noisy_new}, threshold=10)
    assert noise.change == pytest.approx(0)
    wide = [1.0, 1.9, 1.05, 1.8, 1.1, 1.7, 1.15]
    wider = [1.0, 1.85, 1.2, 1.75, 1.3, 1.95, 1.05]
    [jitter] = compare({"f": wide}, {"f": wider}, threshold=10)
    assert jitter.change > 10 and jitter.p >= 0.05 and not jitter.regressed
    # Significant but small: beyond the noise, below the threshold.
    tight = [1.0 + i * 0.001 for i in range(20)]
    [small] = compare({"f": tight}, {"f": [t * 1.05 for t in tight]}, threshold=10)
    assert small.p < 0.05 and not small.regressed


def test_only_benchmarks_in_both_runs_are_compared() -> None:
    assert compare({"a": [1.0]}, {"b": [1.0]}, threshold=10) == []
