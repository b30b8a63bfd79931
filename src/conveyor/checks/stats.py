"""Mann-Whitney U: is one sample of timings larger than another, beyond the noise?"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

# Up to this many rounds each, with no ties, the exact distribution of U is cheap.
EXACT_LIMIT = 20


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing the mean of their positions."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def mann_whitney_greater(before: Sequence[float], after: Sequence[float]) -> tuple[float, float]:
    """U of `after` over `before` and the one-sided p-value that `after` is larger."""
    m, n = len(before), len(after)
    if m == 0 or n == 0:
        raise ValueError("both samples need at least one value")
    combined = [*before, *after]
    rank = ranks(combined)
    u = sum(rank[m:]) - n * (n + 1) / 2
    tied = len(set(combined)) != len(combined)
    if not tied and m <= EXACT_LIMIT and n <= EXACT_LIMIT:
        return u, _exact_p(round(u), m, n)
    return u, _normal_p(u, m, n, combined)


def _exact_p(u: int, m: int, n: int) -> float:
    """P(U >= u) when both samples come from one distribution, counted exactly."""
    counts = _distribution(m, n)
    return sum(counts[u:]) / math.comb(m + n, m)


@cache
def _distribution(m: int, n: int) -> tuple[int, ...]:
    """How many orderings give U = 0, 1, ..., m*n (U counts pairs where `after` wins)."""
    if m == 0 or n == 0:
        return (1,)
    # The largest value comes from `after` (beating all m) or from `before` (beating none).
    top_after = _distribution(m, n - 1)
    top_before = _distribution(m - 1, n)
    out = [0] * (m * n + 1)
    for u, count in enumerate(top_after):
        out[u + m] += count
    for u, count in enumerate(top_before):
        out[u] += count
    return tuple(out)


def _normal_p(u: float, m: int, n: int, combined: Sequence[float]) -> float:
    """The normal approximation with a tie correction and a continuity correction."""
    total = m + n
    ties: dict[float, int] = {}
    for value in combined:
        ties[value] = ties.get(value, 0) + 1
    correction = sum(t**3 - t for t in ties.values()) / (total * (total - 1)) if total > 1 else 0
    variance = m * n / 12 * ((total + 1) - correction)
    if variance <= 0:
        return 1.0
    z = (u - m * n / 2 - 0.5) / math.sqrt(variance)
    return 0.5 * math.erfc(z / math.sqrt(2))


def median(values: Sequence[float]) -> float:
    """The middle value (mean of the two middle ones for an even count)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
