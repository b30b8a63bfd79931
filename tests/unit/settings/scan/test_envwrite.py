"""Values to .env.development, placeholders to the template, the dev file to .gitignore."""

from __future__ import annotations

from pathlib import Path

from conveyor.settings.scan.envwrite import add_ignore, add_placeholders, add_values, ignored

P = Path(".env")


def test_values() -> None:
    new = add_values(None, [("A", "x y"), ("B", "1")], path=P)
    assert new == '# moved here from the code by conveyor scan --fix\nA="x y"\nB=1\n'
    assert add_values("A=old", [("A", "x"), ("C", "2")], path=P) == (
        "A=old\n\n# moved here from the code by conveyor scan --fix\nC=2\n"
    )
    assert add_values("A=1\n", [("A", "2")], path=P) is None


def test_placeholders() -> None:
    new = add_placeholders("X=1\n", [("DB_PORT", "port"), ("DB_HOST", None), ("X", None)], path=P)
    assert new == (
        "X=1\n\n# added by conveyor scan --fix; the values are in .env.development\n"
        "DB_PORT=<DB_PORT>  # port\nDB_HOST=<DB_HOST>\n"
    )
    assert add_placeholders("X=1\n", [("X", None)], path=P) is None


def test_gitignore() -> None:
    assert ignored(".env.*\n!.env.example\n", ".env.development")
    assert not ignored(".env.*\n!.env.development\n", ".env.development")
    assert ignored("# c\n\n/.env.development\n", ".env.development")
    assert add_ignore(".env*\n", ".env.development") is None
    assert add_ignore(None, ".env.development") == (
        "# per-environment values never go to git\n.env.development\n"
    )
