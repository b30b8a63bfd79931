"""Where a message goes, and a target's $VARS: expanded only when it is sent, never shown.

A target is stored as written in conveyor.toml ("slack://$SLACK_WEBHOOK"). When it is
sent, each `$NAME` (or `${NAME}`) takes its value from the environment's values file
(`.env.<env>`, the file `conveyor config check` reads), else from conveyor's own process
environment (a CI secret). The values that went in, and a password in the URL, are masked
in every text shown or stored about the attempt.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from conveyor.errors import ConveyorError
from conveyor.settings.envfile import read_env_file
from conveyor.settings.secrets import MASK, mask_url, url_password

if TYPE_CHECKING:
    from conveyor.project.load import Project
    from conveyor.project.model import ConveyorConfig

VARIABLE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)
# Shorter values would mask ordinary words and numbers all over a message.
MIN_MASKED = 4


def subscribed(config: ConveyorConfig, environment: str, event: str) -> tuple[str, ...]:
    """The targets `event` in `environment` goes to: the environment's `notify`, each key
    it leaves out taken from `[notify]`; none when the event is not in `on`."""
    targets, on = _settings(config, environment)
    return targets if event in on else ()


def every_target(config: ConveyorConfig, environment: str) -> tuple[str, ...]:
    """Every target of `environment`, whatever its events (`conveyor notify test`)."""
    return _settings(config, environment)[0]


def variables(target: str) -> list[str]:
    """The names of the $VARS in a target, in order."""
    return [m["braced"] or m["bare"] for m in VARIABLE.finditer(target)]


def shown(target: str) -> str:
    """A target as it may be shown: as written where it names $VARS, its password masked,
    and every other part of its path and query masked too (a webhook's token is often a
    path: slack://T000/B000/XXXX written out would otherwise reach a CI log)."""
    masked = mask_url(target)
    scheme, sep, rest = masked.partition("://")
    host, slash, tail = rest.partition("/")
    if not sep or not slash:
        return masked
    path, question, query = tail.partition("?")

    def kept(part: str) -> str:
        return part if not part or VARIABLE.fullmatch(part) else MASK

    path = "/".join(kept(p) for p in path.split("/"))
    if question:
        pairs = (pair.partition("=") for pair in query.split("&"))
        query = "&".join(f"{k}{eq}{kept(v) if eq else ''}" for k, eq, v in pairs)
    return f"{scheme}://{host}/{path}{question}{query}"


@dataclass(frozen=True)
class Expanded:
    """A target ready to send, with what must never be shown of it."""

    written: str
    url: str
    secrets: tuple[str, ...] = ()

    def mask(self, text: str) -> str:
        """`text` with the expanded URL shown as written and every secret in it masked."""
        text = text.replace(self.url, shown(self.written))
        for value in sorted(self.secrets, key=len, reverse=True):
            for form in dict.fromkeys((value, quote(value), quote(value, safe=""))):
                text = text.replace(form, MASK)
        return text


class UnsetVariable(ConveyorError):
    """A target names a $VAR that has no value where conveyor looks."""


@dataclass
class Values:
    """$VARS by environment: its values file first (`files`), then `environ`."""

    files: Mapping[str, Path]
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _read: dict[str, dict[str, str]] = field(default_factory=dict)

    def expand(self, environment: str, target: str) -> Expanded:
        """The target with its $VARS replaced; UnsetVariable naming the first one unset."""
        found = self._file(environment)
        used: list[str] = []

        def value(match: re.Match[str]) -> str:
            name = match["braced"] or match["bare"]
            got = found.get(name, self.environ.get(name))
            if got is None:
                path = self.files.get(environment)
                where = f"not in {path.name}, " if path is not None else ""
                raise UnsetVariable(
                    f"${name} is not set for {environment} ({where}not in conveyor's environment)",
                    hint=f"set {name}, then: conveyor notify retry --all",
                )
            used.append(got)
            return got

        url = VARIABLE.sub(value, target)
        password = url_password(url)
        secrets = [v for v in (*used, password or "") if len(v) >= MIN_MASKED]
        return Expanded(target, url, tuple(dict.fromkeys(secrets)))

    def _file(self, environment: str) -> dict[str, str]:
        if environment not in self._read:
            path = self.files.get(environment)
            parsed = read_env_file(path) if path is not None and path.is_file() else None
            self._read[environment] = parsed.values() if parsed is not None else {}
        return self._read[environment]


Expand = Callable[[str, str], Expanded]


def values_for(project: Project) -> Values:
    """The $VARS of a project's environments: `.env.<env>` (or its env_file) of each."""
    return Values(
        {
            name: project.root / env.resolved_env_file
            for name, env in project.config.environments.items()
        }
    )


def notify_variables(config: ConveyorConfig, environment: str) -> frozenset[str]:
    """The $VARS an environment's targets name: keys its values file may hold for conveyor
    itself (`config check` does not call them unknown; hosts never get them)."""
    return frozenset(name for t in every_target(config, environment) for name in variables(t))


def _settings(config: ConveyorConfig, environment: str) -> tuple[tuple[str, ...], list[str]]:
    top = config.notify
    env = config.environments.get(environment)
    own = env.notify if env is not None else None
    targets = own.targets if own is not None and own.targets is not None else top.targets
    on: list[str] = list(own.on if own is not None and own.on is not None else top.on)
    return tuple(dict.fromkeys(targets)), on
