"""Whatever a file holds, the scan reports or skips it; it never raises."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.settings.scan.python import scan_python
from conveyor.settings.scan.rules import classify
from conveyor.settings.scan.text import scan_text

# Text made of the pieces the rules look for, so that examples reach the rules.
PIECES = st.sampled_from(
    ['"', "'", "=", ":", "://", "@", "{", "}", "(", ")", "\n", " ", "#", "\\", "\0",
     "DB_PASSWORD", "host", "PORT", "localhost", "admin:admin123", "postgresql", "[::1",
     "AKIAIOSFODNN7EXAMPLE", "f'", "os.getenv(", "create_engine(", "가", "\ufeff"]
)  # fmt: skip
TEXT = st.one_of(st.text(max_size=200), st.lists(PIECES, max_size=40).map("".join))


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_python_scan_never_raises(text: str) -> None:
    result = scan_python("x.py", text, in_tests=False)
    assert isinstance(result, str | list)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_text_scan_never_raises(text: str) -> None:
    for finding in scan_text("x.yml", text, in_tests=False):
        assert finding.line >= 1 and finding.column >= 1


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=30)), TEXT)
def test_classify_never_raises(name: str | None, value: str) -> None:
    match = classify(name, value)
    assert match is None or match.value
