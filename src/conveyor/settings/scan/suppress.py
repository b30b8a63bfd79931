"""Suppressions that do not go stale: inline comments with a reason, and a fingerprint baseline."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from conveyor.errors import ConfigError
from conveyor.settings.render import write_private
from conveyor.settings.scan.model import Finding

BASELINE_NAME = ".conveyor-scan-baseline.json"
_INLINE = re.compile(r"conveyor:\s*ignore\[(?P<rules>[^\]]*)\](?P<reason>.*)$")


@dataclass(frozen=True)
class Inline:
    """An inline `# conveyor: ignore[rule, ...] reason` comment."""

    rules: frozenset[str]
    reason: str


def parse_inline(line: str) -> Inline | None:
    """The suppression comment on a line, if any."""
    found = _INLINE.search(line)
    if found is None:
        return None
    rules = frozenset(r.strip() for r in found.group("rules").split(",") if r.strip())
    reason = found.group("reason").strip().lstrip("-:—").strip()
    return Inline(rules, reason)


def fingerprint(finding: Finding) -> str:
    """A hash of what the finding is, not where: rule, file, value and the line's own text."""
    key = "\0".join((finding.rule, finding.path, finding.value, finding.line_text))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def apply_inline(findings: Iterable[Finding]) -> tuple[list[Finding], int]:
    """Drop findings their line suppresses with a reason; a reasonless comment is a finding."""
    kept: list[Finding] = []
    dropped = 0
    for finding in findings:
        inline = parse_inline(finding.line_text)
        if inline is None or not (finding.rule in inline.rules or "*" in inline.rules):
            kept.append(finding)
        elif inline.reason:
            dropped += 1
        else:
            kept.append(finding)
            kept.append(
                replace(
                    finding,
                    rule="ignore-without-reason",
                    severity="medium",
                    value="",
                    fixable=False,
                    proposal=finding.proposal,
                )
            )
    return kept, dropped


def read_baseline(path: Path) -> frozenset[str]:
    """The fingerprints in a baseline file; raise ConfigError when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        prints = data["fingerprints"]
        return frozenset(str(item["fingerprint"]) for item in prints)
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror})") from None
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            f"{path}: is not a conveyor scan baseline",
            hint="write a new one with: conveyor scan --write-baseline",
        ) from None


def write_baseline(path: Path, findings: Iterable[Finding]) -> int:
    """Write every finding's fingerprint (never its value); return how many."""
    items = sorted(
        {fingerprint(f): {"fingerprint": fingerprint(f), "rule": f.rule, "file": f.path}
         for f in findings}.values(),
        key=lambda item: (item["file"], item["rule"], item["fingerprint"]),
    )  # fmt: skip
    write_private(path, json.dumps({"version": 1, "fingerprints": items}, indent=2) + "\n")
    return len(items)


def apply_baseline(findings: Iterable[Finding], known: frozenset[str]) -> tuple[list[Finding], int]:
    """Drop findings whose fingerprint is in the baseline."""
    every = list(findings)
    kept = [f for f in every if fingerprint(f) not in known]
    return kept, len(every) - len(kept)
