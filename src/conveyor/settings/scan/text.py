"""Other files by text rules: YAML, INI/CFG, TOML, shell scripts and Dockerfiles."""

from __future__ import annotations

import re

from conveyor.settings.scan.group import propose
from conveyor.settings.scan.model import Finding
from conveyor.settings.scan.rules import TOKENS, URL, classify, classify_url, severity_for

# KEY=value, KEY: value, export KEY=value, ENV KEY=value, - KEY=value, key = value.
_ASSIGNMENT = re.compile(
    r"""^\s*(?:export\s+|ENV\s+|ARG\s+|-\s+|set\s+)?["']?(?P<key>[A-Za-z_][\w.-]*)["']?"""
    r"""\s*(?P<sep>[:=])\s*(?P<value>.*?)\s*$"""
)
_TRAILING_COMMENT = re.compile(r"\s+[#;].*$")
# Keys whose value is a command line, not a setting (a CI step's `run:`, compose's
# `command:`): a URL in it is named by what it is (DATABASE_URL), never `settings.RUN`.
_COMMAND_KEYS = frozenset(
    {"run", "script", "before_script", "after_script", "command", "cmd", "entrypoint",
     "args", "shell", "exec", "test"}
)  # fmt: skip


def _unquote(value: str) -> str:
    """The value without quotes or a trailing comment."""
    if value[:1] in ("'", '"'):
        end = value.find(value[0], 1)
        return value[1:end] if end > 0 else value[1:]
    return _TRAILING_COMMENT.sub("", value).rstrip(",")


def scan_text(path: str, text: str, *, in_tests: bool) -> list[Finding]:
    """Findings in one non-Python file, line by line."""
    findings: list[Finding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if "://" not in line and "=" not in line and ":" not in line:
            continue
        assignment = _ASSIGNMENT.match(line)
        name = assignment.group("key") if assignment else None
        if name is not None and name.lower() in _COMMAND_KEYS:
            name = None
        found: list[tuple[str, str, int]] = []
        for token in TOKENS.finditer(line):
            found.append(("known-token", token.group(0), token.start()))
        if "://" in line:
            for url_match in URL.finditer(line):
                url = url_match.group(0).rstrip(".,;)]}")
                rule = classify_url(url)
                if rule and not any(
                    url_match.start() <= start < url_match.end() for *_, start in found
                ):
                    found.append((rule, url, url_match.start()))
        if assignment and not found:
            value = _unquote(assignment.group("value"))
            match = classify(name, value) if value and "://" not in value else None
            if match is not None:
                found.append((match.rule, match.value, assignment.start("value")))
        findings.extend(
            Finding(
                path=path,
                line=number,
                column=column + 1,
                rule=rule,
                severity=severity_for(rule, in_tests=in_tests),
                value=value,
                name=name,
                proposal=propose(name, value, family=None, parent=None),
                context="text",
                fixable=False,
                line_text=line.strip(),
            )
            for rule, value, column in found
        )
    return findings
