"""Cache keys, records and the --why explanations."""

from __future__ import annotations

import sys
from pathlib import Path

from conveyor import __version__
from conveyor.checks.cache import Cache, Interpreter, cache_key, explain, key_parts, probe
from conveyor.checks.step import Gate, Step

STEP = Step("lint", ("ruff", "check"), tools=("ruff",), gate=Gate("coverage", "c.xml", 90))
OLD = Interpreter("/py", "3.11.7", {"ruff": "0.6.0"})


def test_probe_in_process_and_in_a_subprocess() -> None:
    own = probe(sys.executable, ["conveyor", "no-such-dist"])
    assert own.tools == {"conveyor": __version__, "no-such-dist": "not installed"}
    other = probe(str(Path(sys.executable).resolve()), ["pytest", "no-such-dist"])
    assert other.version == sys.version.split()[0]
    assert other.tools["no-such-dist"] == "not installed"
    assert probe("/no/such/python", ["x"]).version == "unusable"


def test_the_key_changes_with_each_part() -> None:
    parts = key_parts(STEP, OLD, {"a.py": "1"})
    key = cache_key(parts)
    assert key == cache_key(key_parts(STEP, OLD, {"a.py": "1"}))
    assert key != cache_key(key_parts(STEP, OLD, {"a.py": "2"}))
    newer = Interpreter("/py", "3.11.7", {"ruff": "0.6.1"})
    assert key != cache_key(key_parts(STEP, newer, {"a.py": "1"}))


def test_records_hits_and_explanations(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    old = key_parts(STEP, OLD, {"a.py": "1", "b.py": "1"})
    assert cache.load("lint") is None
    cache.store("lint", cache_key(old), old)
    assert cache.hit("lint", cache_key(old)) and not cache.hit("lint", "other")
    record = cache.load("lint")
    assert explain("lint", old, record)[0].startswith("lint: cache hit: the same key passed at ")
    new_step = Step("lint", ("ruff", "check", "--fix"), tools=("ruff",))
    new = key_parts(
        new_step, Interpreter("/py3", "3.12.1", {"ruff": "0.7.0"}), {"a.py": "2", "c.py": "1"}
    )
    assert explain("lint", new, record) == [
        "lint: cache miss: it runs because",
        "  tool ruff changed: 0.6.0 -> 0.7.0",
        "  interpreter changed: /py (3.11.7) -> /py3 (3.12.1)",
        "  its configuration changed (command, environment or gate)",
        "  input changed: a.py",
        "  input removed: b.py",
        "  input added: c.py",
    ]
    (tmp_path / ".conveyor/cache/lint.json").write_text("not json")
    assert cache.load("lint") is None
