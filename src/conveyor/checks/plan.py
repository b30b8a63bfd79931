"""Build the pipeline's plan from `[checks]`: presets, custom steps, the Python matrix."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from conveyor.checks.matrix import Found, find_python, in_ci, missing_message
from conveyor.checks.presets import MATRIX_PRESETS, PRESET_STEPS, Context
from conveyor.checks.step import Plan, Step
from conveyor.checks.venv import REQUIREMENTS, ProjectEnv, find_env
from conveyor.errors import ConfigError
from conveyor.project.model import ChecksConfig
from conveyor.suggest import suggestion_suffix

VENV_STEP = "venv"


def project_python(root: Path) -> str:
    """The interpreter that runs the project's tools: its .venv, else conveyor's own."""
    venv = root / ".venv" / "bin" / "python"
    return str(venv) if venv.is_file() else sys.executable


def _tools(use: Sequence[str], root: Path, coverage: int) -> list[str]:
    """Every tool distribution the chosen presets run (to install or look for)."""
    probe = Context(root=root, python=sys.executable, coverage=coverage)
    return sorted({t for p in use for t in PRESET_STEPS[p](probe).tools if t != "conveyor"})


def _env_step(env: ProjectEnv) -> Step:
    """The step that makes the project's environment; a complete one is reused at once."""
    inputs = (*REQUIREMENTS, "pyproject.toml")
    return Step(VENV_STEP, env.make, inputs, fast=True, cacheable=False, python=sys.executable)


def build_plan(
    checks: ChecksConfig,
    root: Path,
    *,
    only: Sequence[str] = (),
    fast: bool = False,
    fix: bool = False,
    versions: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Plan:
    """Every step to run, in the order written; matrix steps once per interpreter found."""
    env = find_env(root, _tools(checks.use, root, checks.coverage), environ=environ)
    base = Context(
        root=root,
        python=env.python,
        coverage=checks.coverage,
        fix=fix,
        benchmark_threshold=checks.benchmark_threshold,
        missing=env.missing,
    )
    wanted = [v for v in checks.python if not versions or v in versions]
    found, missing = _interpreters(wanted, environ)
    warnings: list[str] = []
    errors: list[str] = []
    if missing:
        message = missing_message(missing, ci=in_ci(environ))
        (errors if in_ci(environ) else warnings).append(message)
    for tool in sorted(env.missing & {"pytest", "pytest-cov", "pytest-benchmark"}):
        warnings.append(
            f"{tool} is not installed in the project's environment {env.origin}; "
            "add it to the project's dev dependencies"
        )
    steps: list[Step] = [_env_step(env)] if env.make else []
    for preset in checks.use:
        options = checks.presets.get(preset)
        contexts = [base]
        if preset in MATRIX_PRESETS and checks.python:
            contexts = [replace(base, python=f.python, version=f.version) for f in found]
        for ctx in contexts:
            step = PRESET_STEPS[preset](ctx)
            if ctx.version:
                step = replace(step, python_version=ctx.version)
            if preset == "pytest":
                step = replace(step, no_tests=checks.no_tests)
            if env.make and step.argv[:1] == (env.python,):
                step = replace(step, needs=(*step.needs, VENV_STEP))
            if options is not None:
                inputs = step.inputs if options.inputs is None else tuple(options.inputs)
                step = replace(
                    step,
                    argv=(*step.argv, *options.args),
                    inputs=inputs,
                    services=tuple(options.services),
                )
            steps.append(step)
    for name, config in checks.steps.items():
        targets = found if config.matrix and checks.python else [None]
        for interpreter in targets:
            python = interpreter.python if interpreter else base.python
            argv = tuple(a.replace("{python}", python) for a in config.run)
            steps.append(
                Step(
                    f"{name}@{interpreter.version}" if interpreter else name,
                    argv,
                    tuple(config.inputs),
                    needs=(*config.needs, *((VENV_STEP,) if env.make else ())),
                    writes=config.writes,
                    fast=config.fast,
                    services=tuple(config.services),
                    python=python,
                    python_version=interpreter.version if interpreter else "",
                )
            )
    steps = [
        replace(s, needs=_expand(s.needs, steps), python=s.python or base.python) for s in steps
    ]
    steps = _select(steps, only, fast)
    return Plan(tuple(steps), tuple(warnings), tuple(errors))


def _interpreters(
    versions: Sequence[str], environ: Mapping[str, str] | None
) -> tuple[list[Found], list[str]]:
    found: list[Found] = []
    missing: list[str] = []
    for version in versions:
        hit = find_python(version, environ=environ)
        if hit is None:
            missing.append(version)
        else:
            found.append(hit)
    return found, missing


def _expand(needs: Sequence[str], steps: Sequence[Step]) -> tuple[str, ...]:
    """A need on a matrix step ("pytest") means every one of its versions."""
    names = [s.name for s in steps]
    out: list[str] = []
    for need in needs:
        out += [n for n in names if n == need or n.startswith(f"{need}@")]
    return tuple(out)


def names_kept(steps: Sequence[Step]) -> set[str]:
    """The names of `steps`."""
    return {s.name for s in steps}


def _select(steps: list[Step], only: Sequence[str], fast: bool) -> list[Step]:
    everything = steps
    names = [s.name for s in steps]
    if only:
        for name in only:
            if not any(n == name or n.startswith(f"{name}@") for n in names):
                known = ", ".join(names)
                suffix = suggestion_suffix(name, names)
                raise ConfigError(f'unknown step "{name}"{suffix}; steps: {known}')
        steps = [s for s in steps if any(s.name == o or s.name.startswith(f"{o}@") for o in only)]
    if fast:
        steps = [s for s in steps if s.fast]
    # A step left out counts as done: its dependants run on their own. The environment they
    # run in is never left out.
    if any(VENV_STEP in s.needs for s in steps) and VENV_STEP not in names_kept(steps):
        steps = [s for s in everything if s.name == VENV_STEP] + steps
    kept = {s.name for s in steps}
    return [replace(s, needs=tuple(n for n in s.needs if n in kept)) for s in steps]
