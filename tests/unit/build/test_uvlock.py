"""uv.lock export: runtime packages only, extras followed, markers kept, local sources skipped."""

from __future__ import annotations

import pytest

from conveyor.build.uvlock import export_uv_lock
from conveyor.errors import BuildError, ConfigError


def test_export(uv_lock_text: str) -> None:
    assert sorted(p.line() for p in export_uv_lock(uv_lock_text)) == [
        "anyio==4.4.0",
        "colorama==0.4.6 ; sys_platform == 'win32'",
        "fastapi==0.115.0",
        "lib @ git+https://github.com/example/lib@0123456789abcdef",
        "numpy==1.26.4 ; python_version < '3.12'",
        "numpy==2.0.0 ; python_version >= '3.12'",
        "psycopg-binary==3.2.1 ; implementation_name != 'pypy'",
        "psycopg==3.2.1",
        "sniffio==1.3.1 ; (sys_platform == 'win32') and (python_version < '3.13')",
    ]


def test_no_root_package_is_an_error() -> None:
    text = 'version = 1\n[[package]]\nname = "x"\nversion = "1"\nsource = { registry = "https://pypi.org/simple" }\n'
    with pytest.raises(BuildError) as raised:
        export_uv_lock(text)
    assert str(raised.value) == (
        'uv.lock: no package for the project itself (source editable or virtual ".")'
    )


def test_a_missing_dependency_is_an_error() -> None:
    text = """
version = 1
[[package]]
name = "app"
version = "0.1.0"
source = { virtual = "." }
dependencies = [{ name = "ghost" }]
"""
    with pytest.raises(BuildError) as raised:
        export_uv_lock(text)
    assert (
        str(raised.value)
        == "uv.lock: app depends on ghost, which the lock does not list\nrun: uv lock"
    )


def test_invalid_toml_names_the_file() -> None:
    with pytest.raises(ConfigError) as raised:
        export_uv_lock("version = = 1\n")
    assert str(raised.value).startswith("uv.lock:1: invalid TOML:")
