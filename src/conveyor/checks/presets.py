"""Built-in presets: each name becomes a step with its command, inputs and tools."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from conveyor.checks.step import Gate, Step

PY = ("**/*.py", "**/*.pyi")
# Tool configuration lives in these; a change to one of them is a change to the step.
CONFIG = ("pyproject.toml", "setup.cfg", "tox.ini")
EXCLUDE = ".venv,venv,.conveyor,.make,build,dist,node_modules"
REPORTS = ".conveyor/reports"


@dataclass(frozen=True)
class Context:
    """What presets need to know about the project and the run."""

    root: Path
    python: str
    coverage: int = 0
    fix: bool = False
    benchmark_threshold: float = 10.0
    # "" for the default interpreter; "3.12" when a matrix step is built.
    version: str = ""
    # Tools the project's environment lacks: those run in conveyor's own interpreter.
    missing: frozenset[str] = frozenset()

    def report(self, name: str) -> str:
        """Where a report goes: per Python version when the matrix is on."""
        folder = f"{REPORTS}/py{self.version}" if self.version else REPORTS
        return f"{folder}/{name}"


def _module(ctx: Context, module: str, *args: str) -> tuple[str, ...]:
    dist = module.replace("_", "-")
    python = sys.executable if dist in ctx.missing and dist in _ANYWHERE else ctx.python
    return (python, "-m", module, *args)


# Tools that need not import the project: when its environment lacks them, conveyor's run.
_ANYWHERE = frozenset({"ruff", "black", "isort", "flake8", "mypy", "bandit", "pip-audit"})


def _source(ctx: Context) -> str:
    """The source directory: src/ in a src layout, else the project."""
    return "src" if (ctx.root / "src").is_dir() else "."


def ruff_format(ctx: Context) -> Step:
    """`ruff format --check` (or rewrite with --fix)."""
    mode = () if ctx.fix else ("--check",)
    argv = _module(ctx, "ruff", "format", *mode, "--extend-exclude", ".conveyor", ".")
    inputs = (*PY, *CONFIG, "ruff.toml", ".ruff.toml")
    return Step("ruff-format", argv, inputs, writes=ctx.fix, fast=True, tools=("ruff",))


def ruff(ctx: Context) -> Step:
    """`ruff check` (with --fix: applies safe fixes)."""
    mode = ("--fix",) if ctx.fix else ()
    argv = _module(ctx, "ruff", "check", *mode, "--extend-exclude", ".conveyor", ".")
    inputs = (*PY, *CONFIG, "ruff.toml", ".ruff.toml")
    return Step("ruff", argv, inputs, writes=ctx.fix, fast=True, tools=("ruff",))


def black(ctx: Context) -> Step:
    """`black --check` (or rewrite with --fix)."""
    mode = () if ctx.fix else ("--check",)
    argv = _module(ctx, "black", *mode, "-q", "--extend-exclude", r"/\.conveyor/", ".")
    return Step("black", argv, (*PY, *CONFIG), writes=ctx.fix, fast=True, tools=("black",))


def isort(ctx: Context) -> Step:
    """`isort --check-only` (or rewrite with --fix)."""
    mode = () if ctx.fix else ("--check-only",)
    argv = _module(ctx, "isort", *mode, "-q", "--extend-skip", ".conveyor", ".")
    inputs = (*PY, *CONFIG, ".isort.cfg", ".editorconfig")
    return Step("isort", argv, inputs, writes=ctx.fix, fast=True, tools=("isort",))


def flake8(ctx: Context) -> Step:
    """`flake8`, never descending into virtualenvs."""
    argv = _module(ctx, "flake8", "--extend-exclude", EXCLUDE, ".")
    return Step("flake8", argv, (*PY, *CONFIG, ".flake8"), fast=True, tools=("flake8",))


def mypy(ctx: Context) -> Step:
    """`mypy`: the files from its own configuration, else the source directory."""
    configured = _mypy_configured(ctx.root)
    # Conveyor's own mypy checks the project against the project's environment.
    target = ("--python-executable", ctx.python) if "mypy" in ctx.missing else ()
    where = () if configured else ("--exclude", r"(^|/)\.conveyor/", _source(ctx))
    argv = _module(ctx, "mypy", *target, *where)
    inputs = (*PY, *CONFIG, "mypy.ini", ".mypy.ini")
    return Step("mypy", argv, inputs, tools=("mypy",), weight=2)


def _mypy_configured(root: Path) -> bool:
    for name, marker in (("mypy.ini", "files"), (".mypy.ini", "files")):
        if (root / name).is_file() and marker in (root / name).read_text("utf-8", "replace"):
            return True
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        text = pyproject.read_text("utf-8", "replace")
        section = text.partition("[tool.mypy]")[2].partition("\n[")[0]
        return "files" in section
    return False


def bandit(ctx: Context) -> Step:
    """`bandit -r` over the source, tests left out (they assert on purpose)."""
    source = _source(ctx)
    config = ("-c", "pyproject.toml") if _has_table(ctx.root, "[tool.bandit]") else ()
    # bandit matches excluded paths as it walks them: "./tests" when it starts from ".".
    skipped = [*EXCLUDE.split(","), "tests"]
    excluded = ",".join(f"{source}/{name}" if source == "." else name for name in skipped)
    argv = _module(ctx, "bandit", "-q", "-r", source, *config, "-x", excluded)
    inputs = (f"{source}/**/*.py" if source != "." else "**/*.py", *CONFIG, ".bandit")
    return Step("bandit", argv, inputs, tools=("bandit",))


def _has_table(root: Path, header: str) -> bool:
    pyproject = root / "pyproject.toml"
    return pyproject.is_file() and header in pyproject.read_text("utf-8", "replace")


def pip_audit(ctx: Context) -> Step:
    """`pip-audit` of the installed environment; asks a vulnerability database, so never cached."""
    argv = _module(ctx, "pip_audit", "--progress-spinner", "off")
    return Step("pip-audit", argv, tools=("pip-audit",), cacheable=False)


def secrets(ctx: Context) -> Step:
    """Conveyor's own scan for hard-coded secrets."""
    argv = (sys.executable, "-m", "conveyor", "scan")
    return Step("secrets", argv, fast=True, tools=("conveyor",))


def docker(ctx: Context) -> Step:
    """`conveyor export docker --check`: the Dockerfile and compose files match conveyor.toml."""
    argv = (sys.executable, "-m", "conveyor", "export", "docker", "--check")
    return Step("docker", argv, fast=True, tools=("conveyor",))


def pytest(ctx: Context) -> Step:
    """pytest with JUnit XML, coverage XML/HTML, and the coverage floor as a gate."""
    args = ["-q", "-p", "no:cacheprovider", f"--junitxml={ctx.report('junit.xml')}"]
    tools: tuple[str, ...] = ("pytest",)
    gate = None
    env: tuple[tuple[str, str], ...] = ()
    if ctx.coverage:
        xml = ctx.report("coverage.xml")
        args += ["--cov", f"--cov-report=xml:{xml}", f"--cov-report=html:{ctx.report('htmlcov')}"]
        tools += ("pytest-cov", "coverage")
        gate = Gate("coverage", xml, minimum=ctx.coverage)
        # Keep coverage's data file out of the project, where it would change every run.
        env = (("COVERAGE_FILE", str(ctx.root / ctx.report(".coverage"))),)
    name = f"pytest@{ctx.version}" if ctx.version else "pytest"
    argv = _module(ctx, "pytest", *args)
    return Step(name, argv, (), tools=tools, env=env, gate=gate, weight=3)


def benchmark(ctx: Context) -> Step:
    """pytest-benchmark's suite, compared with the branch's baseline by the benchmark gate."""
    report = ctx.report("benchmark.json")
    # xdist would switch benchmarks off ("--benchmark-disable"); they run in one process.
    args: tuple[str, ...] = ("-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--benchmark-only")
    args = (*args, "--benchmark-save-data")
    argv = _module(ctx, "pytest", *args, f"--benchmark-json={report}")
    gate = Gate("benchmark", report, threshold=ctx.benchmark_threshold)
    # Alone on the machine: timings taken beside a running mypy would be noise.
    return Step("benchmark", argv, tools=("pytest", "pytest-benchmark"), exclusive=True, gate=gate)


PRESET_STEPS: dict[str, Callable[[Context], Step]] = {
    "ruff-format": ruff_format,
    "ruff": ruff,
    "black": black,
    "isort": isort,
    "flake8": flake8,
    "mypy": mypy,
    "bandit": bandit,
    "pip-audit": pip_audit,
    "secrets": secrets,
    "pytest": pytest,
    "benchmark": benchmark,
    "docker": docker,
}
MATRIX_PRESETS = frozenset({"pytest"})
