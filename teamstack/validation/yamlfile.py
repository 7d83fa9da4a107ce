"""Strict YAML for every file the platform reads: stack files, Pulumi.yaml, policy values.

PyYAML's safe loader keeps the last of two equal keys, where the Pulumi engine (Go yaml.v3) refuses the file
and a reviewer reads the first; it also expands aliases without bound, so a few lines of nested aliases hang
the tool ("billion laughs"). Here a duplicate key, an alias to a collection that itself holds aliases, more
than `MAX_NODES` nodes once aliases are expanded, and a file over `MAX_BYTES` are refused, with the line.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from teamstack.validation import shorten

MAX_BYTES = 1024 * 1024  # a stack or policy file is a few KB; Pulumi's own config values stay far below this
MAX_NODES = 100_000  # after alias expansion


class YamlRefused(ValueError):
    """A YAML file the platform will not read: `where` is 'line N' (or '-'), `reason` the one-line cause."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where, self.reason = where, reason


def _line(node: Node) -> str:
    return f"line {node.start_mark.line + 1}"


class _StrictComposer(Composer):
    """Records which nodes were reached through an alias, so nested aliases can be refused."""

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):  # type: ignore[attr-defined]
            event = self.peek_event()  # type: ignore[attr-defined]
            anchor = event.anchor
            if anchor in self.anchors:
                target = self.anchors[anchor]
                if isinstance(target, MappingNode | SequenceNode) and _holds_alias(target, self._aliased):
                    mark = event.start_mark
                    raise YamlRefused(
                        f"line {mark.line + 1}",
                        f"alias *{shorten(anchor, 40)} points to a collection that itself uses aliases; "
                        "nested aliases are refused (they can expand without bound), write the values out",
                    )
                self._aliased.add(id(target))
        return super().compose_node(parent, index)

    def compose_document(self) -> Node | None:
        self._aliased: set[int] = set()
        return super().compose_document()


def _holds_alias(node: Node, aliased: set[int]) -> bool:
    stack, seen = [node], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            return True  # a cycle: an alias back into its own collection
        seen.add(id(current))
        children: list[Node] = []
        if isinstance(current, SequenceNode):
            children = list(current.value)
        elif isinstance(current, MappingNode):
            children = [part for pair in current.value for part in pair]
        for child in children:
            if id(child) in aliased:
                return True
            stack.append(child)
    return False


class _StrictConstructor(SafeConstructor):
    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            first: dict[Any, Node] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node)
                try:
                    earlier = first.get(key)
                except TypeError:
                    continue
                if earlier is not None:
                    raise YamlRefused(
                        _line(key_node),
                        f"key '{shorten(key, 60)}' appears twice in one mapping (first at {_line(earlier)}); "
                        "the Pulumi engine refuses duplicate keys and a reviewer reads the first: keep one",
                    )
                first[key] = key_node
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]


_StrictConstructor.add_constructor(  # type: ignore[type-var]
    "tag:yaml.org,2002:map", _StrictConstructor.construct_yaml_map
)


class _StrictLoader(Reader, Scanner, Parser, _StrictComposer, _StrictConstructor, Resolver):
    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _StrictComposer.__init__(self)
        _StrictConstructor.__init__(self)
        Resolver.__init__(self)


def _count(node: Node) -> int:
    """Nodes once aliases are expanded (each alias counts its whole target again)."""
    total, stack = 0, [node]
    while stack:
        current = stack.pop()
        total += 1
        if total > MAX_NODES:
            raise YamlRefused(
                _line(current), f"more than {MAX_NODES} values once aliases are expanded; write the values out"
            )
        if isinstance(current, SequenceNode):
            stack.extend(current.value)
        elif isinstance(current, MappingNode):
            stack.extend(part for pair in current.value for part in pair)
    return total


def load(text: str) -> Any:
    """Parse one YAML document strictly. Raises YamlRefused (with the line) or YamlRefused('-') for size."""
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_BYTES:
        raise YamlRefused("-", f"is {size} bytes; files the platform reads are at most {MAX_BYTES} bytes")
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _count(node)
        return loader.construct_document(node)
    except YamlRefused:
        raise
    except ConstructorError as error:
        mark = error.problem_mark
        raise YamlRefused(
            f"line {mark.line + 1}" if mark else "-", f"not valid YAML ({shorten(error.problem, 120)})"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "-"
        raise YamlRefused(where, f"not valid YAML ({shorten(getattr(error, 'problem', error), 120)})") from None
    finally:
        loader.dispose()
