"""Every generated YAML file, written by PyYAML: block style, strings quoted when in doubt."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from yaml.emitter import Emitter
from yaml.nodes import MappingNode, Node, ScalarNode
from yaml.representer import SafeRepresenter
from yaml.resolver import BaseResolver, Resolver
from yaml.serializer import Serializer

_PLAIN = re.compile(r"^[A-Za-z_./][A-Za-z0-9_ ./@:-]*$")
# Words YAML 1.1 reads as something other than a string.
_RESERVED = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"})
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_STR = "tag:yaml.org,2002:str"


def plain(text: str) -> bool:
    """True when `text` reads back as this string to every YAML reader, unquoted."""
    if not _PLAIN.match(text) or text.lower() in _RESERVED or text.endswith((":", " ")):
        return False
    return ": " not in text and " #" not in text


class _Resolver(BaseResolver):
    """PyYAML's resolver, but only true/false are booleans (as in YAML 1.2 and GitHub).

    Keys such as `on` are then written unquoted, as GitHub's own examples write them;
    values that YAML 1.1 readers would take for booleans are still quoted by `_string`.
    """


for _first, _resolvers in Resolver.yaml_implicit_resolvers.items():
    for _tag, _regexp in _resolvers:
        if _tag != "tag:yaml.org,2002:bool":
            _Resolver.add_implicit_resolver(_tag, _regexp, [_first] if _first else None)
_Resolver.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))


class _Representer(SafeRepresenter):
    """Flow style for lists of scalars, `|` for multi-line text, nothing for null."""

    def represent_mapping(
        self, tag: str, mapping: Any, flow_style: bool | None = None
    ) -> MappingNode:
        node = super().represent_mapping(tag, mapping, flow_style=False)
        for key, _value in node.value:
            if isinstance(key, ScalarNode) and key.tag == _STR:
                # `on` stays plain as GitHub writes it; other doubtful keys are quoted.
                key.style = None if key.value == "on" or plain(key.value) else '"'
        return node


def _string(dumper: _Representer, text: str) -> Node:
    if "\n" in text:
        return dumper.represent_scalar(_STR, text, style="|")
    return dumper.represent_scalar(_STR, text, style=None if plain(text) else '"')


def _sequence(dumper: _Representer, values: Sequence[Any]) -> Node:
    flat = all(not isinstance(v, (Mapping, list, tuple)) for v in values)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", values, flow_style=flat)


def _null(dumper: _Representer, _value: None) -> Node:
    return dumper.represent_scalar("tag:yaml.org,2002:null", "")


_Representer.add_representer(str, _string)
_Representer.add_representer(list, _sequence)
_Representer.add_representer(tuple, _sequence)
_Representer.add_representer(type(None), _null)


class _Dumper(Emitter, Serializer, _Representer, _Resolver):
    """PyYAML's parts put together; a list under a key is indented below it."""

    def __init__(self, stream: Any, **kwargs: Any) -> None:
        Emitter.__init__(self, stream, width=kwargs.get("width"), allow_unicode=True)
        Serializer.__init__(self)
        _Representer.__init__(self, sort_keys=False)
        _Resolver.__init__(self)

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def dump(data: Mapping[str, Any], *, header: str = "") -> str:
    """The document for `data`, after `header` (comment lines)."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    body = yaml.dump(dict(data), Dumper=_Dumper, width=10_000)
    return "".join(f"{line}\n" for line in lines) + body


def load(text: str) -> Any:
    """Read a generated file back with the writer's booleans (`on` is a string, as on GitHub)."""
    return yaml.load(text, Loader=_Loader)  # nosec B506 - a SafeLoader: plain types only


class _Loader(yaml.SafeLoader):
    """SafeLoader with the same booleans as `_Dumper`."""


_Loader.yaml_implicit_resolvers = {
    key: list(value) for key, value in _Resolver.yaml_implicit_resolvers.items()
}
