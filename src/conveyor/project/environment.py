"""Environments of conveyor.toml: hosts by role, approval, deploy strategy, notifications."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from conveyor.project.fields import (
    Batch,
    Duration,
    Name,
    NotifyUrl,
    RelativePath,
    Section,
    parse_host,
)
from conveyor.project.hosts import HostEntry, HostOptions
from conveyor.project.references import Problem, ReferencesInvalid

Tier = Literal["development", "staging", "production"]
# What sends a notification (conveyor.notify.notices says which record makes which event).
Event = Literal[
    "started",
    "succeeded",
    "failed",
    "rolled_back",
    "recovery",
    "approval_requested",
    "approval_given",
    "approval_rejected",
]

_TIER_BY_NAME: dict[str, Tier] = {
    "development": "development",
    "dev": "development",
    "local": "development",
    "test": "development",
    "prod": "production",
    "production": "production",
    "live": "production",
}


def infer_tier(name: str) -> Tier:
    """The tier an environment called `name` gets when it does not set one."""
    return _TIER_BY_NAME.get(name, "staging")


class NotifyConfig(Section):
    """Where notifications go and which events send one (see docs/notifications.md)."""

    targets: list[NotifyUrl] = Field(
        default=[],
        description='Apprise URLs, e.g. "slack://$SLACK_WEBHOOK". $VARS are expanded when a '
        "message is sent, from the environment's values file, else conveyor's own environment; "
        "their values are never shown or stored.",
    )
    on: list[Event] = Field(
        default=["failed", "rolled_back"],
        description='Events that notify: "rolled_back" is a deploy undone or a rollback done, '
        '"recovery" an interrupted deploy put right (docs/notifications.md says which record '
        "makes which event).",
    )


class EnvironmentNotify(Section):
    """Per-environment notifications; a key left out takes the value from `[notify]`."""

    targets: list[NotifyUrl] | None = Field(default=None, description="Replaces notify.targets.")
    on: list[Event] | None = Field(default=None, description="Replaces notify.on.")


def _freeze_window(value: str) -> str:
    from conveyor.gates.freeze import parse

    parse(value)
    return value


FreezeWindow = Annotated[str, AfterValidator(_freeze_window)]


def _checklist_item(value: str) -> str:
    """An item is signed as it is written, one line, items apart by " | "."""
    if value != " ".join(value.split()) or not value or "|" in value:
        raise ValueError(
            f"{value!r}: a checklist item is one line of words with single spaces and no "
            '"|" (approvers sign it as written)'
        )
    return value


ChecklistItem = Annotated[str, AfterValidator(_checklist_item)]


def _approvers(value: object) -> object:
    """`required = true` is one approver, `false` none."""
    return int(value) if isinstance(value, bool) else value


Approvers = Annotated[int, BeforeValidator(_approvers)]


class ApprovalConfig(Section):
    """Who must approve a deploy, signed with their SSH keys, and what is checked first."""

    required: Approvers = Field(
        default=1,
        ge=0,
        description="Distinct approvers a deploy needs (true: 1; 0 or false: none).",
    )
    by: list[str] = Field(
        default=[],
        description="Who may approve: principals of `allowed_signers` (the emails people "
        "commit with). Empty: anyone it lists.",
    )
    allowed_signers: RelativePath = Field(
        default="allowed_signers",
        description='The repository\'s allowed_signers file ("principal key-type key" per '
        "line, as git's gpg.ssh.allowedSignersFile): whose SSH signatures count.",
    )
    separate_from_author: bool = Field(
        default=True,
        description="Nobody who authored or committed a change in the deploy counts.",
    )
    expires: Duration = Field(
        default="24h", validate_default=True, description="How long an approval holds."
    )
    freeze: list[FreezeWindow] = Field(
        default=[],
        description='When deploys wait: "Fri 16:00-Mon 08:00 Asia/Seoul" (weekly) or '
        '"2026-12-24 18:00-2026-12-27 08:00 UTC" (once). An approval with --override '
        "--why breaks it, recorded.",
    )
    checklist: list[ChecklistItem] = Field(
        default=[], description="Items an approver confirms one by one, e.g. release notes."
    )
    checks: bool = Field(
        default=True,
        description="`conveyor check` must have passed on the deployed commit, with the "
        "[checks] configuration that commit holds.",
    )
    staging_soak: Duration | None = Field(
        default=None,
        description="The release must have served on a staging-tier environment this long, "
        "with no deploy, rollback or recovery there since. Not set: no soak.",
    )


class StrategyConfig(Section):
    """How a release replaces the running one, host by host."""

    kind: Literal["blue-green", "rolling"] = Field(
        default="blue-green",
        description='"blue-green": start beside the old release, switch, keep the old one warm. '
        '"rolling": restart in place, batch by batch (not available yet: refused).',
    )
    batch: Batch = Field(default=1, description='Hosts at a time: a number >= 1 or a share "25%".')
    keep_previous_warm: Duration = Field(
        default="15m", validate_default=True, description="How long the old release keeps running."
    )
    healthy_threshold: int = Field(
        default=3, ge=1, description="Consecutive health successes a new release needs."
    )
    unhealthy_threshold: int = Field(
        default=10,
        ge=0,
        description="Consecutive 5xx answers after which a new release is judged broken "
        "without waiting for health_timeout (0: wait for the timeout).",
    )
    health_timeout: Duration = Field(
        default="60s",
        validate_default=True,
        description="Deadline for a release to become healthy.",
    )
    watch: Duration = Field(
        default="30s", validate_default=True, description="Watch after switching before going on."
    )
    max_failures: int = Field(
        default=0, ge=0, description="Hosts that may fail before the deploy stops and rolls back."
    )

    def batch_size(self, hosts: int) -> int:
        """How many of `hosts` hosts to deploy at a time (at least one)."""
        return batch_size(self.batch, hosts)


def batch_size(batch: int | str, hosts: int) -> int:
    """Hosts per batch for `batch` (a number, or a share such as "25%", rounded up)."""
    if isinstance(batch, int):
        return max(1, min(batch, hosts))
    return max(1, math.ceil(hosts * int(batch[:-1]) / 100))


class EnvironmentConfig(Section):
    """One environment: where it runs and how a deploy to it goes."""

    branch: str | None = Field(
        default=None,
        description="Branch that deploys here on push, through the workflow "
        "`conveyor export github` writes. Not set: manual deploys only.",
    )
    env_file: RelativePath | None = Field(
        default=None, description='File with the settings\' values. Not set: ".env.<name>".'
    )
    tier: Tier | None = Field(
        default=None,
        description='Not set: "development" for development/dev/local/test, '
        '"production" for production/prod/live, else "staging".',
    )
    app_dir: str | None = Field(
        default=None,
        pattern=r"^(/|\.conveyor/|~/|~$)",
        description='Directory of the app on each host; "{host}" expands to the host\'s name, '
        '"~" to the SSH user\'s home on the host; a relative ".conveyor/..." is for local '
        'hosts only. Not set: "/srv/<app>/<environment>" over SSH, '
        '".conveyor/hosts/<environment>" in the project for a local host. A host table in '
        "`hosts` can set its own.",
    )
    # `hosts` in the file; the property `hosts` gives the host strings every reader wants.
    entries: dict[Name, Annotated[list[HostEntry], Field(min_length=1)]] = Field(
        alias="hosts",
        description='Hosts by role: "local", "user@host" or "user@host:port", or a table for '
        'a host with settings of its own: { host = "deploy@app-1", app_dir = "~/shop", '
        'listen = "10.0.0.5:80" }.',
    )
    approval: ApprovalConfig | None = Field(
        default=None,
        description="Approval before deploying: the deploy waits, as a signed request, "
        "until enough approvers sign its plan. Not set: none needed.",
    )
    strategy: StrategyConfig = Field(default=StrategyConfig(), description="Deploy strategy.")
    notify: EnvironmentNotify | None = Field(
        default=None,
        description="Notifications: a table like [notify], or just a list of targets.",
    )
    # Set by ConveyorConfig from the table's key, so an environment knows its own name.
    _name: str = PrivateAttr(default="")

    @property
    def name(self) -> str:
        """The environment's key in `[environments]`."""
        return self._name

    @property
    def resolved_env_file(self) -> str:
        """`env_file`, or ".env.<name>" when not set."""
        return self.env_file if self.env_file is not None else f".env.{self._name}"

    @property
    def resolved_tier(self) -> Tier:
        """`tier`, or the tier inferred from the name."""
        return self.tier if self.tier is not None else infer_tier(self._name)

    @property
    def is_production_like(self) -> bool:
        """True unless the tier is "development": real data, real users, care needed."""
        return self.resolved_tier != "development"

    @property
    def hosts(self) -> dict[str, list[str]]:
        """Host strings by role, as written ("deploy@app-1"), tables or not."""
        return {role: [e.host for e in entries] for role, entries in self.entries.items()}

    def host_options(self, spec: str) -> HostOptions:
        """The table written for host `spec` (under any role), or one with only `host`."""
        found = (e for entries in self.entries.values() for e in entries if e.host == spec)
        return next((e for e in found if e != HostOptions(host=spec)), HostOptions(host=spec))

    @field_validator("entries")
    @classmethod
    def _some_hosts(cls, value: dict[str, list[HostOptions]]) -> dict[str, list[HostOptions]]:
        if not value:
            raise ValueError("expected at least one role, got none")
        return value

    @model_validator(mode="after")
    def _hosts_agree(self) -> EnvironmentConfig:
        problems = list(host_problems(self))
        if problems:
            raise ReferencesInvalid(problems)
        return self

    @field_validator("notify", mode="before")
    @classmethod
    def _targets_list(cls, value: Any) -> Any:
        return {"targets": value} if isinstance(value, list) else value


def host_problems(env: EnvironmentConfig) -> list[Problem]:
    """A host written twice with different settings; a relative app_dir for an SSH host."""
    problems = []
    first: dict[str, tuple[str, int, HostOptions]] = {}
    for role, entries in env.entries.items():
        for index, entry in enumerate(entries):
            if entry == HostOptions(host=entry.host):
                continue
            seen = first.setdefault(entry.host, (role, index, entry))
            if seen[2] != entry:
                where = f"hosts.{seen[0]}[{seen[1]}]"
                problems.append(
                    Problem(
                        ("hosts", role, index),
                        f"{entry.host} has other settings in {where}; a host is one machine: "
                        "give its table once, and its plain name under its other roles",
                    )
                )
    remote = [h for hosts in env.hosts.values() for h in hosts if not parse_host(h).is_local]
    if env.app_dir is not None and env.app_dir.startswith(".") and remote:
        problems.append(
            Problem(
                ("app_dir",),
                f"a relative app_dir is a directory of this project, not of {remote[0]}: give an "
                'absolute path or one under the SSH user\'s home ("~/app")',
            )
        )
    return problems
