"""Python files read as syntax trees."""

from __future__ import annotations

import textwrap

from conveyor.settings.scan.model import Finding
from conveyor.settings.scan.python import dotted, scan_python

URL = "postgresql://admin:admin123@localhost:5435/stocktrading"


def found(source: str, *, in_tests: bool = False) -> list[tuple[int, int, str, str, str, bool]]:
    result = scan_python("m.py", textwrap.dedent(source), in_tests=in_tests)
    assert not isinstance(result, str), result
    return [(f.line, f.column, f.rule, f.proposal, f.context, f.fixable) for f in result]


def findings(source: str) -> list[Finding]:
    result = scan_python("m.py", textwrap.dedent(source), in_tests=False)
    assert not isinstance(result, str)
    return result


def test_module_and_class_assignments() -> None:
    source = f'''
        DATABASE_URL = "{URL}"
        API_BASE_URL: str = "http://localhost:8000/api/v1"

        class Config:
            DB_URL = '{URL}'
            PORT = 8000
    '''
    assert found(source) == [
        (2, 16, "url-credentials", "DATABASE_URL", "assign", True),
        (3, 21, "dev-host-url", "API_BASE_URL", "assign", True),
        (6, 14, "url-credentials", "DB_URL", "assign", True),
        (7, 12, "hard-coded-port", "APP_PORT", "assign", True),
    ]


def test_connection_calls() -> None:
    source = f'''
        engine = create_engine("{URL}", echo=True)
        conn = psycopg.connect(host="localhost", port=5435, password="admin123", dbname="x")
        app = Celery("app", broker="redis://localhost:6380/0")
        client = httpx.Client(base_url="http://localhost:8000/api/v1")
        r = requests.get(f"http://localhost:8000/api/v1/stocks/{{code}}")
    '''
    assert found(source) == [
        (2, 24, "url-credentials", "DATABASE_URL", "argument", True),
        (3, 29, "hard-coded-host", "DB_HOST", "keyword", True),
        (3, 47, "hard-coded-port", "DB_PORT", "keyword", True),
        (3, 62, "hard-coded-secret", "DB_PASSWORD", "keyword", True),
        (4, 28, "dev-host-url", "CELERY_BROKER_URL", "keyword", True),
        (5, 32, "dev-host-url", "API_BASE_URL", "keyword", True),
        (6, 18, "dev-host-url", "API_BASE_URL", "argument", False),
    ]


def test_dicts_take_their_keys_and_their_parent_names() -> None:
    source = """
        DB_CONFIG = {"host": "localhost", "port": 5435, "password": "admin123", 1: "x"}
    """
    assert [(rule, proposal) for _, _, rule, proposal, _, _ in found(source)] == [
        ("hard-coded-host", "DB_HOST"),
        ("hard-coded-port", "DB_PORT"),
        ("hard-coded-secret", "DB_PASSWORD"),
    ]


def test_getenv_defaults_only_matter_when_secret() -> None:
    source = f"""
        import os
        A = os.getenv("DATABASE_URL", "{URL}")
        B = os.environ.get("DB_PASSWORD", "admin123")
        C = os.getenv("DB_HOST", "localhost")
        D = os.getenv("API_URL", "http://localhost:8000")
        E = os.environ["DB_PASSWORD"]
    """
    assert [(line, rule, context) for line, _, rule, _, context, _ in found(source)] == [
        (3, "url-credentials", "getenv"),
        (4, "hard-coded-secret", "getenv"),
    ]


def test_not_findings() -> None:
    source = f'''
        """Connect with {URL} in development."""
        import os

        TEMPLATE = "postgresql://{{user}}:{{password}}@{{host}}/{{name}}"
        PASSWORD = os.environ["DB_PASSWORD"]
        FLAG = True
        DEBUG_PORT = True

        def f():
            """Docs mention {URL} too."""
            return settings.DATABASE_URL

        class Settings(BaseSettings):
            """Defaults live here."""
            REDIS_URL: str = "redis://localhost:6379/0"
            DB_PORT: int = 5432
    '''
    assert found(source) == []


def test_secrets_in_a_settings_class_are_found_but_not_fixable() -> None:
    source = """
        class Settings(pydantic_settings.BaseSettings):
            DB_PASSWORD: str = "admin123"
    """
    assert found(source) == [(3, 24, "hard-coded-secret", "DB_PASSWORD", "assign", False)]


def test_fstrings_with_expressions_are_reported_for_a_person() -> None:
    source = """
        DB_URL = f"postgresql://admin:admin123@{HOST}:5435/db"
        PLAIN = f"http://localhost:8000/api/v1"
        X = f"{A}"
    """
    assert found(source) == [
        (2, 10, "url-credentials", "DB_URL", "assign", False),
        (3, 9, "dev-host-url", "PLAIN", "assign", True),
    ]


def test_embedded_urls_and_tokens_are_not_fixable() -> None:
    source = f"""
        MESSAGE = "connect to {URL} first"
        print("AKIAIOSFODNN7EXAMPLE")
    """
    result = findings(source)
    assert [(f.rule, f.value, f.fixable) for f in result] == [
        ("url-credentials", URL, False),
        ("known-token", "AKIAIOSFODNN7EXAMPLE", False),
    ]


def test_columns_count_characters_not_bytes() -> None:
    assert found(f'NAME = "가"; DATABASE_URL = "{URL}"')[0][1] == 28


def test_tests_are_low() -> None:
    result = scan_python("t.py", f'URL = "{URL}"\n', in_tests=True)
    assert not isinstance(result, str)
    assert [f.severity for f in result] == ["low"]
    assert result[0].line_text == f'URL = "{URL}"'


def test_files_that_do_not_parse_give_a_reason() -> None:
    assert scan_python("m.py", "PASSWORD = (\n", in_tests=False) == "not valid Python (line 1)"
    assert scan_python("m.py", "token = 1\0", in_tests=False).startswith("not valid Python")
    assert scan_python("m.py", "x = 1\n", in_tests=False) == []


def test_dotted() -> None:
    import ast

    assert dotted(ast.parse("os.environ.get").body[0].value) == "os.environ.get"  # type: ignore[attr-defined]
    assert dotted(ast.parse("f().get").body[0].value) == "get"  # type: ignore[attr-defined]


def test_only_statements_with_a_candidate_line_are_walked() -> None:
    source = """
        CONFIG = dict(
            name="x",
            url="redis://localhost:6380/0",
        )
        SETTINGS = {"a": 1}
        token = "ghp_0123456789abcdefghijklmnopqrstuvwxyz"
    """
    assert [(line, rule) for line, _, rule, *_ in found(source)] == [
        (4, "dev-host-url"),
        (7, "known-token"),
    ]


def test_decorators_are_walked_with_their_function() -> None:
    source = """
        @retry(url="redis://localhost:6380/0")
        def job():
            return 1
    """
    assert [(line, rule) for line, _, rule, *_ in found(source)] == [(2, "dev-host-url")]
