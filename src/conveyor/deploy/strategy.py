"""Deploy strategies: how a new release takes over from the one serving, as a planner.

A strategy is a planner: from the environment's config, the hosts' observed states
and the release, it returns the `Plan` (deploy/plan.py) of typed steps. The executor
runs any plan the same way and the engine carries out any step, so a strategy decides
what runs where and in which order, and nothing else. Blue-green (deploy/planner.py)
is the one there is: each host starts the release on its idle colour beside the one
serving, gates it, switches its Caddy batch by batch and keeps the old colour warm for
a rollback. A kind without a planner here is refused when the config is loaded
(project/refused.py): "rolling" (restart in place, for hosts without room for two
colours) until it is written; canary is meant to be the next one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from conveyor.deploy.plan import HostView, Inputs, Plan
from conveyor.deploy.planner import build_plan
from conveyor.project.model import ConveyorConfig


class Strategy(Protocol):
    """A planner: everything a deploy of one release to one environment will do."""

    def __call__(
        self,
        config: ConveyorConfig,
        environment: str,
        *,
        release: str,
        release_id: str | None,
        version: str,
        venv_key: str,
        hosts: Sequence[HostView],
        env_keys: int,
        watch: float,
        keep_warm: float,
        batch: int | str,
        max_failures: int,
        left_out: Mapping[str, Sequence[str]] | None,
        idle: Mapping[str, Sequence[str]] | None,
        limit: str,
        overrides: Sequence[str],
        inputs: Inputs | None,
        force: bool,
        recover_first: bool,
        migrations_head: str | None = None,
        migrations_refuse: Sequence[str] = (),
    ) -> Plan:
        """The plan."""
        ...


STRATEGIES: Mapping[str, Strategy] = {"blue-green": build_plan}


def strategy(kind: str) -> Strategy:
    """The planner of `kind`; the config's loading has refused any other kind."""
    return STRATEGIES[kind]
