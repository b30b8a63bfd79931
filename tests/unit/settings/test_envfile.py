"""Tests for the `.env` parser: every rule with its exact message, and fuzzing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.errors import EnvFileError
from conveyor.settings.envfile import EnvEntry, EnvFile, EnvProblem, parse_env, read_env_file

PATH = Path(".env")


def parse(text: str) -> EnvFile:
    return parse_env(text, path=PATH)


def problems(text: str) -> list[tuple[int, str, str]]:
    return [(p.line, p.code, p.message) for p in parse(text).problems]


# --- well-formed lines ---------------------------------------------------------------------


def test_simple_entries_keep_line_numbers() -> None:
    env = parse("A=1\n\nB=two\n")
    assert env.entries == (
        EnvEntry("A", "1", 1, None, None),
        EnvEntry("B", "two", 3, None, None),
    )
    assert env.problems == ()
    assert env.path == PATH


def test_export_prefix_and_spaces_around_equals() -> None:
    assert parse("export A=1\n  B = two  \nexport\tC=3").values() == {
        "A": "1",
        "B": "two",
        "C": "3",
    }


def test_a_key_named_export() -> None:
    assert parse("export=1\nexport = 2").values() == {"export": "2"}


def test_empty_value() -> None:
    env = parse("A=\nB=   \n")
    assert env.values() == {"A": "", "B": ""}
    assert env.problems == ()


def test_unquoted_value_ends_at_space_hash() -> None:
    env = parse("A=abc # the comment \nB=abc#def\nC=x\t# tab comment")
    assert env.values() == {"A": "abc", "B": "abc#def", "C": "x"}
    assert env.get("A") == EnvEntry("A", "abc", 1, "the comment", None)
    assert env.get("C") == EnvEntry("C", "x", 3, "tab comment", None)


def test_comment_right_after_equals_is_an_empty_value() -> None:
    env = parse("SECRET_KEY=  # secret\nHASH=#not-a-comment")
    assert env.get("SECRET_KEY") == EnvEntry("SECRET_KEY", "", 1, "secret", None)
    assert env.get("HASH") == EnvEntry("HASH", "#not-a-comment", 2, None, None)


def test_empty_trailing_comment_is_none() -> None:
    assert parse("A=1 #").entries == (EnvEntry("A", "1", 1, None, None),)


def test_single_quotes_are_literal() -> None:
    env = parse(r"A='a \n b # c \" d' # note")
    assert env.get("A") == EnvEntry("A", r"a \n b # c \" d", 1, "note", None)


def test_double_quote_escapes() -> None:
    env = parse(r'A="l1\nl2\ttab \"q\" back\\slash \r \x" #c')
    assert env.get("A") == EnvEntry("A", 'l1\nl2\ttab "q" back\\slash \r \\x', 1, "c", None)


def test_quoted_value_keeps_spaces_and_hashes() -> None:
    assert parse("A=\"  a # b  \"\nB=' x '").values() == {"A": "  a # b  ", "B": " x "}


def test_comment_directly_after_closing_quote() -> None:
    assert parse('A="x"#c').entries == (EnvEntry("A", "x", 1, "c", None),)


def test_double_quoted_value_spans_lines() -> None:
    text = 'KEY="-----BEGIN KEY-----\nabc\n-----END KEY-----"  # pem\nNEXT=1\n'
    env = parse(text)
    assert env.entries == (
        EnvEntry("KEY", "-----BEGIN KEY-----\nabc\n-----END KEY-----", 1, "pem", None),
        EnvEntry("NEXT", "1", 4, None, None),
    )
    assert env.problems == ()


def test_single_quoted_value_spans_lines() -> None:
    assert parse("A='x\ny'\nB=1").values() == {"A": "x\ny", "B": "1"}


def test_doc_comment_lines_are_joined() -> None:
    text = "# The database host.\n#   Used by the API.\n#\nDB_HOST=localhost\nDB_PORT=5432\n"
    env = parse(text)
    assert env.get("DB_HOST") == EnvEntry(
        "DB_HOST", "localhost", 4, None, "The database host. Used by the API."
    )
    assert env.get("DB_PORT") is not None
    assert env.get("DB_PORT").doc is None  # type: ignore[union-attr]


def test_blank_line_separates_doc() -> None:
    env = parse("# section header\n\nA=1\n# only hash\n#\nB=2")
    assert env.get("A").doc is None  # type: ignore[union-attr]
    assert env.get("B").doc == "only hash"  # type: ignore[union-attr]


def test_empty_comment_block_gives_no_doc() -> None:
    assert parse("#\n##\nA=1").get("A").doc is None  # type: ignore[union-attr]


def test_keys_values_and_get() -> None:
    env = parse("B=2\nA=1\na.b-c=3\n_x=4")
    assert env.keys() == ["B", "A", "a.b-c", "_x"]
    assert env.values() == {"B": "2", "A": "1", "a.b-c": "3", "_x": "4"}
    assert env.get("missing") is None
    assert env.get("a") is None  # keys are case-sensitive


def test_empty_text() -> None:
    assert parse("") == EnvFile(PATH, (), ())


# --- problems ------------------------------------------------------------------------------


def test_line_without_equals() -> None:
    assert problems("A=1\nthis is junk\n") == [
        (
            2,
            "syntax",
            'expected KEY=value, but this line has no "=" (comments start with "#")',
        )
    ]


def test_bare_key_without_equals_names_the_key() -> None:
    assert problems("export DB_HOST\nPORT") == [
        (1, "syntax", 'DB_HOST has no "="; write DB_HOST=value (or DB_HOST= for an empty value)'),
        (2, "syntax", 'PORT has no "="; write PORT=value (or PORT= for an empty value)'),
    ]


def test_bare_word_that_may_be_a_token_is_not_echoed() -> None:
    message = 'expected KEY=value, but this line has no "=" (comments start with "#")'
    assert problems("AKIAIOSFODNN7EXAMPLE\nsk-abc123\nhunter2") == [
        (1, "syntax", message),
        (2, "syntax", message),
        (3, "syntax", message),
    ]


def test_invalid_keys() -> None:
    rule = 'start with a letter or "_", then use only letters, digits, "_", "." and "-"'
    assert problems("1ABC=x\nMY KEY=y\n=z\nhttps://u:pw@host/?a=b\n") == [
        (1, "invalid-key", f'"1ABC" is not a valid key: {rule}'),
        (2, "invalid-key", f'"MY KEY" is not a valid key: {rule}'),
        (3, "invalid-key", 'no key before "="'),
        (4, "invalid-key", f"not a valid key: {rule}"),
    ]
    assert parse("1ABC=x").entries == ()


def test_unterminated_double_quote_recovers_at_next_line() -> None:
    env = parse('A="abc def  \nB=2\nC=3\n')
    assert env.values() == {"A": "abc def", "B": "2", "C": "3"}
    assert [(p.line, p.code, p.message) for p in env.problems] == [
        (
            1,
            "unterminated-quote",
            "the double quote that starts the value of A is never closed; "
            'add the closing " (the value was read to the end of this line)',
        )
    ]


def test_unterminated_single_quote() -> None:
    assert problems("X=1\nA='abc\n") == [
        (
            2,
            "unterminated-quote",
            "the single quote that starts the value of A is never closed; "
            "add the closing ' (the value was read to the end of this line)",
        )
    ]


def test_unclosed_quote_does_not_swallow_the_next_quoted_entry() -> None:
    env = parse('A="abc\nB="x y"\nC=3')
    assert env.values() == {"A": "abc", "B": "x y", "C": "3"}
    assert [p.code for p in env.problems] == ["unterminated-quote"]


def test_unclosed_quote_before_an_entry_with_empty_quotes() -> None:
    env = parse('A="abc\nB=1\nC=""\nD=4')
    assert env.values() == {"A": "abc", "B": "1", "C": "", "D": "4"}
    assert [(p.line, p.code) for p in env.problems] == [(1, "unterminated-quote")]


def test_unclosed_quote_before_an_entry_opening_a_quote() -> None:
    env = parse('A="abc\nB="\nmore"\n')
    assert env.values() == {"A": "abc", "B": "\nmore"}
    assert [(p.line, p.code) for p in env.problems] == [(1, "unterminated-quote")]


def test_text_after_closing_quote() -> None:
    env = parse('A="x" y\nB=2')
    assert env.values() == {"A": "x", "B": "2"}
    assert problems('A="x" y') == [
        (1, "syntax", 'unexpected text after the closing quote of A; comments start with "#"')
    ]


def test_duplicate_key_last_wins() -> None:
    env = parse("A=1\nDB_HOST=old\nB=2\nDB_HOST=new\n")
    assert env.values() == {"A": "1", "B": "2", "DB_HOST": "new"}
    assert env.get("DB_HOST") == EnvEntry("DB_HOST", "new", 4, None, None)
    assert [(p.line, p.code, p.message) for p in env.problems] == [
        (4, "duplicate", "DB_HOST is set twice (first on line 2); the last value wins — remove one")
    ]


def test_key_set_three_times() -> None:
    assert problems("A=1\nA=2\nA=3")[1] == (
        3,
        "duplicate",
        "A is set 3 times (first on line 1); the last value wins — keep only one",
    )


def test_bom_is_stripped_and_reported() -> None:
    env = parse("\ufeffA=1\n")
    assert env.values() == {"A": "1"}
    assert [(p.line, p.code, p.message) for p in env.problems] == [
        (1, "bom", "the file starts with a byte order mark (BOM); save it as UTF-8 without BOM")
    ]


def test_crlf_is_parsed_and_reported_once() -> None:
    env = parse('# doc\r\nA=1\r\nB="x\r\ny"\r\n')
    assert env.values() == {"A": "1", "B": "x\ny"}
    assert env.get("A").doc == "doc"  # type: ignore[union-attr]
    assert [(p.line, p.code, p.message) for p in env.problems] == [
        (
            1,
            "crlf",
            "the file has Windows (CRLF) line endings; they were read correctly, "
            "but save it with Unix (LF) line endings",
        )
    ]


def test_crlf_reported_at_first_line_that_has_it() -> None:
    assert [(p.line, p.code) for p in parse("A=1\nB=2\r\nC=3\r\n").problems] == [(2, "crlf")]


def test_messages_never_contain_values() -> None:
    secret = "s3cr3t-VALUE"
    text = (
        f'A={secret}\nA={secret}\nB=\'{secret}\nC="{secret}" {secret}\n{secret}\nD="{secret}\nE=1\n'
    )
    for problem in parse(text).problems:
        assert secret not in problem.message


# --- read_env_file -------------------------------------------------------------------------


def test_read_env_file(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"A=\xc3\xa9t\xc3\xa9\n")
    assert read_env_file(path) == EnvFile(path, (EnvEntry("A", "été", 1, None, None),), ())


def test_read_missing_file(tmp_path: Path) -> None:
    path = tmp_path / ".env.production"
    with pytest.raises(EnvFileError) as caught:
        read_env_file(path)
    assert str(caught.value) == (
        f"{path}: file not found\ncreate it, or fix the path in conveyor.toml"
    )


def test_read_directory(tmp_path: Path) -> None:
    with pytest.raises(EnvFileError) as caught:
        read_env_file(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}: is a directory, not a .env file\npoint the setting in conveyor.toml at a file"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of their mode")
def test_read_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    path.chmod(0)
    with pytest.raises(EnvFileError) as caught:
        read_env_file(path)
    assert str(caught.value) == (
        f"{path}: permission denied\n"
        "make the file readable by this user (chown it to yourself, then chmod 600)"
    )


def test_read_other_os_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / ".env"
    with pytest.raises(EnvFileError) as caught:
        read_env_file(path)
    assert str(caught.value) == f"{path}: cannot be read (Not a directory)"


def test_read_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"A=1\nB=caf\xe9\n")
    with pytest.raises(EnvFileError) as caught:
        read_env_file(path)
    assert str(caught.value) == (
        f"{path}: is not UTF-8 text (invalid byte on line 2)\nsave it as UTF-8"
    )


def test_read_utf16(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes("A=1\n".encode("utf-16"))
    with pytest.raises(EnvFileError) as caught:
        read_env_file(path)
    assert str(caught.value) == f"{path}: is UTF-16 encoded\nsave it as UTF-8 (without BOM)"


def test_read_keeps_bom_problem(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"\xef\xbb\xbfA=1\r\n")
    env = read_env_file(path)
    assert env.values() == {"A": "1"}
    assert [p.code for p in env.problems] == ["bom", "crlf"]


# --- fuzzing -------------------------------------------------------------------------------

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"
KEYS = st.builds(
    str.__add__,
    st.sampled_from(_LETTERS),
    st.text(alphabet=_LETTERS + "0123456789.-", max_size=12),
)
JUNK = st.sampled_from(["", " ", "#", "=", '"', "'", "\\", "\r", "\n", "\r\n", "\ufeff", "\x00"])
LINES = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", KEYS, st.text(max_size=20)),
    st.builds(lambda k, v: f'export {k}="{v}"', KEYS, st.text(max_size=20)),
    st.builds(lambda k, v: f"{k} = '{v}' # c", KEYS, st.text(max_size=20)),
    st.builds(lambda t: f"# {t}", st.text(max_size=20)),
    st.lists(JUNK, max_size=6).map("".join),
    st.text(max_size=20),
)
ENV_TEXTS = st.lists(LINES, max_size=15).map("\n".join)


def line_count(text: str) -> int:
    return text.replace("\r\n", "\n").replace("\r", "\n").count("\n") + 1


def check_invariants(text: str) -> None:
    env = parse(text)
    lines = line_count(text)
    for problem in env.problems:
        assert 1 <= problem.line <= lines
        assert problem.message
    for entry in env.entries:
        assert 1 <= entry.line <= lines
    assert len(env.keys()) == len(set(env.keys()))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_fuzz_any_text(text: str) -> None:
    check_invariants(text)


@settings(max_examples=300, deadline=None)
@given(ENV_TEXTS)
def test_fuzz_env_like_text(text: str) -> None:
    check_invariants(text)


def serialise(value: str, style: str) -> str:
    """Write a value the way a person (or conveyor) would, falling back to double quotes."""
    plain_ok = (
        value == value.strip()
        and value[:1] not in ("'", '"', "#")
        and not any(c in value for c in "\n\r")
        and not any(c.isspace() and value[i + 1 : i + 2] == "#" for i, c in enumerate(value))
    )
    if style == "plain" and plain_ok:
        return value
    if style == "single" and not any(c in value for c in "'\n\r"):
        return f"'{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'


# Every character a value may hold: control characters other than tab and newline are refused.
VALUES = st.text(
    st.characters(exclude_characters=[*map(chr, range(9)), *map(chr, range(11, 32)), "\x7f"])
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(KEYS, VALUES, max_size=10),
    st.lists(st.sampled_from(["plain", "single", "double"]), min_size=10, max_size=10),
    st.booleans(),
    st.booleans(),
)
def test_round_trip(values: dict[str, str], styles: list[str], export: bool, crlf: bool) -> None:
    lines = [
        f"{'export ' if export else ''}{key}={serialise(value, style)}"
        for (key, value), style in zip(values.items(), styles, strict=False)
    ]
    text = ("\r\n" if crlf else "\n").join(lines)
    env = parse(text)
    assert env.values() == values
    assert [p.code for p in env.problems] in ([], ["crlf"])


def test_problem_type_is_frozen() -> None:
    problem = EnvProblem(1, "syntax", "m")
    with pytest.raises(AttributeError):
        problem.line = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("A=ok\nB=x\x00y\n", 2, "a NUL byte"),
        ('A="one\ntwo\x1b[31m"\n', 2, "a control character (U+001B)"),
        ('A="x\\ry"\n', 1, "a control character (U+000D)"),
    ],
)
def test_control_characters_in_a_value_are_refused_by_line(text: str, line: int, what: str) -> None:
    env = parse(text)
    key = env.entries[-1].key
    assert [(p.line, p.code, p.message) for p in env.problems] == [
        (
            line,
            "control-character",
            f"the value of {key} holds {what}; remove it "
            "(only tab, and newline inside quotes, are allowed)",
        )
    ]


def test_tab_and_quoted_newlines_are_kept() -> None:
    env = parse('A=a\tb\nB="one\ntwo"\n')
    assert env.values() == {"A": "a\tb", "B": "one\ntwo"} and env.problems == ()
