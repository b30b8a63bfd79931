"""The story `make demo` tells, end to end through the CLI."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from conveyor.cli import main
from conveyor.runtime.base import supervisor_socket_path


def test_demo_catches_the_broken_production_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--workdir", str(tmp_path), "--no-deploys"]) == 0
    out = capsys.readouterr().out
    app = tmp_path / "movies"
    assert (app / "conveyor.toml").is_file()
    assert "ok: .env.development matches movies.config:Settings" in out
    assert "ok: .env.staging matches movies.config:Settings" in out
    for expected in [
        ".env.production: error: is readable by other users (mode 0644)",
        ".env.production:3: DATABASE_URL: error: the password in this URL is a well-known password",
        ".env.production:5: JWT_SECRET_KEY: error: same secret as in .env.development:5",
        ".env.production:6: API_PORT: error: expected a port number between 1 and 65535",
        '.env.production:7: RECOMENDATIONS_LIMIT: error: unknown key, not in movies.config:Settings (did you mean "RECOMMENDATIONS_LIMIT"?)',
        ".env.production:8: ADMIN_EMAIL: error: still holds a template placeholder",
    ]:
        assert expected in out
    assert "demo finished: every step did what it should." in out
    assert "admin123" not in out
    assert "dev-secret-key" not in out
    # Running it again starts from a fresh copy.
    (app / "stray").write_text("x")
    assert main(["demo", "--workdir", str(tmp_path), "--no-deploys"]) == 0
    assert not (app / "stray").exists()
    assert stat.S_IMODE((app / ".env.staging").stat().st_mode) == 0o600


def test_schema_command_prints_the_json_schema_and_writes_the_docs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "environments" in schema["properties"]
    assert main(["-C", str(tmp_path), "schema", "--write"]) == 0
    written = capsys.readouterr().out.splitlines()
    assert written == [
        f"wrote {tmp_path / 'docs' / 'configuration.md'}",
        f"wrote {tmp_path / 'docs' / 'conveyor.schema.json'}",
    ]
    committed = Path(__file__).parents[2] / "docs" / "configuration.md"
    assert (tmp_path / "docs" / "configuration.md").read_text() == committed.read_text()


def test_demo_deploys_a_good_release_and_rolls_back_a_broken_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The deploy half: real supervisord and Caddy on this machine, the example app's venv."""
    assert main(["demo", "--workdir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    out = captured.out + captured.err  # a refused deploy says why on stderr
    assert "deployed: staging now runs 1.0.0" in out
    assert "deployed: staging now runs 1.1.0" in out
    assert "load during the deploy: " in out and ", 0 failed," in out
    assert "versions: 1.0.0 -> 1.1.0" in out
    assert "deploy of 1.2.0 to staging failed" in out
    assert "load during the bad deploy: " in out and "versions: 1.1.0\n" in out
    assert '"version": "1.1.0"' in out.split("still serving: ")[1]
    # The migrations ran once; the database is read back; the rollback checks the schema.
    assert "2 migration(s) applied: 0001 → 0002; database was at empty (no revision)" in out
    assert "database at 0004; the serving release's head is 0004; nothing to apply" in out
    assert "2 migration(s) applied: 0003 → 0004; database was at 0002, now at 0004" in out
    assert "1.0.0 (serving) answers healthy against it" in out
    assert "answered healthy against the database at 0004 during " in out
    assert "rolled back: staging runs 1.0.0" in out
    assert '"version": "1.0.0"' in out.split("serving after the rollback: ")[1]
    assert "the pending migrations would be refused: 0005 drop-column (loses data)" in out
    assert '"version": "1.0.0"' in out.split("still serving: ")[-1]
    # Accepted, it waits for a signed approval: the author's is refused, a reviewer's runs it.
    assert "approvals: 0 of 1; from reviewer@example.com, demo@example.com" in out
    assert "demo@example.com may not approve" in out
    assert "wrote a change in this deploy (Conveyor Demo <demo@example.com>)" in out
    assert "as reviewer@example.com (1 of 1; it may run now)" in out
    assert "1 migration(s) applied: 0005; database was at 0004, now at 0005" in out
    assert '"version": "1.3.0"' in out.split("serving after the approved deploy: ")[1]
    # Each step told a local webhook, which met the first message with 429: each came once.
    told = out.split("the webhook answered 1 message(s) 429 with Retry-After, and took each once:")
    assert len(told) == 2, out
    lines = told[1].splitlines()[1:4]
    assert [line.strip().startswith("staging: 1.3.0") for line in lines] == [True] * 3
    assert lines[0].endswith("waits for approval")
    assert lines[1].endswith("approved by reviewer@example.com")
    assert lines[2].endswith("deployed")
    assert "demo finished: every step did what it should." in out
    # Nothing is left running: the demo stops its supervisord.
    staging = tmp_path / "movies" / ".conveyor" / "hosts" / "staging"
    assert staging.is_dir()
    assert not Path(supervisor_socket_path(str(staging))).exists()
