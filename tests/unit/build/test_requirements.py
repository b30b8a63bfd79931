"""requirements.txt parsing: pins, includes, options, and every error message."""

from __future__ import annotations

import textwrap

import pytest

from conveyor.build.requirements import Pin, parse_requirement, read_requirements
from conveyor.errors import BuildError


def reader(files: dict[str, str]):  # type: ignore[no-untyped-def]
    """A Reader over a dict of dedented texts."""
    texts = {name: textwrap.dedent(text) for name, text in files.items()}
    return texts.get


@pytest.mark.parametrize(
    ("text", "line", "pinned"),
    [
        ("FastAPI==0.115.0", "fastapi==0.115.0", True),
        ("psycopg[binary] == 3.3.9", "psycopg[binary]==3.3.9", True),
        ("Foo_Bar.baz[B,a]==1.0", "foo-bar-baz[a,b]==1.0", True),
        ("pkg===1.0", "pkg===1.0", True),
        ("pkg (==1.0)", "pkg==1.0", True),
        ("pkg==1.0 ;  python_version < '3.11'", "pkg==1.0 ; python_version < '3.11'", True),
        (
            "pkg @ https://example.invalid/pkg-1.0.whl",
            "pkg @ https://example.invalid/pkg-1.0.whl",
            True,
        ),
        ("pkg", "pkg", False),
        ("pkg>=1.0", "pkg>=1.0", False),
        ("pkg==1.*", "pkg==1.*", False),
        ("pkg>=1,==1.2", "pkg>=1,==1.2", False),
        ("pkg~=1.2", "pkg~=1.2", False),
    ],
)
def test_parse_requirement(text: str, line: str, pinned: bool) -> None:
    pin = parse_requirement(text)
    assert (pin.line(), pin.pinned) == (line, pinned)


@pytest.mark.parametrize("text", ["-bad", "pkg 1.0", "./local/path"])
def test_parse_requirement_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match="cannot read requirement"):
        parse_requirement(text)


def test_includes_comments_continuations_hashes_and_options() -> None:
    read = reader(
        {
            "requirements.txt": """\
                # runtime
                --index-url https://example.invalid/simple
                -r requirements/base.txt
                -c constraints.txt
                uvicorn==0.30.0 \\
                    --hash=sha256:abc  # the server
                httpx==0.27.0; python_version >= "3.10"
            """,
            "requirements/base.txt": "--requirement=common.txt\nfastapi==0.115.0\n",
            "requirements/common.txt": "-rmore.txt\npydantic==2.8.0\n",
            "requirements/more.txt": "anyio==4.4.0\n",
        }
    )
    pins = read_requirements("requirements.txt", read)
    assert [(p.line(), p.where) for p in pins] == [
        ("anyio==4.4.0", "requirements/more.txt:1"),
        ("pydantic==2.8.0", "requirements/common.txt:2"),
        ("fastapi==0.115.0", "requirements/base.txt:2"),
        ("uvicorn==0.30.0", "requirements.txt:5"),
        ('httpx==0.27.0 ; python_version >= "3.10"', "requirements.txt:7"),
    ]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "requirements.txt: no such file in the commit"),
        (
            {"requirements.txt": "fastapi==1.0\n-r base.txt\n"},
            "requirements.txt:2: -r base.txt: no such file in the commit",
        ),
        (
            {"requirements.txt": "-r a.txt\n", "a.txt": "\n-r requirements.txt\n"},
            "a.txt:2: -r requirements.txt includes itself (via requirements.txt -> a.txt)",
        ),
        (
            {"requirements.txt": "fastapi==1.0\nfastapi 1.0\n"},
            "requirements.txt:2: cannot read requirement 'fastapi 1.0'",
        ),
        (
            {"requirements.txt": "-e ./lib\n"},
            "requirements.txt:1: -e ./lib is an editable install, which a release cannot lock\n"
            "list the package pinned (name==X.Y.Z) or make it part of the app",
        ),
    ],
)
def test_errors(files: dict[str, str], message: str) -> None:
    with pytest.raises(BuildError) as raised:
        read_requirements("requirements.txt", reader(files))
    assert str(raised.value) == message


def test_pin_line_keeps_urls_apart() -> None:
    assert Pin("pkg", "@ git+https://example.invalid/pkg@abc").line() == (
        "pkg @ git+https://example.invalid/pkg@abc"
    )
