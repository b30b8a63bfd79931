"""The coverage and benchmark gates on real report files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conveyor.checks.gates import check_benchmark, check_coverage, current_branch
from conveyor.checks.step import Gate

COVERAGE = '<?xml version="1.0" ?><coverage lines-valid="90" lines-covered="80" branches-valid="10" branches-covered="5"/>'


def test_coverage_counts_lines_and_branches(tmp_path: Path) -> None:
    (tmp_path / "c.xml").write_text(COVERAGE)
    assert check_coverage(Gate("coverage", "c.xml", minimum=90), tmp_path).lines == (
        "coverage 85.00% is below the floor of 90% (checks.coverage)",
    )
    passed = check_coverage(Gate("coverage", "c.xml", minimum=85), tmp_path)
    assert passed.passed and passed.lines == ("coverage 85.00% (floor 85%)",)
    missing = check_coverage(Gate("coverage", "none.xml", minimum=1), tmp_path)
    assert (missing.passed, missing.lines) == (False, ("coverage: no readable report at none.xml",))


def _report(path: Path, rounds: list[float]) -> None:
    data = {"benchmarks": [{"fullname": "t::f", "stats": {"data": rounds}}]}
    path.write_text(json.dumps(data))


def test_benchmark_records_compares_and_falls_back_to_main(tmp_path: Path) -> None:
    gate = Gate("benchmark", "b.json", threshold=10)
    _report(tmp_path / "b.json", [0.010 + i * 1e-5 for i in range(12)])
    first = check_benchmark(gate, tmp_path, branch="main")
    assert first.lines == ("benchmark: baseline for branch main recorded",)
    _report(tmp_path / "b.json", [0.014 + i * 1e-5 for i in range(12)])
    feature = check_benchmark(gate, tmp_path, branch="feature/x")
    assert not feature.passed
    assert feature.lines[0] == "benchmark: compared with the baseline of branch main"
    assert feature.lines[1].startswith(
        "  t::f: 10.055 ms -> 14.055 ms (+39.8%, p=0.000) REGRESSION"
    )
    assert (tmp_path / ".conveyor/benchmarks/feature_x.json").is_file()
    saved = check_benchmark(gate, tmp_path, branch="main", save=True)
    assert saved.passed and check_benchmark(gate, tmp_path, branch="main").passed
    broken = check_benchmark(Gate("benchmark", "none.json"), tmp_path, branch="main")
    assert not broken.passed and broken.lines[0].startswith(
        "benchmark: no readable report at none.json"
    )


def test_current_branch(tmp_path: Path) -> None:
    assert current_branch(tmp_path, {"GITHUB_HEAD_REF": "pr-branch"}) == "pr-branch"
    assert current_branch(tmp_path, {}) == "default"
    subprocess.run(["git", "init", "-q", "-b", "develop", str(tmp_path)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(tmp_path),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ],
        check=True,
    )
    assert current_branch(tmp_path, {}) == "develop"
