"""One scan: discover files, apply the rules, drop suppressed findings, group the rest."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from conveyor.settings.scan.group import group_findings
from conveyor.settings.scan.model import Finding, ScanResult, Skipped
from conveyor.settings.scan.python import scan_python
from conveyor.settings.scan.suppress import apply_baseline, apply_inline
from conveyor.settings.scan.text import scan_text
from conveyor.settings.scan.walk import MAX_BYTES, discover


def scan(
    root: Path,
    paths: Sequence[Path] = (),
    *,
    baseline: frozenset[str] = frozenset(),
    max_bytes: int = MAX_BYTES,
) -> ScanResult:
    """Scan `paths` (default: the whole root) and return grouped findings."""
    root = root.absolute()
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    files = lines = 0
    for item in discover(root, paths, max_bytes=max_bytes):
        if isinstance(item, Skipped):
            skipped.append(item)
            continue
        files += 1
        lines += item.text.count("\n") + (not item.text.endswith("\n") and bool(item.text))
        if item.kind == "python":
            found = scan_python(item.path, item.text, in_tests=item.in_tests)
            if isinstance(found, str):
                skipped.append(Skipped(item.path, found))
                continue
        else:
            found = scan_text(item.path, item.text, in_tests=item.in_tests)
        findings.extend(found)
    kept, inline = apply_inline(findings)
    kept, baselined = apply_baseline(kept, baseline)
    return ScanResult(group_findings(kept), tuple(skipped), inline + baselined, files, lines)
