"""Plan cases from data: conveyor.toml, the hosts' states and the run's options in, steps out.

Each file in `cases/` is one case (`cases/README.md` describes the format and the
notation). A deploy case is planned with the arguments `conveyor deploy --dry-run`
derives (`deploy/run.py`: the hosts a limit leaves out, the idle hosts, the strategy's
timing), so a case shows what a user reads; a rollback case with `build_rollback_plan`;
a forward case with `host_steps` as a failed rollback puts a host forward again; a
drift case with `saved.differences` between a saved plan and one made now.
"""

from __future__ import annotations

import ast
import difflib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from conveyor.deploy import engine, execute, together
from conveyor.deploy.layout import HostPaths, app_dir_for, has_work
from conveyor.deploy.plan import Inputs, Op, Plan, Step, views
from conveyor.deploy.planner import build_plan
from conveyor.deploy.preflight import Limit, host_roles, idle_hosts, select_hosts, settings_for
from conveyor.deploy.rollback_plan import BackView, build_rollback_plan
from conveyor.deploy.saved import differences, digest, document, read, write
from conveyor.deploy.serve import Serve, host_steps
from conveyor.deploy.state import HostState
from conveyor.errors import ConveyorError
from conveyor.project.load import Project
from conveyor.project.model import ConveyorConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CASES = Path(__file__).parent / "cases"
FILES = sorted(CASES.glob("*.toml"))
ROOT = Path("/nowhere/shop")  # a project root no test touches: app_dirs are on the hosts
# What a deploy case is planned with unless it says otherwise (README.md, "Defaults").
RELEASE = {"release_id": "r2", "version": "2.0", "venv_key": "v2", "env_keys": 3}


def load(path: Path) -> dict[str, Any]:
    """One case file."""
    with path.open("rb") as file:
        return tomllib.load(file)


def project_of(text: str) -> Project:
    """A project from a case's conveyor.toml text, validated as `conveyor` validates it."""
    config = ConveyorConfig.model_validate(tomllib.loads(text))
    return Project(root=ROOT, config_path=ROOT / "conveyor.toml", config=config)


def targets(project: Project, environment: str, only: Sequence[str] = ()) -> list[str]:
    """The hosts a command reaches, in the environment's order (`run.targets_for`)."""
    roles = host_roles(project, environment)
    return [
        spec
        for spec in roles
        if (not only or spec in only) and has_work(project.config, roles, spec)
    ]


def hosts_of(case: Mapping[str, Any], expected: Sequence[str]) -> list[dict[str, Any]]:
    """The case's hosts, which must be exactly the hosts the command reaches."""
    hosts = list(case.get("hosts", []))
    assert [h["spec"] for h in hosts] == list(expected), (
        "a case lists every host the command reaches, in the environment's order"
    )
    return hosts


def listen(project: Project, environment: str, spec: str) -> dict[str, str]:
    """The host's own Caddy addresses (`run._listen`)."""
    options = project.config.environment(environment).host_options(spec)
    found = {name: options.listen_for(name) for name in project.config.services}
    return {name: address for name, address in found.items() if address is not None}


def paths(project: Project, environment: str, spec: str) -> HostPaths:
    """Where the app lives on the host (`run.targets_for`)."""
    env = project.config.environment(environment)
    return HostPaths(app_dir_for(project.config, env, spec, ROOT))


def deploy_plan(case: Mapping[str, Any], *, inputs: Inputs | None = None) -> Plan:
    """A deploy plan as `conveyor deploy --dry-run` makes it."""
    project = project_of(case["config"])
    environment = case.get("environment", "production")
    options = {**RELEASE, **case.get("deploy", {})}
    given = options.pop("limit", {})
    limit = Limit(tuple(given.get("roles", ())), tuple(given.get("hosts", ())))
    only, left_out = select_hosts(project, environment, limit)
    roles = host_roles(project, environment)
    reached = targets(project, environment, only)
    states: dict[str, HostState | str] = {}
    for host in hosts_of(case, reached):
        states[host["spec"]] = host.get("reachable") or HostState(**host.get("state", {}))
    timing = settings_for(project, environment, watch=options.pop("watch", None))
    defaults = {
        "release": options["version"],
        "watch": timing.watch,
        "keep_warm": timing.keep_warm,
        "batch": timing.batch,
        "max_failures": timing.max_failures,
        "recover_first": not left_out,  # a limited deploy never recovers first
    }
    located = [(spec, paths(project, environment, spec)) for spec in reached]
    listens = {spec: listen(project, environment, spec) for spec in reached}
    return build_plan(
        project.config,
        environment,
        hosts=views(located, roles, states, listens=listens),
        left_out={spec: roles[spec] for spec in left_out if spec in roles},
        idle=idle_hosts(project, environment),
        limit=limit.describe(),
        inputs=inputs,
        **{**defaults, **options},
    )


def rollback_plan(case: Mapping[str, Any]) -> Plan:
    """A rollback's plan from each host's state and which previous web colours still run."""
    project = project_of(case["config"])
    environment = case.get("environment", "production")
    backs = [
        BackView(
            host["spec"],
            HostState(**host["state"]),
            host.get("warm"),
            listen(project, environment, host["spec"]),
        )
        for host in hosts_of(case, targets(project, environment))
    ]
    return build_rollback_plan(project.config, environment, host_roles(project, environment), backs)


def forward_steps(case: Mapping[str, Any]) -> list[Step]:
    """Each host put forward again after a failed rollback (`Rollback._steps(forward=True)`):
    what it served before the rollback, with no pending mark, recorded as restored."""
    project = project_of(case["config"])
    environment = case.get("environment", "production")
    roles = host_roles(project, environment)
    steps: list[Step] = []
    for host in case["hosts"]:
        state = HostState(**host["state"])
        steps += host_steps(
            project.config,
            roles,
            host["spec"],
            Serve.current(state),
            away=state.previous_colour,
            listen=listen(project, environment, host["spec"]),
            mark=False,
            record="restored",
        )
    return steps


def saved_inputs(case: Mapping[str, Any]) -> Inputs:
    """What a deploy plan was built from, as `run.plan_deploy` records it."""
    project = project_of(case["config"])
    hosts: dict[str, Any] = {}
    for host in case.get("hosts", []):
        hosts[host["spec"]] = host.get("reachable") or asdict(HostState(**host.get("state", {})))
    watch = case.get("deploy", {}).get("watch")
    limit = case.get("deploy", {}).get("limit", {})
    return Inputs(
        release=case.get("deploy", {}).get("release_id", RELEASE["release_id"]),
        commit="",
        values=digest(case["values"]),
        config=digest(project.config.model_dump_json()),
        hosts=hosts,
        watch=watch,
        roles=tuple(limit.get("roles", ())),
        limit_hosts=tuple(limit.get("hosts", ())),
    )


def later(case: Mapping[str, Any]) -> dict[str, Any]:
    """The case as it is when the saved plan is run: `[now]` replaces what changed since."""
    now = case.get("now", {})
    changed = {**case, **{k: v for k, v in now.items() if k in ("config", "values", "hosts")}}
    if "release_id" in now:
        changed["deploy"] = {**case.get("deploy", {}), "release_id": now["release_id"]}
    return changed


def drift(case: Mapping[str, Any], where: Path) -> list[str]:
    """Why a saved plan is refused now: `differences`, or the file's own check (`read`)."""
    saved = deploy_plan(case, inputs=saved_inputs(case))
    if "edit" in case:
        path = where / "plan.json"
        write(path, saved)
        doc = json.loads(path.read_text())
        target = doc
        *parents, last = case["edit"]["path"].split(".")
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[last] = case["edit"]["value"]
        path.write_text(json.dumps(doc))
        try:
            read(path)
        except ConveyorError as error:
            return [error.message.replace(f"{where}/", "")]
        return []
    now = later(case)
    return differences(document(saved), document(deploy_plan(now, inputs=saved_inputs(now))))


def planned(case: Mapping[str, Any]) -> tuple[Plan | None, tuple[Step, ...]]:
    """The plan a case's planner makes (None for the steps of a forward case), and its steps."""
    kind = case["planner"]
    if kind in ("deploy", "drift"):
        plan = deploy_plan(case)
    elif kind == "rollback":
        plan = rollback_plan(case)
    elif kind == "forward":
        return None, tuple(forward_steps(case))
    else:
        raise AssertionError(f"no planner {kind!r}")
    return plan, plan.steps


def notation(op: Op | None) -> str:
    """An op as its kind and its non-empty fields, in the order of `Op` (README.md):
    `route web green r2/2.0/v2 proxy`; release, version and venv are one token."""
    if op is None:
        return "-"
    serve = "/".join(part for part in (op.release, op.version, op.venv) if part)
    parts = (op.kind, op.service, op.program, op.colour, serve, op.how)
    return " ".join(part for part in parts if part)


def rendered(steps: Sequence[Step], expected: Sequence[Sequence[str]]) -> list[list[str]]:
    """The steps in the cases' notation; where the expected entry has a 4th element (a text
    the description must contain), the step shows it when it does, else its description."""
    out = []
    for number, step in enumerate(steps):
        entry = [step.host, step.action, notation(step.op)]
        want = expected[number] if number < len(expected) else []
        if len(want) == 4:
            entry.append(want[3] if want[3] in step.description else step.description)
        elif entry[2] == "-":
            entry.pop()
        out.append(entry)
    return out


def compare(actual: Sequence[Any], expected: Sequence[Any]) -> None:
    """Fail with a line-by-line diff, one entry a line."""
    if list(actual) == list(expected):
        return
    lines = difflib.unified_diff(
        [json.dumps(e) for e in expected],
        [json.dumps(a) for a in actual],
        "expected",
        "planned",
        lineterm="",
    )
    pytest.fail("the plan differs from the case:\n" + "\n".join(lines), pytrace=False)


def marked(path: Path) -> Any:
    """A case, expected to fail (strictly) when it says where the planner is wrong."""
    why = load(path).get("xfail")
    marks = [pytest.mark.xfail(reason=why, strict=True)] if why else []
    return pytest.param(path, marks=marks, id=path.stem)


def test_there_are_cases() -> None:
    assert len(FILES) >= 32


@pytest.mark.parametrize("path", [marked(p) for p in FILES])
def test_case(path: Path, tmp_path: Path) -> None:
    case = load(path)
    assert case["description"].strip(), "a case says what a user would notice"
    expected = case["expected"]
    if case["planner"] == "drift":
        compare(drift(case, tmp_path), expected["differences"])
        return
    plan, steps = planned(case)
    want = [list(e) for e in expected["steps"]]
    compare(rendered(steps, want), want)
    for name, value in expected.items():  # anything else is an attribute of the Plan
        if name != "steps":
            assert plan is not None and getattr(plan, name) == value, name


def _compared_strings(tree: ast.AST, names: set[str]) -> set[str]:
    """The string constants compared (==, in) with one of `names` (a name or attribute)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        left = node.left
        named = left.id if isinstance(left, ast.Name) else getattr(left, "attr", "")
        if named not in names:
            continue
        for right in node.comparators:
            for leaf in ast.walk(right):
                if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str):
                    found.add(leaf.value)
    return found


def engine_kinds() -> set[str]:
    """The op kinds `Engine._do` carries out (`Engine.do` times and reports them), read from
    its source, and those it sends in one round trip (`together.KINDS`)."""
    tree = ast.parse(Path(engine.__file__).read_text(encoding="utf-8"))
    engine_class = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Engine")
    do = next(
        n
        for n in engine_class.body
        if isinstance(n, ast.AsyncFunctionDef | ast.FunctionDef) and n.name == "_do"
    )
    # Writes and short scripts are carried out by deploy/together.py, for the engine.
    return _compared_strings(do, {"kind"}) | set(together.KINDS)


# The executor acts on these itself, by phase or action (execute.py, `Executor`): a small
# explicit list, each checked below to be one that execute.py compares a phase or action with.
EXECUTOR_KINDS = {"live", "batch", "watch", "retire"}


def test_the_executors_kinds_are_the_ones_it_handles() -> None:
    tree = ast.parse(Path(execute.__file__).read_text(encoding="utf-8"))
    handled = _compared_strings(tree, {"phase", "action"}) | set(execute.REPORTED)
    assert handled >= EXECUTOR_KINDS
    assert {"prepare", "launch", "route", "record"} <= engine_kinds()  # the reading works


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in FILES])
def test_every_op_is_one_its_executor_knows(path: Path) -> None:
    case = load(path)
    _, steps = planned(case)
    # A deploy runs through the executor and the engine; a rollback through the engine only.
    known = engine_kinds() | (EXECUTOR_KINDS if case["planner"] in ("deploy", "drift") else set())
    unknown = sorted({s.op.kind for s in steps if s.op is not None} - known)
    assert not unknown, f"ops no executor carries out: {unknown}"
