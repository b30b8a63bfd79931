"""Run a plan: steps in parallel up to the cores, cached by content hash, events out."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from conveyor.checks.cache import Cache, Interpreter, cache_key, key_parts, probe
from conveyor.checks.dag import blocked, implicit_needs, ready
from conveyor.checks.files import hash_files, project_files, select
from conveyor.checks.gates import GateResult, check_benchmark, check_coverage, current_branch
from conveyor.checks.mask import masker
from conveyor.checks.presets import REPORTS
from conveyor.checks.services import unreachable
from conveyor.checks.step import Plan, Step

State = Literal["running", "passed", "failed", "cached", "blocked"]
LOGS = ".conveyor/logs"
_SESSION_VARIABLES = ("PYTEST_XDIST_", "PYTEST_CURRENT_TEST", "COV_CORE_")


@dataclass(frozen=True)
class StepResult:
    """How one step ended."""

    step: Step
    state: State
    duration: float = 0.0
    exit_code: int | None = None
    output: str = ""
    gate: tuple[str, ...] = ()
    key: str = ""
    note: str = ""

    @property
    def ok(self) -> bool:
        """Passed now or before (cached)."""
        return self.state in ("passed", "cached")


@dataclass(frozen=True)
class Options:
    """How to run: cache on or off, parallel slots, benchmark baseline handling."""

    use_cache: bool = True
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    save_baseline: bool = False
    environ: Mapping[str, str] | None = None


Listener = Callable[[StepResult], None]


def run_plan(plan: Plan, root: Path, options: Options, listen: Listener) -> list[StepResult]:
    """Run every step of `plan` whose key did not pass before; results in plan order."""
    environ = dict(os.environ if options.environ is None else options.environ)
    mask = masker(environ)
    cache = Cache(root)
    everything = project_files(root)
    inputs = {s.name: select(everything, s.inputs) for s in plan.steps}
    files = {name: frozenset(found) for name, found in inputs.items()}
    needs = implicit_needs(plan.steps, files)
    interpreters: dict[str, Interpreter] = {}
    hashes: dict[str, str] = {}
    results: dict[str, StepResult] = {}
    keys: dict[str, tuple[str, dict[str, Any]]] = {}
    running: dict[Future[StepResult], str] = {}

    def key_of(step: Step) -> tuple[str, dict[str, Any]]:
        missing = [f for f in inputs[step.name] if f not in hashes]
        hashes.update(hash_files(root, missing))
        own = {f: hashes[f] for f in inputs[step.name] if f in hashes}
        if step.python not in interpreters:
            # Probed when first needed: a made environment exists once its step has run.
            interpreters[step.python] = _probe(plan, step.python)
        parts = key_parts(step, interpreters[step.python], own)
        return cache_key(parts), parts

    with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
        while len(results) < len(plan.steps):
            failed = {n for n, r in results.items() if not r.ok}
            newly_blocked = blocked(plan.steps, failed) - set(results)
            for name in newly_blocked:
                step = plan.step(name)
                results[name] = StepResult(step, "blocked", note=_blocked_note(step))
                listen(results[name])
            started = ready(
                plan.steps,
                needs,
                finished=set(results),
                running=set(running.values()),
                files=files,
                slots=max(1, options.jobs) - len(running),
            )
            for step in started:
                key, parts = key_of(step)
                keys[step.name] = (key, parts)
                if options.use_cache and step.cacheable and cache.hit(step.name, key):
                    results[step.name] = StepResult(step, "cached", key=key)
                    listen(results[step.name])
                    continue
                listen(StepResult(step, "running", key=key))
                future = pool.submit(_execute, step, root, environ, mask, options)
                running[future] = step.name
            if not running:
                if not started and len(results) < len(plan.steps) and not newly_blocked:
                    # ready() always starts a step when nothing runs; this is a bug if seen.
                    raise RuntimeError("check pipeline stalled: no step can start")
                continue
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                result = future.result()
                key, parts = keys[name]
                if result.step.writes:
                    # The files changed under us; hash them again for the next readers and for
                    # this step's own record (a formatter re-run on its output changes nothing).
                    hashes.clear()
                    key, parts = key_of(result.step)
                if result.ok and result.step.cacheable:
                    cache.store(name, key, parts)
                results[name] = replace(result, key=key)
                listen(results[name])
    return [results[s.name] for s in plan.steps]


def _blocked_note(step: Step) -> str:
    return f"not run: needs {', '.join(step.needs)}, which did not pass"


def _probe(plan: Plan, python: str) -> Interpreter:
    tools = {tool for step in plan.steps if step.python == python for tool in step.tools}
    return probe(python, sorted(tools))


def _execute(
    step: Step, root: Path, environ: Mapping[str, str], mask: Callable[[str], str], options: Options
) -> StepResult:
    start = time.perf_counter()
    # Tools write their reports into these folders but do not create them.
    (root / REPORTS).mkdir(parents=True, exist_ok=True)
    if step.gate is not None:
        (root / step.gate.report).parent.mkdir(parents=True, exist_ok=True)
    # Run from inside a test session, the session's xdist workers and coverage hooks must not
    # leak into the steps' own pytest and coverage.
    inherited = {k: v for k, v in environ.items() if not k.startswith(_SESSION_VARIABLES)}
    env = {**inherited, **dict(step.env), "PYTHONUNBUFFERED": "1"}
    missing = unreachable(step.services, env)
    if missing is not None:
        said = mask(f"{step.name} {missing}")
        _write_log(root, step.name, said + "\n")
        return StepResult(step, "failed", time.perf_counter() - start, 1, said + "\n", note=said)
    try:
        done = subprocess.run(
            list(step.argv),
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
        code, output = done.returncode, done.stdout.decode("utf-8", "replace")
    except OSError as error:
        code, output = 127, f"cannot run {step.argv[0]}: {error.strerror}\n"
    output = mask(output)
    _write_log(root, step.name, output)
    gate = GateResult(True, ())
    note = ""
    if code == NO_TESTS and step.no_tests:
        # A clear outcome of its own, not a crash: the coverage gate has nothing to read.
        code, gate, note = _no_tests(step)
    elif code == 0 and step.gate is not None:
        gate = _gate(step, root, options)
    state: State = "passed" if code == 0 and gate.passed else "failed"
    duration = time.perf_counter() - start
    lines = tuple(mask(g) for g in gate.lines)
    return StepResult(step, state, duration, code, output, lines, note=note)


NO_TESTS = 5  # pytest's exit status when it collected no tests


def _no_tests(step: Step) -> tuple[int, GateResult, str]:
    if step.no_tests == "pass":
        line = f'{step.name}: no tests collected; passes (checks.no_tests = "pass")'
        return 0, GateResult(True, (line,)), ""
    note = (
        f"{step.name}: no tests collected: add tests (pytest finds tests/test_*.py) "
        'or set [checks] no_tests = "pass" in conveyor.toml'
    )
    return NO_TESTS, GateResult(False, ()), note


def _gate(step: Step, root: Path, options: Options) -> GateResult:
    assert step.gate is not None  # nosec B101: checked by the caller
    if step.gate.kind == "coverage":
        return check_coverage(step.gate, root)
    branch = current_branch(root, options.environ)
    return check_benchmark(step.gate, root, branch=branch, save=options.save_baseline)


def _write_log(root: Path, name: str, output: str) -> None:
    folder = root / LOGS
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.log").write_text(output, "utf-8")


def failed(results: list[StepResult]) -> list[StepResult]:
    """Results that did not pass (failed or blocked)."""
    return [r for r in results if not r.ok]
