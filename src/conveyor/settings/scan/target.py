"""Where rewritten code reads settings from: the project's settings object, or the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from conveyor.errors import ConfigError


@dataclass(frozen=True)
class Target:
    """How code refers to a setting, and the class that declares settings (if any)."""

    module: str | None
    import_name: str
    accessor: str
    class_file: Path | None
    class_name: str | None
    existing: dict[str, str]
    # Each field's default as written in the class (source text), by upper-case name.
    defaults: dict[str, str] = field(default_factory=dict)

    def expression(self, setting: str, *, is_int: bool) -> str:
        """Python source for a setting's value: `settings.DB_PORT`, `os.environ["X"]`."""
        if self.module is None:
            read = f'os.environ["{setting}"]'
            return f"int({read})" if is_int else read
        return f"{self.accessor}.{self.attribute(setting)}"

    def attribute(self, setting: str) -> str:
        """The attribute name the class already uses for a setting, matching case as pydantic."""
        return self.existing.get(setting.upper(), setting)


ENVIRONMENT = Target(None, "os", "os.environ", None, None, {})


def module_file(root: Path, module: str) -> Path | None:
    """The file of a dotted module in the project (flat or src layout)."""
    relative = Path(*module.split("."))
    for base in (root, root / "src"):
        for candidate in (base / relative.with_suffix(".py"), base / relative / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def find_target(root: Path, spec: str | None) -> Target:
    """The object of the `[settings] class` (package.module:Class), else the environment."""
    if not spec:
        return ENVIRONMENT
    module, _, class_name = spec.partition(":")
    path = module_file(root, module)
    hint = "check [settings] class in conveyor.toml (the form is package.module:ClassName)"
    if path is None:
        raise ConfigError(
            f"cannot find the module {module} of the settings class {spec}", hint=hint
        )
    try:
        tree = cst.parse_module(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, cst.ParserSyntaxError) as error:
        raise ConfigError(f"{path}: cannot be read as Python ({error})", hint=hint) from None
    classes = [s for s in tree.body if isinstance(s, cst.ClassDef) and s.name.value == class_name]
    if not classes:
        raise ConfigError(f"{path}: has no class {class_name}", hint=hint)
    existing = _declared(classes[0])
    defaults = _defaults(classes[0])
    for statement in tree.body:
        found = _instance(statement, class_name)
        if found:
            return Target(module, found, found, path, class_name, existing, defaults)
        if isinstance(statement, cst.FunctionDef) and _returns(statement, class_name):
            name = statement.name.value
            return Target(module, name, f"{name}()", path, class_name, existing, defaults)
    raise ConfigError(
        f"{path}: has no settings object to import (like `settings = {class_name}()`)",
        hint=f"add `settings = {class_name}()` to {path.name}, or a function returning one",
    )


def _declared(node: cst.ClassDef) -> dict[str, str]:
    """Fields and properties of the class, by upper-case name."""
    names: dict[str, str] = {}
    body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
    for item in body:
        if isinstance(item, cst.FunctionDef):
            names[item.name.value.upper()] = item.name.value
        elif isinstance(item, cst.SimpleStatementLine):
            for small in item.body:
                if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                    names[small.target.value.upper()] = small.target.value
    return names


def _defaults(node: cst.ClassDef) -> dict[str, str]:
    """Fields' literal defaults (`DB_PORT: int = 5432` -> "5432"), by upper-case name."""
    found: dict[str, str] = {}
    body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
    for item in body:
        for small in item.body if isinstance(item, cst.SimpleStatementLine) else ():
            if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                value = small.value
                if isinstance(value, cst.SimpleString) and isinstance(value.evaluated_value, str):
                    found[small.target.value.upper()] = value.evaluated_value
                elif isinstance(value, cst.Integer):
                    found[small.target.value.upper()] = value.value
    return found


def _instance(statement: cst.BaseStatement, class_name: str) -> str | None:
    """`settings` for a module-level `settings = Settings(...)`."""
    if not isinstance(statement, cst.SimpleStatementLine):
        return None
    for small in statement.body:
        if (
            isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Name)
            and isinstance(small.value, cst.Call)
            and isinstance(small.value.func, cst.Name)
            and small.value.func.value == class_name
        ):
            return small.targets[0].target.value
    return None


def _returns(function: cst.FunctionDef, class_name: str) -> bool:
    returns = function.returns
    if returns is None:
        return False
    annotation = returns.annotation
    if isinstance(annotation, cst.SimpleString):
        return annotation.evaluated_value == class_name
    return isinstance(annotation, cst.Name) and annotation.value == class_name
