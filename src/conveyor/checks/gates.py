"""Gates on a step's reports: the coverage floor and the benchmark regression check."""

from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ElementTree  # nosec B405: our own pytest-cov report
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from conveyor.checks.stats import mann_whitney_greater, median
from conveyor.checks.step import Gate

BASELINES = ".conveyor/benchmarks"
ALPHA = 0.05
FALLBACK_BRANCHES = ("main", "master")


@dataclass(frozen=True)
class GateResult:
    """Whether the gate passed and what it has to say."""

    passed: bool
    lines: tuple[str, ...]


def check_coverage(gate: Gate, root: Path) -> GateResult:
    """Total coverage (lines and branches, as coverage.py counts it) against the floor."""
    report = root / gate.report
    try:
        element = ElementTree.parse(report).getroot()  # nosec B314: written by this run
    except (OSError, ElementTree.ParseError):
        return GateResult(False, (f"coverage: no readable report at {gate.report}",))
    covered = int(element.get("lines-covered", 0)) + int(element.get("branches-covered", 0))
    valid = int(element.get("lines-valid", 0)) + int(element.get("branches-valid", 0))
    percent = 100.0 * covered / valid if valid else 100.0
    if percent + 1e-9 < gate.minimum:
        return GateResult(
            False,
            (f"coverage {percent:.2f}% is below the floor of {gate.minimum:g}% (checks.coverage)",),
        )
    return GateResult(True, (f"coverage {percent:.2f}% (floor {gate.minimum:g}%)",))


@dataclass(frozen=True)
class Comparison:
    """One benchmark against its baseline."""

    name: str
    before: float
    after: float
    p: float
    regressed: bool

    @property
    def change(self) -> float:
        """Percent slower (+) or faster (-) than the baseline, by medians."""
        return 100.0 * (self.after / self.before - 1) if self.before else 0.0


def compare(
    baseline: Mapping[str, Sequence[float]],
    current: Mapping[str, Sequence[float]],
    *,
    threshold: float,
    alpha: float = ALPHA,
) -> list[Comparison]:
    """A regression is slower by more than `threshold` percent AND beyond the noise (p < alpha)."""
    out = []
    for name in sorted(set(baseline) & set(current)):
        before, after = median(baseline[name]), median(current[name])
        _, p = mann_whitney_greater(baseline[name], current[name])
        change = 100.0 * (after / before - 1) if before else 0.0
        out.append(Comparison(name, before, after, p, change > threshold and p < alpha))
    return out


def read_rounds(report: Path) -> dict[str, list[float]]:
    """Round times per benchmark from pytest-benchmark's JSON (--benchmark-save-data)."""
    data = json.loads(report.read_text("utf-8"))
    return {b["fullname"]: [float(x) for x in b["stats"]["data"]] for b in data["benchmarks"]}


def current_branch(root: Path, environ: Mapping[str, str] | None = None) -> str:
    """The branch being checked: GitHub's names in CI (HEAD is detached there), else git's."""
    env = os.environ if environ is None else environ
    for variable in ("GITHUB_HEAD_REF", "GITHUB_REF_NAME"):
        if env.get(variable):
            return env[variable]
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--abbrev-ref", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    name = done.stdout.strip()
    return name if done.returncode == 0 and name and name != "HEAD" else "default"


def _baseline_path(root: Path, branch: str) -> Path:
    return root / BASELINES / (re.sub(r"[^A-Za-z0-9_.-]", "_", branch) + ".json")


def check_benchmark(gate: Gate, root: Path, *, branch: str, save: bool = False) -> GateResult:
    """Compare with the branch's baseline (else main's or master's); record one when none."""
    try:
        current = read_rounds(root / gate.report)
    except (OSError, ValueError, KeyError) as error:
        return GateResult(False, (f"benchmark: no readable report at {gate.report} ({error})",))
    own = _baseline_path(root, branch)
    if save or not own.is_file():
        source = next(
            (b for b in FALLBACK_BRANCHES if b != branch and _baseline_path(root, b).is_file()),
            None,
        )
        own.parent.mkdir(parents=True, exist_ok=True)
        own.write_text(json.dumps(current, sort_keys=True), "utf-8")
        if save or source is None:
            return GateResult(True, (f"benchmark: baseline for branch {branch} recorded",))
        compared_with = source
    else:
        compared_with = branch
    baseline = json.loads(_baseline_path(root, compared_with).read_text("utf-8"))
    results = compare(baseline, current, threshold=gate.threshold)
    lines = [f"benchmark: compared with the baseline of branch {compared_with}"]
    for c in results:
        verdict = "REGRESSION" if c.regressed else "ok"
        lines.append(
            f"  {c.name}: {c.before * 1e3:.3f} ms -> {c.after * 1e3:.3f} ms "
            f"({c.change:+.1f}%, p={c.p:.3f}) {verdict}"
        )
    regressed = [c for c in results if c.regressed]
    if regressed:
        lines.append(
            f"benchmark: {len(regressed)} regression(s) slower than {gate.threshold:g}% "
            f"beyond the noise (p < {ALPHA})"
        )
    return GateResult(not regressed, tuple(lines))
