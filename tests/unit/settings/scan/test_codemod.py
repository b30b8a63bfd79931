"""libcst rewrites keep formatting and comments."""

from __future__ import annotations

import textwrap

from conveyor.settings.scan.codemod import add_to_class, replace_literals


def rewrite(
    source: str, edits: dict[tuple[int, int], str], name: str | None = "settings"
) -> tuple[str, set[tuple[int, int]]]:
    module = "app.config" if name else "os"
    return replace_literals(textwrap.dedent(source), edits, module=module, name=name)


def test_literals_become_settings_and_the_import_is_added_once() -> None:
    source = '''
        """Docs."""
        import os

        A = "x"  # keep this comment
        B = ("y"
             "z")
        C = connect(port=5435)
        D = ( "w" )
    '''
    new, done = rewrite(
        source,
        {
            (5, 4): "settings.A",
            (6, 5): "settings.B",
            (8, 17): "settings.PORT",
            (9, 6): "settings.D",
            (30, 0): "x",
        },
    )
    assert new == textwrap.dedent('''
        """Docs."""
        import os
        from app.config import settings

        A = settings.A  # keep this comment
        B = (settings.B)
        C = connect(port=settings.PORT)
        D = ( settings.D )
    ''')
    assert done == {(5, 4), (6, 5), (8, 17), (9, 6)}


def test_existing_import_is_not_repeated_and_docstring_gets_a_blank_line() -> None:
    new, _ = rewrite('"""Docs."""\nA = f"x"\n', {(2, 4): "settings.A"})
    assert new == '"""Docs."""\n\nfrom app.config import settings\n\nA = settings.A\n'
    again, done = rewrite("from app.config import settings\nA = 'x'\n", {(2, 4): "settings.A"})
    assert again == "from app.config import settings\nA = settings.A\n"
    assert done == {(2, 4)}


def test_environment_fallback_imports_os() -> None:
    new, _ = rewrite("A = 5\n", {(1, 4): 'int(os.environ["A"])'}, name=None)
    assert new == 'import os\n\nA = int(os.environ["A"])\n'


def test_nothing_applied_leaves_the_source_alone() -> None:
    source = "A = 'x'\n"
    assert rewrite(source, {(1, 0): "settings.A"}) == (source, set())


def test_fields_go_after_the_last_field_and_methods_at_the_end() -> None:
    source = textwrap.dedent('''
        class Other:
            X: int = 1


        class Settings(BaseSettings):
            """Doc."""

            ENVIRONMENT: str = "development"  # which one

            def helper(self) -> None:
                pass
    ''')
    method = '@property\ndef URL(self) -> str:\n    return "x"\n'
    new = add_to_class(source, "Settings", fields=["A: str", "B: int"], methods=[method])
    assert new == textwrap.dedent('''
        class Other:
            X: int = 1


        class Settings(BaseSettings):
            """Doc."""

            ENVIRONMENT: str = "development"  # which one
            A: str
            B: int

            def helper(self) -> None:
                pass
            @property
            def URL(self) -> str:
                return "x"
    ''')
    assert add_to_class("class S: pass\n", "S", fields=["A: str"], methods=[]) == "class S: pass\n"


def test_urls_that_start_with_a_fixed_url_become_fstrings() -> None:
    source = """
        A = "http://h/api/v1/health"
        B = f"http://h/api/v1/stocks/{code}"
        C = r'http://h/api/v1/{x}'
        D = b"http://h/api/v1/x"
        E = "http://other/x"
    """
    prefix = ("http://h/api/v1", "settings.API")
    edits = {(2, 4): prefix, (3, 4): prefix, (4, 4): prefix, (5, 4): prefix, (6, 4): prefix}
    new, done = rewrite(source, edits)  # type: ignore[arg-type]
    assert new == textwrap.dedent("""
        from app.config import settings

        A = f"{settings.API}/health"
        B = f"{settings.API}/stocks/{code}"
        C = fr'{settings.API}/{{x}}'
        D = b"http://h/api/v1/x"
        E = "http://other/x"
    """)
    assert done == {(2, 4), (3, 4), (4, 4)}


def test_a_class_without_fields_keeps_its_docstring_first() -> None:
    source = 'class Settings(BaseSettings):\n    """Doc."""\n\n    class Config:\n        env_file = ".env"\n'
    assert add_to_class(source, "Settings", fields=["A: str"], methods=[]) == (
        'class Settings(BaseSettings):\n    """Doc."""\n    A: str\n\n    class Config:\n        env_file = ".env"\n'
    )
