"""Benchmark: the seeds' tool-after-tool run vs `conveyor check` cold, warm, and after one edit.

    .venv/bin/python bench/check.py [--lines 50000] [--only example|generated]

On the bundled example app and on a generated project of about `--lines` lines,
in a scratch copy each: black --check, isort --check-only, flake8, mypy, pytest
with coverage and bandit one after another (the seeds' CI); then `conveyor check`
with the same six steps cold (no cache of conveyor's or of the tools'), warm with
nothing changed, and after touching one test file. Prints wall times and ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TOOLS = """
[tool.black]
line-length = 100

[tool.isort]
profile = "black"
line_length = 100
"""
FLAKE8 = "[flake8]\nmax-line-length = 100\nextend-ignore = E203,W503\n"
CONVEYOR = """
[app]
name = "{name}"

[checks]
use = ["black", "isort", "flake8", "mypy", "pytest", "bandit"]
coverage = 1
"""


def _module(i: int, functions: int) -> str:
    parts = [
        f'"""Module {i} of the generated benchmark project."""\n',
        "from dataclasses import dataclass\n",
    ]
    for j in range(functions):
        parts.append(
            f'''
@dataclass(frozen=True)
class Record{j}:
    """A record of kind {j}."""

    name: str
    value: int

    def doubled(self) -> int:
        """Twice the value."""
        return self.value * 2

    def label(self) -> str:
        """Name and value."""
        return f"{{self.name}}={{self.value}}"


def compute_{j}(values: list[int], factor: int = {j + 1}) -> int:
    """Scaled values above a floor, minus the others."""
    total = 0
    for value in values:
        if value > {j % 7}:
            total += value * factor
        else:
            total -= value
    return total
'''
        )
    return "\n".join(parts)


def _test(i: int) -> str:
    return f'''"""Tests of module {i}."""

from bigapp.mod{i} import Record0, compute_0, compute_1


def test_compute() -> None:
    assert compute_0([1, 2]) == 3
    assert compute_1([0, 5]) == 10


def test_record() -> None:
    assert Record0("a", 2).doubled() == 4
    assert Record0("a", 2).label() == "a=2"
'''


def generate(root: Path, lines: int) -> None:
    """A src-layout package of about `lines` lines with a test module per module."""
    functions = 8
    per_module = len(_module(0, functions).splitlines())
    count = max(1, lines // (per_module + 12))
    package = root / "src" / "bigapp"
    package.mkdir(parents=True)
    (root / "tests").mkdir()
    (package / "__init__.py").write_text('"""Generated."""\n')
    for i in range(count):
        (package / f"mod{i}.py").write_text(_module(i, functions))
        (root / "tests" / f"test_mod{i}.py").write_text(_test(i))
    settings = '[tool.pytest.ini_options]\npythonpath = ["src"]\n'
    settings += '[tool.coverage.run]\nsource = ["bigapp"]\n'
    (root / "pyproject.toml").write_text(settings + TOOLS)


def example(root: Path) -> None:
    """The bundled example app, with the line length its own ruff config uses."""
    shutil.copytree(REPO / "src/conveyor/demo/app", root, dirs_exist_ok=True)
    pyproject = root / "pyproject.toml"
    extra = '\n[tool.coverage.run]\nsource = ["movies"]\n'
    # The seeds run `mypy movies`; pydantic's plugin knows settings come from the environment.
    extra += '\n[tool.mypy]\nfiles = ["movies"]\nplugins = ["pydantic.mypy"]\n'
    pyproject.write_text(pyproject.read_text() + TOOLS + extra)


def _run(argv: list[str], root: Path, env: dict[str, str]) -> tuple[float, int, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, done.returncode, done.stdout + done.stderr


def _cold(root: Path) -> None:
    for path in (
        *(root / n for n in (".conveyor", ".mypy_cache", ".pytest_cache", ".coverage")),
        root.parent / f"{root.name}-black-cache",
    ):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def measure(name: str, root: Path) -> dict[str, object]:
    """Time the sequence and conveyor check cold, warm and after touching a test file."""
    # Black's cache outside the project: it is not an input of any step.
    env = {**os.environ, "BLACK_CACHE_DIR": str(root.parent / f"{name}-black-cache")}
    env.pop("CI", None)
    (root / "setup.cfg").write_text(FLAKE8)
    (root / "conveyor.toml").write_text(CONVEYOR.format(name=name))
    source = "src" if (root / "src").is_dir() else "movies"
    # Not timed: make the code pass every gate, so the warm run can be all cache hits.
    subprocess.run([str(BIN / "black"), "-q", "."], cwd=root, check=True, env=env)
    subprocess.run([str(BIN / "isort"), "-q", "."], cwd=root, check=True, env=env)
    sequence = [
        [str(BIN / "black"), "--check", "-q", "."],
        [str(BIN / "isort"), "--check-only", "-q", "."],
        [str(BIN / "flake8"), "."],
        [str(BIN / "mypy"), source],
        [str(BIN / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--cov"],
        [str(BIN / "bandit"), "-q", "-r", source, "-x", "tests"],
    ]
    _cold(root)
    seq_total = 0.0
    for argv in sequence:
        seconds, code, output = _run(argv, root, env)
        print(
            f"{name}: {Path(argv[0]).name} {' '.join(argv[1:3])}: {seconds:.2f}s", file=sys.stderr
        )
        seq_total += seconds
        if code != 0:
            print(f"warning: {argv[0]} exited {code} on {name}:\n{output[-2000:]}", file=sys.stderr)
    _cold(root)
    check = [sys.executable, "-m", "conveyor", "check"]
    cold, code, output = _run(check, root, env)
    if code != 0:
        print(f"warning: conveyor check failed on {name}:\n{output[-3000:]}", file=sys.stderr)
    warm, _, warm_output = _run(check, root, env)
    test_file = sorted((root / "tests").glob("test_*.py"))[0]
    test_file.write_text(test_file.read_text() + "\n\n# touched\n")
    touched, code, touched_output = _run(check, root, env)
    if code != 0:
        print(
            f"warning: conveyor check failed after the touch:\n{touched_output[-3000:]}",
            file=sys.stderr,
        )
    # conveyor's own time, without starting Python and importing the CLI.
    inside = float(warm_output.rstrip().rsplit(" in ", 1)[-1].rstrip("s"))
    ran = [line.split(":")[0] for line in touched_output.splitlines() if ": passed in " in line]
    lines = sum(
        len(p.read_text().splitlines()) for p in root.rglob("*.py") if "cache" not in str(p)
    )
    return {
        "project": name,
        "lines": lines,
        "sequence": seq_total,
        "cold": cold,
        "warm": warm,
        "warm_inside": inside,
        "touched": touched,
        "warm_all_cached": "6 cached" in warm_output,
        "ran_after_touch": ran,
    }


def main() -> None:
    """Run both projects and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--only", choices=["example", "generated"])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-") as scratch:
        for name, build in (("example", example), ("generated", None)):
            if args.only and args.only != name:
                continue
            root = Path(scratch) / name
            root.mkdir()
            if build is None:
                generate(root, args.lines)
            else:
                build(root)
            rows.append(measure(name, root))
    print(f"cores: {os.cpu_count()}")
    header = (
        "project",
        "lines",
        "sequence",
        "cold",
        "warm (pipeline itself)",
        "1 test touched",
        "seq/cold",
        "re-ran after touch",
    )
    print(" | ".join(header))
    for r in rows:
        ratio = float(r["sequence"]) / float(r["cold"])  # type: ignore[arg-type]
        print(
            f"{r['project']} | {r['lines']} | {r['sequence']:.2f}s | {r['cold']:.2f}s | "
            f"{r['warm']:.2f}s ({r['warm_inside']:.2f}s)"
            f"{'' if r['warm_all_cached'] else ' (not all cached!)'} | "
            f"{r['touched']:.2f}s | {ratio:.2f}x | {', '.join(r['ran_after_touch'])}"  # type: ignore[arg-type]
        )


if __name__ == "__main__":
    main()
