"""Reports: readable text grouped by value, JSON for tools, SARIF for code-scanning upload."""

from __future__ import annotations

import json
from typing import Any

from conveyor import __version__
from conveyor.settings.scan.model import Finding, Group, ScanResult
from conveyor.settings.scan.rules import RULES, masked
from conveyor.settings.scan.suppress import fingerprint

_SARIF_LEVEL = {"high": "error", "medium": "warning", "low": "note"}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def message(group: Group, finding: Finding) -> str:
    """One sentence about a finding; the value masked."""
    shown = masked(finding.rule, finding.value)
    if finding.rule == "ignore-without-reason":
        return "a conveyor: ignore comment needs a reason after the ]"
    return f"{RULES[finding.rule].description}: {shown} -> settings.{group.setting}"


def render_text(result: ScanResult) -> str:
    """Groups, worst first: the value (masked) and the proposed setting, then every place."""
    lines: list[str] = []
    for group in result.groups:
        places = len(group.findings)
        shown = masked(group.rule, group.value) if group.value else "-"
        lines.append(
            f"{group.setting} ({group.rule}, {group.severity}, group {group.id}, "
            f"{places} place{'s' * (places != 1)}): {shown}"
        )
        for finding in group.findings:
            fix = "" if finding.fixable else "  (fix by hand)"
            lines.append(
                f"  {finding.location()}: {finding.rule} [{finding.severity}] "
                f"{masked(finding.rule, finding.value) or '-'} -> settings.{group.setting}{fix}"
            )
    lines.extend(f"{item.path}: skipped ({item.reason})" for item in result.skipped)
    lines.append(summary(result))
    return "\n".join(lines)


def summary(result: ScanResult) -> str:
    """`N findings in G groups (h high, m medium, l low); F files, L lines; ...`."""
    found = result.findings()
    counts = {level: sum(1 for f in found if f.severity == level) for level in _SARIF_LEVEL}
    text = (
        f"{len(found)} finding{'s' * (len(found) != 1)} in {len(result.groups)} "
        f"group{'s' * (len(result.groups) != 1)} ({counts['high']} high, "
        f"{counts['medium']} medium, {counts['low']} low); "
        f"{result.files} files, {result.lines} lines scanned"
    )
    if result.skipped:
        text += f", {len(result.skipped)} skipped"
    if result.suppressed:
        text += f", {result.suppressed} suppressed"
    return text


def to_json(result: ScanResult) -> list[dict[str, Any]]:
    """A list of objects, one per finding; values masked."""
    items = []
    for finding in result.findings():
        group = result.group_of(finding)
        items.append(
            {
                "file": finding.path,
                "line": finding.line,
                "column": finding.column,
                "rule": finding.rule,
                "severity": finding.severity,
                "value": masked(finding.rule, finding.value),
                "name": finding.name,
                "setting": group.setting,
                "group": group.id,
                "fixable": finding.fixable,
                "message": message(group, finding),
            }
        )
    return items


def to_sarif(result: ScanResult) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run."""
    rules = [
        {
            "id": rule.id,
            "shortDescription": {"text": rule.description},
            "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
        }
        for rule in RULES.values()
    ]
    results = []
    for finding in result.findings():
        group = result.group_of(finding)
        results.append(
            {
                "ruleId": finding.rule,
                "level": _SARIF_LEVEL[finding.severity],
                "message": {"text": message(group, finding)},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": finding.path},
                            "region": {"startLine": finding.line, "startColumn": finding.column},
                        }
                    }
                ],
                "partialFingerprints": {"conveyorFingerprint/v1": fingerprint(finding)},
                "properties": {"group": group.id, "setting": group.setting},
            }
        )
    driver = {
        "name": "conveyor",
        "version": __version__,
        "informationUri": "https://github.com/conveyor/conveyor",
        "rules": rules,
    }
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": results}],
    }


def dumps(data: Any) -> str:
    """JSON text, stable and readable."""
    return json.dumps(data, indent=2)
