"""The conveyor.toml model: one pydantic model per section, validated once at load."""

from __future__ import annotations

import re
import shlex
from datetime import timedelta
from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from conveyor.errors import ConfigError
from conveyor.project.environment import EnvironmentConfig, NotifyConfig
from conveyor.project.fields import (
    Argv,
    ClassPath,
    Duration,
    Name,
    PythonVersion,
    RelativePath,
    Section,
    ShellCommand,
    SyncTarget,
    UrlPath,
    show,
)
from conveyor.project.hosts import listen_problems, local_hosts
from conveyor.project.references import ReferencesInvalid, check_references
from conveyor.project.refused import check_refused
from conveyor.suggest import suggestion_suffix

Preset = Literal[
    "ruff-format",
    "ruff",
    "black",
    "isort",
    "flake8",
    "mypy",
    "bandit",
    "pip-audit",
    "secrets",
    "pytest",
    "migrations",
    "benchmark",
    "docker",
]
PRESETS: tuple[str, ...] = get_args(Preset)
ServiceKind = Literal["http", "worker", "sync", "singleton"]
DEFAULT_ENVIRONMENT = "development"


class AppConfig(Section):
    """The application: its name and the Python it runs on."""

    name: Name = Field(
        description='Lowercase letters, digits, "-" and "_"; names directories and units on hosts.',
    )
    python: PythonVersion | None = Field(
        default=None,
        description='Python version the app runs on, e.g. "3.11". '
        "Not set: the Python running conveyor.",
    )


class SettingsConfig(Section):
    """The typed schema of the app's configuration and where its values live."""

    example: RelativePath = Field(
        default=".env.example",
        description="Template committed to git: every setting, with safe example values.",
    )
    class_: ClassPath | None = Field(
        default=None,
        alias="class",
        description='A pydantic-settings class, "package.module:Name", used as the schema.',
    )
    python: str | None = Field(
        default=None,
        description="Interpreter that imports `class`, e.g. .venv/bin/python. Not set: conveyor's. "
        "Only with `class`.",
    )


# A check step's `services`, on a custom step and on a preset's options alike.
_SERVICES: Any = Field(
    default=[],
    description="What the step needs running: keys of its environment (`checks.env`'s "
    'values, else the shell\'s) holding a URL, e.g. ["DATABASE_URL", "REDIS_URL"], or '
    '"host:port". Each must accept a connection before the step runs; else the step '
    "fails naming the key and host:port (never a password).",
)


class StepConfig(Section):
    """A custom step of the quality pipeline."""

    run: Argv = Field(description='The command as an argv list, e.g. ["mkdocs", "build"].')
    needs: list[str] = Field(
        default=[], description="Steps (presets in `use` or custom steps) that must pass first."
    )
    inputs: list[str] = Field(
        default=[],
        description="Glob patterns of the files the step reads (its cache key). Empty: all files.",
    )
    writes: bool = Field(
        default=False,
        description="The step rewrites its inputs (a formatter): "
        "it never runs beside their readers.",
    )
    fast: bool = Field(default=False, description="Part of `conveyor check --fast`.")
    services: list[str] = _SERVICES
    matrix: bool = Field(
        default=False,
        description="Run once per version in `checks.python`; "
        '"{python}" in `run` is the interpreter.',
    )


class PresetOptions(Section):
    """Options of one built-in preset."""

    args: list[str] = Field(default=[], description="Arguments added to the preset's command.")
    inputs: list[str] | None = Field(
        default=None, description="Glob patterns replacing the preset's inputs (its cache key)."
    )
    services: list[str] = _SERVICES


class ChecksConfig(Section):
    """The quality pipeline: presets, custom steps, coverage floor, Python matrix."""

    use: list[Preset] = Field(
        default=["ruff-format", "ruff", "mypy", "pytest"],
        description="Built-in presets to run, in any order; `needs` decides what waits for what.",
    )
    coverage: int = Field(
        default=0, ge=0, le=100, description="Minimum test coverage in percent; 0 turns it off."
    )
    python: list[PythonVersion] = Field(
        default=[], description="Python versions to run the tests on. Empty: `app.python` only."
    )
    steps: dict[Name, StepConfig] = Field(
        default={}, description="Custom steps by name, run alongside the presets."
    )
    presets: dict[Name, PresetOptions] = Field(
        default={}, description="Per-preset options, e.g. [checks.presets.mypy] args = [...]."
    )
    no_tests: Literal["fail", "pass"] = Field(
        default="fail",
        description='What pytest collecting no tests (its exit 5) means: "fail" (the default: '
        'a test run that finds nothing usually means a broken test path) or "pass", '
        'saying so; `conveyor init` writes "pass" for a project without tests yet.',
    )
    env: Name | None = Field(
        default=None,
        description='An environment whose values every step gets, e.g. "test": its `env_file` '
        "(`.env.test` when there is no such environment) is read and its keys set in each "
        "step's process, so tests that build the app's settings can. Not set: none.",
    )
    benchmark_threshold: float = Field(
        default=10.0,
        gt=0,
        description="Percent slower than the branch's baseline that fails the benchmark gate, "
        "when the difference is also beyond the run-to-run noise.",
    )

    @field_validator("presets")
    @classmethod
    def _known_presets(cls, value: dict[str, PresetOptions]) -> dict[str, PresetOptions]:
        for name in value:
            if name not in PRESETS:
                raise ValueError(f'unknown preset "{name}"{suggestion_suffix(name, PRESETS)}')
        return value


class SyncConfig(Section):
    """Files copied from the release to a fixed place on each host of the service's roles."""

    from_: RelativePath = Field(alias="from", description="Directory in the project to copy.")
    to: SyncTarget = Field(description="Absolute directory on the host to copy it to.")


class ServiceConfig(Section):
    """A process (or synced files) that conveyor runs on the hosts of its roles."""

    command: ShellCommand | None = Field(
        default=None, description="The command; `$PORT` is replaced by the port conveyor assigns."
    )
    health: UrlPath | None = Field(
        default=None, description="HTTP path that answers 2xx when the service is ready."
    )
    roles: list[Name] = Field(min_length=1, description="Host roles the service runs on.")
    kind: ServiceKind | None = Field(
        default=None,
        description='Not set: "http" with `health`, "sync" with `sync`, else "worker". '
        '"singleton" runs on one host only.',
    )
    sync: SyncConfig | None = Field(default=None, description="Files to sync instead of a command.")
    after: ShellCommand | None = Field(default=None, description="Command to run after a sync.")
    pre_start: ShellCommand | None = Field(
        default=None,
        description="Runs on each host, with the new release's code, venv and values, before "
        "the service's new release starts there; a non-zero exit fails the deploy before any "
        "switch.",
    )
    port: int | None = Field(
        default=None,
        ge=1024,
        le=65534,
        description="Port of the blue colour on each host; green gets port + 1. "
        "Not set: 8100 + 2 x the service's position among the services.",
    )
    listen: str | None = Field(
        default=None,
        pattern=r"^([A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$",
        description='Public address Caddy listens on for an http service, e.g. ":80" or '
        '"127.0.0.1:8080". Not set: ":8080".',
    )
    drain: Duration = Field(
        default="30s",
        validate_default=True,
        description="How long a graceful stop may take before the process is killed.",
    )

    @property
    def argv(self) -> list[str]:
        """`command` split into arguments (no shell runs it); [] for a sync service."""
        return shlex.split(self.command) if self.command is not None else []

    @property
    def after_argv(self) -> list[str]:
        """`after` split into arguments; [] when not set."""
        return shlex.split(self.after) if self.after is not None else []

    @property
    def pre_start_argv(self) -> list[str]:
        """`pre_start` split into arguments; [] when not set."""
        return shlex.split(self.pre_start) if self.pre_start is not None else []

    @property
    def resolved_kind(self) -> ServiceKind:
        """The kind as written, or inferred from `health` and `sync`."""
        if self.kind is not None:
            return self.kind
        return "http" if self.health else "sync" if self.sync else "worker"

    @model_validator(mode="after")
    def _consistent(self) -> ServiceConfig:
        if self.command is None and self.sync is None:
            raise ValueError('expected "command" or "sync"')
        if self.command is not None and self.sync is not None:
            raise ValueError('use "command" or "sync", not both')
        if self.after is not None and self.sync is None:
            raise ValueError('"after" needs "sync"')
        if self.pre_start is not None and self.sync is not None:
            raise ValueError('"pre_start" is for a service with a command; a sync has "after"')
        kind = self.resolved_kind
        if kind == "http" and self.health is None:
            raise ValueError('kind "http" needs "health"')
        if kind != "http" and self.health is not None:
            raise ValueError(f'"health" is only for kind "http", not "{kind}"')
        if kind == "sync" and self.sync is None:
            raise ValueError('kind "sync" needs "sync"')
        if kind != "sync" and self.sync is not None:
            raise ValueError(f'"sync" is only for kind "sync", not "{kind}"')
        if kind != "http" and self.listen is not None:
            raise ValueError(f'"listen" is only for kind "http", not "{kind}"')
        # A sync service runs no process: a port or a drain time would do nothing.
        for key in ("port", "drain"):
            if kind == "sync" and key in self.model_fields_set:
                raise ValueError(f'"{key}" is not for kind "sync": it runs no process')
        return self


class ReleasePhaseConfig(Section):
    """A command run once per deploy, before any traffic switch: Heroku's release phase."""

    command: ShellCommand = Field(
        description="Runs with the new release's code, venv and values in its app directory, "
        'after the migrations, e.g. "python -m app.prestart" (wait for the database, create '
        "the first user). A non-zero exit fails the deploy before any host switches.",
    )
    run_on: Name = Field(description="Role whose first host in the deploy runs it.")
    timeout: Duration = Field(
        default="10m", validate_default=True, description="How long it may take."
    )

    @property
    def argv(self) -> list[str]:
        """`command` split into arguments (no shell runs it)."""
        return shlex.split(self.command)


class MigrationsConfig(Section):
    """Database migrations, run once per deploy before any traffic switch."""

    tool: Literal["alembic"] = Field(default="alembic", description="The migration tool.")
    config: RelativePath = Field(
        default="alembic.ini",
        description="The tool's config file. The release's revisions (where it says) must "
        "have one head: a release with several is refused before any host is touched "
        "(`alembic merge heads` joins them).",
    )
    run_on: Name = Field(description="Role whose first host runs the migrations.")
    lock_timeout: Duration = Field(
        default="5s",
        validate_default=True,
        description="On PostgreSQL, how long a migration's statement may wait for a table "
        "lock (`lock_timeout`) before it gives up, rolls back and tries again, so that a "
        "migration stuck behind a long query never queues the running release's requests "
        "behind its own lock.",
    )
    attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description="How many times the migrations are tried when they time out waiting "
        "for a lock (1 s, 2 s, 4 s ... up to 15 s apart) before the deploy fails.",
    )
    backup: bool = Field(
        default=False,
        description="PostgreSQL: before the first pending migration runs, dump the database "
        "(`pg_dump -Fc`, under conveyor's lock, after a check of the free disk space) into "
        "<app_dir>/backups on the migration host, and verify the dump by restoring it into a "
        "scratch database (the role needs CREATEDB); a dump that cannot be taken or verified "
        "fails the deploy before anything is migrated. `conveyor db restore ENV ID` puts one "
        "back. The host needs PostgreSQL's client (pg_dump, pg_restore).",
    )
    keep_backups: int = Field(
        default=5, ge=1, le=100, description="How many verified dumps the migration host keeps."
    )
    rehearse: bool = Field(
        default=False,
        description="With `backup`: run the pending migrations first on the backup's verified "
        "copy (the scratch database it was restored into), the way the deploy will, timing "
        "each and watching the locks they hold (pg_locks). An ACCESS EXCLUSIVE lock held "
        "longer than `rehearse_lock_limit` on a table of `large_table_rows` or more fails the "
        "deploy before anything runs on the database; on a smaller table it is said.",
    )
    rehearse_lock_limit: Duration = Field(
        default="2s",
        validate_default=True,
        description="How long the rehearsal may hold an ACCESS EXCLUSIVE lock on a large table.",
    )
    large_table_rows: int = Field(
        default=10000, ge=0, description="A table of this many rows or more counts as large."
    )

    @field_validator("lock_timeout")
    @classmethod
    def _some_wait(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be more than 0s: PostgreSQL reads 0 as no timeout at all")
        return value

    @model_validator(mode="after")
    def _rehearse_on_a_backup(self) -> MigrationsConfig:
        if self.rehearse and not self.backup:
            raise ValueError(
                "rehearse needs backup = true: the rehearsal runs on the backup's verified copy"
            )
        return self


class ExportConfig(Section):
    """Files `conveyor export` generates."""

    conveyor: str | None = Field(
        default=None,
        description="The pip requirement the generated workflows install Conveyor from, e.g. "
        '"git+https://github.com/<owner>/conveyor@<commit>". Not set: where this Conveyor was '
        "installed from, when that was a git URL at a commit; otherwise export github refuses.",
    )

    @field_validator("conveyor")
    @classmethod
    def _requirement(cls, value: str | None) -> str | None:
        if value is not None and (not value or re.search(r"\s", value)):
            raise ValueError(
                'expected a pip requirement without spaces, e.g. "git+https://...@<commit>", '
                f"got {show(value)}"
            )
        return value


class ConveyorConfig(Section):
    """The whole conveyor.toml (or `[tool.conveyor]` in pyproject.toml)."""

    app: AppConfig = Field(description="The application.")
    settings: SettingsConfig = Field(default=SettingsConfig(), description="Settings schema.")
    checks: ChecksConfig = Field(default=ChecksConfig(), description="Quality pipeline.")
    services: dict[Name, ServiceConfig] = Field(default={}, description="Services by name.")
    migrations: MigrationsConfig | None = Field(default=None, description="Database migrations.")
    release: ReleasePhaseConfig | None = Field(
        default=None, description="A command once per deploy, after migrations, before any switch."
    )
    export: ExportConfig = Field(default=ExportConfig(), description="Generated files.")
    notify: NotifyConfig = Field(
        default=NotifyConfig(),
        description="Notification defaults for every environment.",
    )
    environments: dict[Name, EnvironmentConfig] = Field(
        default_factory=dict,
        description=f'Environments by name. Without the section: one, "{DEFAULT_ENVIRONMENT}", '
        'with host "local" for every role the services and migrations name.',
    )

    @property
    def roles(self) -> tuple[str, ...]:
        """Every role that has hosts in at least one environment, sorted."""
        return tuple(sorted({role for env in self.environments.values() for role in env.hosts}))

    def environment(self, name: str) -> EnvironmentConfig:
        """The environment called `name`, or a ConfigError that lists the known ones."""
        if name in self.environments:
            return self.environments[name]
        known = ", ".join(f'"{n}"' for n in self.environments)
        suffix = suggestion_suffix(name, self.environments)
        raise ConfigError(f'unknown environment "{name}"{suffix}; known: {known}')

    @model_validator(mode="before")
    @classmethod
    def _default_environment(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "environments" in data:
            return data
        return {**data, "environments": {DEFAULT_ENVIRONMENT: {"hosts": local_hosts(data)}}}

    @field_validator("environments")
    @classmethod
    def _name_environments(cls, value: dict[str, EnvironmentConfig]) -> dict[str, Any]:
        if not value:
            raise ValueError("expected at least one environment, got none")
        for name, env in value.items():
            env._name = name
        return value

    @model_validator(mode="after")
    def _references(self) -> ConveyorConfig:
        problems = [*check_references(self, presets=PRESETS), *check_refused(self)]
        problems += listen_problems(self)
        if problems:
            raise ReferencesInvalid(problems)
        return self
