"""Every validation error of conveyor.toml, word for word, with its file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.project.toml_files import error

APP = '[app]\nname = "shop"\n'
STAGING = '[environments.staging]\nhosts = { web = ["deploy@stage-1"] }\n'
PRESETS = (
    '"ruff-format", "ruff", "black", "isort", "flake8", "mypy", "bandit", "pip-audit", '
    '"secrets", "pytest", "migrations", "benchmark" or "docker"'
)
HOST = 'expected "user@host", "user@host:port" or "local"'
NAME = 'expected lowercase letters, digits, "-" or "_"'


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


CASES = [
    # [app]
    ("", "conveyor.toml: app: required key is missing"),
    ('[app]\npython = "3.11"\n', "conveyor.toml: app.name: required key is missing"),
    (
        '[app]\nname = "shop"\nnmae = "x"\n',
        'conveyor.toml:3: app.nmae: unknown key (did you mean "name"?)',
    ),
    ('app = "shop"\n', 'conveyor.toml:1: app: expected a table, got "shop"'),
    (
        '[app]\nname = "Stock Trading"\n',
        f'conveyor.toml:2: app.name: {NAME}, got "Stock Trading"',
    ),
    ('[app]\nname = "-x"\n', f'conveyor.toml:2: app.name: {NAME}, got "-x"'),
    ('[app]\nname = "shop\\n"\n', f'conveyor.toml:2: app.name: {NAME}, got "shop\\n"'),
    ("[app]\nname = 7\n", "conveyor.toml:2: app.name: expected a string, got 7"),
    (
        APP + 'python = "3"\n',
        'conveyor.toml:3: app.python: expected a Python version like "3.11", got "3"',
    ),
    (APP + "python = 3.11\n", "conveyor.toml:3: app.python: expected a string, got 3.11"),
    (
        APP + '[servics.web]\ncommand = "x"\n',
        'conveyor.toml:3: servics: unknown key (did you mean "services"?)',
    ),
    # [settings]
    (
        APP + '[settings]\nclass = "backend.config.Settings"\n',
        'conveyor.toml:4: settings.class: expected "package.module:Name", '
        'got "backend.config.Settings"',
    ),
    (
        APP + '[settings]\nexample = "/etc/app.env"\n',
        'conveyor.toml:4: settings.example: expected a path inside the project, got "/etc/app.env"',
    ),
    (
        APP + '[settings]\nexample = "../.env.example"\n',
        "conveyor.toml:4: settings.example: expected a path inside the project, "
        'got "../.env.example"',
    ),
    (
        APP + '[settings]\nclas = "a:B"\n',
        'conveyor.toml:4: settings.clas: unknown key (did you mean "class"?)',
    ),
    # [checks]
    (
        APP + '[checks]\nuse = ["ruff", "bandt"]\n',
        f'conveyor.toml:4: checks.use[1]: expected one of {PRESETS}, got "bandt" '
        '(did you mean "bandit"?)',
    ),
    (
        APP + "[checks]\ncoverage = 101\n",
        "conveyor.toml:4: checks.coverage: expected a number <= 100, got 101",
    ),
    (
        APP + "[checks]\ncoverage = -1\n",
        "conveyor.toml:4: checks.coverage: expected a number >= 0, got -1",
    ),
    (
        APP + '[checks]\ncoverage = "90"\n',
        'conveyor.toml:4: checks.coverage: expected an integer, got "90"',
    ),
    (
        APP + "[checks]\ncoverage = 90.5\n",
        "conveyor.toml:4: checks.coverage: expected an integer, got 90.5",
    ),
    (
        APP + "[checks]\ncoverage = true\n",
        "conveyor.toml:4: checks.coverage: expected an integer, got true",
    ),
    (
        APP + '[checks]\nuse = "ruff"\n',
        'conveyor.toml:4: checks.use: expected an array, got "ruff"',
    ),
    (
        APP + '[checks]\npython = ["3.11", "py312"]\n',
        'conveyor.toml:4: checks.python[1]: expected a Python version like "3.11", got "py312"',
    ),
    (
        APP + "[checks.steps.docs]\nrun = []\n",
        "conveyor.toml:4: checks.steps.docs.run: expected at least one item, got []",
    ),
    (
        APP + '[checks.steps.docs]\nrun = "mkdocs build"\n',
        'conveyor.toml:4: checks.steps.docs.run: expected an array, got "mkdocs build"',
    ),
    (
        APP + "[checks.steps.docs]\nneeds = []\n",
        "conveyor.toml: checks.steps.docs.run: required key is missing",
    ),
    (
        APP + '[checks.steps."My Step"]\nrun = ["x"]\n',
        f'conveyor.toml:3: checks.steps."My Step": {NAME}, got "My Step"',
    ),
    (
        APP + '[checks.steps.docs]\nrun = ["mkdocs"]\nneeds = ["ruf"]\n',
        'conveyor.toml:5: checks.steps.docs.needs[0]: unknown step "ruf" (did you mean "ruff"?)',
    ),
    (
        APP + '[checks.steps.docs]\nrun = ["mkdocs"]\nneeds = ["bandit"]\n',
        'conveyor.toml:5: checks.steps.docs.needs[0]: preset "bandit" is not in checks.use',
    ),
    (
        APP + '[checks.steps.docs]\nrun = ["mkdocs"]\nneeds = ["ruff", "docs"]\n',
        "conveyor.toml:5: checks.steps.docs.needs[1]: a step cannot need itself",
    ),
    (
        APP + '[checks.steps.a]\nrun = ["a"]\nneeds = ["b"]\n'
        '[checks.steps.b]\nrun = ["b"]\nneeds = ["c"]\n'
        '[checks.steps.c]\nrun = ["c"]\nneeds = ["b"]\n',
        "conveyor.toml:8: checks.steps.b.needs: steps need each other: b -> c -> b",
    ),
    (
        APP + '[checks.steps.ruff]\nrun = ["ruff", "check"]\n',
        'conveyor.toml:3: checks.steps.ruff: "ruff" is a preset; name the step otherwise',
    ),
    # [services]
    (
        APP + "[services.web]\nroles = []\n",
        # The service's own checks need valid keys first, so only the roles are reported.
        "conveyor.toml:4: services.web.roles: expected at least one item, got []",
    ),
    (
        APP + '[services.web]\ncommand = "x"\n',
        "conveyor.toml: services.web.roles: required key is missing",
    ),
    (
        APP + '[services.web]\nroles = ["app"]\n',
        'conveyor.toml:3: services.web: expected "command" or "sync"',
    ),
    (
        APP
        + '[services.web]\ncommand = "x"\nroles = ["web"]\nsync = { from = "a", to = "/opt/b" }\n',
        'conveyor.toml:3: services.web: use "command" or "sync", not both',
    ),
    (
        APP + '[services.web]\ncommand = "x"\nroles = ["web"]\nafter = "y"\n',
        'conveyor.toml:3: services.web: "after" needs "sync"',
    ),
    (
        APP + '[services.web]\ncommand = "x"\nroles = ["web"]\nkind = "http"\n',
        'conveyor.toml:3: services.web: kind "http" needs "health"',
    ),
    (
        APP + '[services.web]\ncommand = "x"\nroles = ["web"]\nkind = "worker"\nhealth = "/"\n',
        'conveyor.toml:3: services.web: "health" is only for kind "http", not "worker"',
    ),
    (
        APP + '[services.web]\ncommand = "x"\nroles = ["web"]\nkind = "sync"\n',
        'conveyor.toml:3: services.web: kind "sync" needs "sync"',
    ),
    (
        APP + '[services.dags]\nsync = { from = "a", to = "/opt/b" }\nroles = ["web"]\n'
        'kind = "singleton"\n',
        'conveyor.toml:3: services.dags: "sync" is only for kind "sync", not "singleton"',
    ),
    (
        APP + '[services.web]\ncommand = "x"\nroles = ["web"]\nkind = "web"\n',
        'conveyor.toml:6: services.web.kind: expected one of "http", "worker", "sync" or '
        '"singleton", got "web"',
    ),
    (
        APP + '[services.web]\ncommand = "x"\nroles = ["web"]\nhealth = "health"\n',
        'conveyor.toml:6: services.web.health: expected a path starting with "/", got "health"',
    ),
    (
        APP + '[services.web]\ncommand = "echo \'hi"\nroles = ["web"]\n',
        'conveyor.toml:4: services.web.command: cannot split "echo \'hi" into arguments: '
        "No closing quotation",
    ),
    (
        APP + '[services.web]\ncommand = " "\nroles = ["web"]\n',
        'conveyor.toml:4: services.web.command: expected a command, got " "',
    ),
    (
        APP + '[services.web]\ncommand = ["uvicorn"]\nroles = ["web"]\n',
        "conveyor.toml:4: services.web.command: expected a string, got an array",
    ),
    (
        APP + '[services.dags]\nsync = { form = "a", to = "b" }\nroles = ["web"]\n',
        "conveyor.toml: services.dags.sync.from: required key is missing\n"
        'conveyor.toml:4: services.dags.sync.to: expected an absolute path, got "b"\n'
        'conveyor.toml:4: services.dags.sync.form: unknown key (did you mean "from"?)',
    ),
    (
        APP + STAGING + '[services.web]\ncommand = "x"\nroles = ["wbe", "Web"]\n',
        f'conveyor.toml:7: services.web.roles[1]: {NAME}, got "Web"',
    ),
    (
        APP + STAGING + '[services.web]\ncommand = "x"\nroles = ["wbe"]\n',
        'conveyor.toml:7: services.web.roles[0]: role "wbe" has no hosts in any environment '
        '(did you mean "web"?)',
    ),
    (
        'services = []\n[app]\nname = "shop"\n',
        "conveyor.toml:1: services: expected a table, got []",
    ),
    # [migrations]
    (
        APP + STAGING + '[migrations]\nrun_on = "db"\n',
        'conveyor.toml:6: migrations.run_on: role "db" has no hosts in any environment',
    ),
    (APP + "[migrations]\n", "conveyor.toml: migrations.run_on: required key is missing"),
    (
        APP + '[migrations]\nrun_on = "app"\ntool = "flyway"\n',
        'conveyor.toml:5: migrations.tool: expected "alembic", got "flyway"',
    ),
    (
        APP + '[migrations]\nrun_on = "app"\nbackup = "yes"\n',
        'conveyor.toml:5: migrations.backup: expected true or false, got "yes"',
    ),
    # [release]
    (
        APP + STAGING + '[release]\ncommand = "python -m app.prestart"\nrun_on = "db"\n',
        'conveyor.toml:7: release.run_on: role "db" has no hosts in any environment',
    ),
    (
        APP + '[release]\nrun_on = "app"\n',
        "conveyor.toml: release.command: required key is missing",
    ),
    (
        APP + '[services.dags]\nsync = { from = "dags", to = "/opt/dags" }\nroles = ["web"]\n'
        'pre_start = "x"\n',
        'conveyor.toml:3: services.dags: "pre_start" is for a service with a command; '
        'a sync has "after"',
    ),
    # [notify]
    (
        APP + '[notify]\ntargets = ["hooks.slack.com/x"]\n',
        'conveyor.toml:4: notify.targets[0]: expected an apprise URL like "slack://...", '
        'got "hooks.slack.com/x"',
    ),
    (
        APP + '[notify]\ntargets = ["slack://"]\n',
        'conveyor.toml:4: notify.targets[0]: expected an apprise URL like "slack://...", '
        'got "slack://"',
    ),
    (
        APP + '[notify]\non = ["failure"]\n',
        'conveyor.toml:4: notify.on[0]: expected one of "started", "succeeded", "failed", '
        '"rolled_back", "recovery", "approval_requested", "approval_given" or '
        '"approval_rejected", got "failure" (did you mean "failed"?)',
    ),
    # [environments]
    (
        APP + "[environments]\n",
        "conveyor.toml:3: environments: expected at least one environment, got none",
    ),
    (
        APP + '[environments.Prod]\nhosts = { web = ["local"] }\n',
        f'conveyor.toml:3: environments.Prod: {NAME}, got "Prod"',
    ),
    (
        APP + "[environments.staging]\n",
        "conveyor.toml: environments.staging.hosts: required key is missing",
    ),
    (
        APP + "[environments.staging]\nhosts = {}\n",
        "conveyor.toml:4: environments.staging.hosts: expected at least one role, got none",
    ),
    (
        APP + "[environments.staging]\nhosts = { web = [] }\n",
        "conveyor.toml:4: environments.staging.hosts.web: expected at least one item, got []",
    ),
    (
        APP + '[environments.staging]\nhosts = { "Back End" = ["local"] }\n',
        f'conveyor.toml:4: environments.staging.hosts."Back End": {NAME}, got "Back End"',
    ),
    (
        APP + '[environments.staging]\nhosts = { web = ["deploy@h:70000", "h", "a@b:c"] }\n',
        f'conveyor.toml:4: environments.staging.hosts.web[0]: {HOST}, got "deploy@h:70000"\n'
        f'conveyor.toml:4: environments.staging.hosts.web[1]: {HOST}, got "h"\n'
        f'conveyor.toml:4: environments.staging.hosts.web[2]: {HOST}, got "a@b:c"',
    ),
    (
        APP + STAGING + 'tier = "prod"\n',
        "conveyor.toml:5: environments.staging.tier: expected one of "
        '"development", "staging" or "production", got "prod"',
    ),
    (
        APP + STAGING + 'env_file = "/etc/shop.env"\n',
        "conveyor.toml:5: environments.staging.env_file: expected a path inside the project, "
        'got "/etc/shop.env"',
    ),
    (
        APP + STAGING + "approval = true\n",
        "conveyor.toml:5: environments.staging.approval: expected a table, got true",
    ),
    (
        APP + STAGING + 'approval = { required = "yes", bye = ["al"] }\n',
        'conveyor.toml:5: environments.staging.approval.required: expected an integer, got "yes"\n'
        'conveyor.toml:5: environments.staging.approval.bye: unknown key (did you mean "by"?)',
    ),
    (
        APP + STAGING + '[environments.staging.strategy]\nkind = "canary"\nbtach = 2\n',
        "conveyor.toml:6: environments.staging.strategy.kind: expected one of "
        '"blue-green" or "rolling", got "canary"\n'
        "conveyor.toml:7: environments.staging.strategy.btach: unknown key "
        '(did you mean "batch"?)',
    ),
    (
        APP + STAGING + "strategy = { batch = 0 }\n",
        "conveyor.toml:5: environments.staging.strategy.batch: expected a number of hosts >= 1 "
        'or a percentage like "25%", got 0',
    ),
    (
        APP + STAGING + 'strategy = { batch = "150%" }\n',
        "conveyor.toml:5: environments.staging.strategy.batch: expected a number of hosts >= 1 "
        'or a percentage like "25%", got "150%"',
    ),
    (
        APP + STAGING + "strategy = { batch = true }\n",
        "conveyor.toml:5: environments.staging.strategy.batch: expected a number of hosts >= 1 "
        'or a percentage like "25%", got true',
    ),
    (
        APP + STAGING + 'strategy = { keep_previous_warm = "15 minutes", watch = 30 }\n',
        "conveyor.toml:5: environments.staging.strategy.keep_previous_warm: expected a duration "
        'like "500ms", "30s", "15m" or "1h", got "15 minutes"\n'
        "conveyor.toml:5: environments.staging.strategy.watch: expected a duration "
        'like "500ms", "30s", "15m" or "1h", got 30',
    ),
    (
        APP + STAGING + "strategy = { healthy_threshold = 0, max_failures = -1 }\n",
        "conveyor.toml:5: environments.staging.strategy.healthy_threshold: expected a number >= 1,"
        " got 0\n"
        "conveyor.toml:5: environments.staging.strategy.max_failures: expected a number >= 0, "
        "got -1",
    ),
    (
        APP + STAGING + 'notify = ["https//x"]\n',
        "conveyor.toml:5: environments.staging.notify.targets[0]: expected an apprise URL like "
        '"slack://...", got "https//x"',
    ),
    (
        APP + STAGING + 'notify = { on = ["suceeded"] }\n',
        "conveyor.toml:5: environments.staging.notify.on[0]: expected one of "
        '"started", "succeeded", "failed", "rolled_back", "recovery", "approval_requested", '
        '"approval_given" or "approval_rejected", got "suceeded" (did you mean "succeeded"?)',
    ),
    (
        APP + STAGING + "notify = 1\n",
        "conveyor.toml:5: environments.staging.notify: expected a table, got 1",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_validation_error(tmp_path: Path, text: str, expected: str) -> None:
    assert error(tmp_path, text) == expected


def test_the_hosts_example_of_the_design(tmp_path: Path) -> None:
    text = (
        '[app]\nname = "shop"\n\n'
        '[services.web]\ncommand = "uvicorn app:app"\nhealth = "/health"\nroles = ["backend"]\n\n'
        "[environments.production]\n"
        'branch = "main"\n'
        "hosts = { backend = [\n"
        '    "deploy@app-0",\n'
        '    "deploy@app-1:2222",\n'
        '    "app 1",\n'
        "] }\n"
    )
    assert error(tmp_path, text) == (
        "conveyor.toml:14: environments.production.hosts.backend[2]: "
        'expected "user@host", "user@host:port" or "local", got "app 1"'
    )


def test_all_errors_are_reported_at_once_missing_keys_first_then_by_line(tmp_path: Path) -> None:
    text = (
        "[app]\n"
        'nmae = "shop"\n'
        "[checks]\n"
        "coverage = 190\n"
        "[environments.staging]\n"
        'hosts = { web = ["app 1"] }\n'
        "[environments.production]\n"
        'tier = "live"\n'
    )
    assert error(tmp_path, text) == (
        "conveyor.toml: app.name: required key is missing\n"
        "conveyor.toml: environments.production.hosts: required key is missing\n"
        'conveyor.toml:2: app.nmae: unknown key (did you mean "name"?)\n'
        "conveyor.toml:4: checks.coverage: expected a number <= 100, got 190\n"
        f'conveyor.toml:6: environments.staging.hosts.web[0]: {HOST}, got "app 1"\n'
        "conveyor.toml:8: environments.production.tier: expected one of "
        '"development", "staging" or "production", got "live"'
    )


def test_references_are_checked_only_once_the_types_are_right(tmp_path: Path) -> None:
    text = APP + STAGING + "[checks]\ncoverage = 190\n" + '[migrations]\nrun_on = "db"\n'
    assert error(tmp_path, text) == (
        "conveyor.toml:6: checks.coverage: expected a number <= 100, got 190"
    )


def test_a_misspelt_role_without_environments_is_reported_at_the_service(tmp_path: Path) -> None:
    text = APP + '[services.web]\ncommand = "x"\nroles = ["Web"]\n'
    assert error(tmp_path, text) == f'conveyor.toml:5: services.web.roles[0]: {NAME}, got "Web"'
