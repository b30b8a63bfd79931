"""libcst rewrites that keep formatting and comments: literals to settings, fields to a class."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor
from libcst.metadata import MetadataWrapper, PositionProvider

Position = tuple[int, int]  # line (1-based), column (0-based, in characters)
# An edit replaces the whole literal with an expression, or (prefix, expression) replaces
# the literal's leading text: "http://localhost:8000/api/v1/x" -> f"{settings.API}/x".
Edit = str | tuple[str, str]


class _Replace(cst.CSTTransformer):
    """Replaces the literal starting at each position with an expression."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, edits: dict[Position, Edit]) -> None:
        super().__init__()
        self.edits = edits
        self.applied: set[Position] = set()
        self.inside_concatenation = 0

    def _key(self, node: cst.BaseExpression) -> Position | None:
        start = self.get_metadata(PositionProvider, node).start
        # The range includes the node's own parentheses; the scan points past them.
        opened = 0
        for paren in getattr(node, "lpar", ()):
            space = paren.whitespace_after
            opened += 1 + (len(space.value) if isinstance(space, cst.SimpleWhitespace) else 0)
        for key in ((start.line, start.column), (start.line, start.column + opened)):
            if key in self.edits and key not in self.applied:
                return key
        return None

    def _swap(
        self, original: cst.BaseExpression, updated: cst.BaseExpression
    ) -> cst.BaseExpression:
        key = self._key(original)
        if key is None:
            return updated
        edit = self.edits[key]
        if isinstance(edit, tuple):
            replacement = _prefixed(updated, *edit)
            if replacement is None:
                return updated
        else:
            replacement = cst.parse_expression(edit)
        self.applied.add(key)
        return replacement.with_changes(lpar=updated.lpar, rpar=updated.rpar)

    def visit_ConcatenatedString(self, node: cst.ConcatenatedString) -> None:
        self.inside_concatenation += 1

    def leave_ConcatenatedString(
        self, original_node: cst.ConcatenatedString, updated_node: cst.ConcatenatedString
    ) -> cst.BaseExpression:
        self.inside_concatenation -= 1
        return self._swap(original_node, updated_node)

    def leave_SimpleString(
        self, original_node: cst.SimpleString, updated_node: cst.SimpleString
    ) -> cst.BaseExpression:
        # A piece of "a" "b" starts where the whole does; only the whole is replaced.
        if self.inside_concatenation:
            return updated_node
        return self._swap(original_node, updated_node)

    def leave_FormattedString(
        self, original_node: cst.FormattedString, updated_node: cst.FormattedString
    ) -> cst.BaseExpression:
        if self.inside_concatenation:
            return updated_node
        return self._swap(original_node, updated_node)

    def leave_Integer(
        self, original_node: cst.Integer, updated_node: cst.Integer
    ) -> cst.BaseExpression:
        return self._swap(original_node, updated_node)


def _prefixed(node: cst.BaseExpression, prefix: str, expression: str) -> cst.BaseExpression | None:
    """The string as an f-string whose leading `prefix` is `{expression}`; None if it cannot be."""
    code = cst.Module([]).code_for_node(node.with_changes(lpar=[], rpar=[]))
    if isinstance(node, cst.SimpleString) and "b" not in node.prefix.lower():
        start = node.prefix + node.quote
        body = code[len(start) : len(code) - len(node.quote)]
        rest = body[len(prefix) :].replace("{", "{{").replace("}", "}}")
        new = f"f{start}{{{expression}}}{rest}{node.quote}"
    elif isinstance(node, cst.FormattedString):
        start = node.start
        body = code[len(start) :]
        new = f"{start}{{{expression}}}{body[len(prefix) :]}"
    else:
        return None
    return cst.parse_expression(new) if body.startswith(prefix) else None


def replace_literals(
    source: str, edits: dict[Position, Edit], *, module: str, name: str | None
) -> tuple[str, set[Position]]:
    """The source with literals replaced and `from module import name` added once."""
    wrapper = MetadataWrapper(cst.parse_module(source))
    replace = _Replace(edits)
    tree = wrapper.visit(replace)
    if replace.applied:
        context = CodemodContext()
        AddImportsVisitor.add_needed_import(context, module, name)
        old_second = tree.body[1] if len(tree.body) > 1 else None
        tree = AddImportsVisitor(context).transform_module(tree)
        if len(tree.body) > 1 and not (old_second and tree.body[1].deep_equals(old_second)):
            tree = _space_after_docstring(tree)
    return tree.code, replace.applied


def _space_after_docstring(tree: cst.Module) -> cst.Module:
    """The import just added right under the module docstring gets a blank line above it."""
    body = list(tree.body)
    if len(body) < 2 or tree.get_docstring() is None:
        return tree
    second = body[1]
    if (
        isinstance(second, cst.SimpleStatementLine)
        and isinstance(second.body[0], cst.Import | cst.ImportFrom)
        and not second.leading_lines
    ):
        body[1] = second.with_changes(leading_lines=[cst.EmptyLine()])
    return tree.with_changes(body=body)


class _AddToClass(cst.CSTTransformer):
    """Adds field lines after the class's last field, and methods at its end."""

    def __init__(self, class_name: str, fields: Sequence[str], methods: Sequence[str]) -> None:
        super().__init__()
        self.class_name, self.fields, self.methods = class_name, fields, methods
        self.found = False

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        if original_node.name.value != self.class_name or not isinstance(
            updated_node.body, cst.IndentedBlock
        ):
            return updated_node
        self.found = True
        body = list(updated_node.body.body)
        # After the last field; with no field yet, after the docstring, which must stay first.
        after = 1 if body and _is_docstring(body[0]) else 0
        for index, item in enumerate(body):
            if isinstance(item, cst.SimpleStatementLine) and any(
                isinstance(small, cst.AnnAssign) for small in item.body
            ):
                after = index + 1
        fields = [cst.parse_statement(line + "\n") for line in self.fields]
        methods = [cst.parse_statement(text) for text in self.methods]
        body = [*body[:after], *fields, *body[after:], *methods]
        return updated_node.with_changes(body=updated_node.body.with_changes(body=body))


def _is_docstring(statement: cst.BaseStatement) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, cst.SimpleString | cst.ConcatenatedString)
    )


def add_to_class(
    source: str, class_name: str, *, fields: Sequence[str], methods: Sequence[str]
) -> str:
    """The module source with fields (`NAME: str`) and methods added to one class."""
    adder = _AddToClass(class_name, fields, methods)
    tree = cst.parse_module(source).visit(adder)
    return tree.code
