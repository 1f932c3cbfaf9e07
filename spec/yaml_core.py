"""YAML for specs: the YAML 1.2 core schema only, with every expansion bounded before anything is built.

PyYAML's safe loader speaks YAML 1.1, whose surprises change a spec's meaning silently (``1:30`` is 90,
``no`` is false, ``010`` is 8, ``2024-02-30`` is a date) and whose tags (``!!timestamp``, ``!!binary``,
``!!set``) build values no field takes. Here plain scalars resolve only to the core schema's null, bool, int
and float (anything else is a string, for the field to judge), explicit tags are limited to those types and
checked against the same patterns, and a document is refused before construction when its aliases expand to
more values than any spec has (billion laughs) or refer to themselves, when it nests deeper than any spec, or
when a mapping repeats a key.
Merge keys (``<<: *defaults``) stay allowed: they only repeat what the document already holds, within the budget.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.composer import Composer, ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner, ScannerError

# Values a document may expand to, aliases followed: the largest example (spec or stack file) has 69.
MAX_VALUES = 20_000
# Collections inside collections: a spec nests about 5 deep. PyYAML's scanner takes time quadratic in the flow
# nesting depth (2,000 brackets: seconds) and its composer recurses, so the depth is refused before either matters.
MAX_DEPTH = 64
# How much of a user's text (a tag, a scalar) an error quotes.
QUOTE_WIDTH = 40

STR, INT, FLOAT, BOOL, NULL, SEQ, MAP, MERGE = (f"tag:yaml.org,2002:{name}" for name in (
    "str", "int", "float", "bool", "null", "seq", "map", "merge"))

# The core schema's patterns (YAML 1.2.2, 10.3.2): plain, anchored, no nested quantifiers.
NULL_PATTERN = re.compile(r"(?:~|null|Null|NULL|)\Z")
BOOL_PATTERN = re.compile(r"(?:true|True|TRUE|false|False|FALSE)\Z")
INT_PATTERN = re.compile(r"(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\Z")
FLOAT_PATTERN = re.compile(r"(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                           r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\Z")


def quoted(text: str) -> str:
    """``text`` as an error quotes it: cut before ``repr``, so a huge scalar never becomes a huge message."""
    return repr(text[:QUOTE_WIDTH]) + ("..." if len(text) > QUOTE_WIDTH else "")


def short_tag(tag: str) -> str:
    """A tag as the user wrote it: ``!!bool`` rather than ``tag:yaml.org,2002:bool``."""
    return tag.replace("tag:yaml.org,2002:", "!!", 1) if tag.startswith("tag:yaml.org,2002:") else tag


class CoreResolver(BaseResolver):
    """Plain scalars resolve to the core schema's types; everything else is a string."""


for _tag, _pattern, _first in ((NULL, NULL_PATTERN, "~nN"), (BOOL, BOOL_PATTERN, "tTfF"),
                               (INT, INT_PATTERN, "-+0123456789"), (FLOAT, FLOAT_PATTERN, "-+.0123456789")):
    CoreResolver.add_implicit_resolver(_tag, _pattern, [*_first] + ([""] if _tag == NULL else []))
CoreResolver.add_implicit_resolver(MERGE, re.compile(r"<<\Z"), ["<"])


class CoreConstructor(SafeConstructor):
    """Builds only strings, the core schema's scalars, lists and mappings; any other tag is refused."""

    yaml_constructors: dict[Any, Any] = {}

    def _scalar(self, node: yaml.Node, pattern: re.Pattern[str], what: str) -> str:
        value = self.construct_scalar(node)
        if not pattern.match(value):
            raise ConstructorError(None, None, f"{quoted(value)} is not {what} (tag {short_tag(node.tag)})",
                                   node.start_mark)
        return value

    def construct_core_null(self, node: yaml.Node) -> None:
        self._scalar(node, NULL_PATTERN, "null")

    def construct_core_bool(self, node: yaml.Node) -> bool:
        return self._scalar(node, BOOL_PATTERN, "true or false").lower() == "true"

    def construct_core_int(self, node: yaml.Node) -> int:
        value = self._scalar(node, INT_PATTERN, "an integer")
        base = {"0o": 8, "0x": 16}.get(value[:2], 10)
        try:
            return int(value[2:] if base != 10 else value, base)
        except ValueError:  # more digits than Python converts (4,300)
            raise ConstructorError(None, None, f"{quoted(value)} has too many digits", node.start_mark) from None

    def construct_core_float(self, node: yaml.Node) -> float:
        value = self._scalar(node, FLOAT_PATTERN, "a number").lower()
        return float(value.replace(".inf", "inf").replace(".nan", "nan"))

    def construct_unknown(self, node: yaml.Node) -> None:
        raise ConstructorError(None, None, f"tag {quoted(short_tag(node.tag))} is not allowed (a spec takes strings, "
                               "numbers, true/false, null, lists and mappings)", node.start_mark)


CoreConstructor.add_constructor(STR, SafeConstructor.construct_yaml_str)
CoreConstructor.add_constructor(SEQ, SafeConstructor.construct_yaml_seq)
CoreConstructor.add_constructor(MAP, SafeConstructor.construct_yaml_map)
CoreConstructor.add_constructor(NULL, CoreConstructor.construct_core_null)
CoreConstructor.add_constructor(BOOL, CoreConstructor.construct_core_bool)
CoreConstructor.add_constructor(INT, CoreConstructor.construct_core_int)
CoreConstructor.add_constructor(FLOAT, CoreConstructor.construct_core_float)
CoreConstructor.add_constructor(None, CoreConstructor.construct_unknown)


class CoreLoader(Reader, Scanner, Parser, Composer, CoreConstructor, CoreResolver):
    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        CoreConstructor.__init__(self)
        CoreResolver.__init__(self)

    def fetch_flow_collection_start(self, TokenClass: type) -> None:  # noqa: N803 (PyYAML's name)
        """``[`` or ``{``: refused past :data:`MAX_DEPTH` open collections, block and flow together."""
        self._check_depth(len(self.indents) + self.flow_level + 1)
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column: int) -> bool:
        """A block collection opening (a deeper column): refused past :data:`MAX_DEPTH` as a flow one is."""
        if self.indent < column:
            self._check_depth(len(self.indents) + self.flow_level + 1)
        return super().add_indent(column)

    def _check_depth(self, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ScannerError(None, None, f"collections nested deeper than {MAX_DEPTH} levels", self.get_mark())


def load_mapping(text: str) -> dict[str, Any] | None:
    """The one document in ``text``, a mapping (``None`` when there is none), or a ``yaml.YAMLError`` with a
    mark."""
    loader = CoreLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_node(node)
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        found = "an empty document" if data is None else f"a {type(data).__name__}"
        raise _refusal(f"expected a mapping, found {found}", node)
    return data


def check_node(root: yaml.Node) -> None:
    """Refuse, before anything is built, a document that expands past :data:`MAX_VALUES` (aliases followed), an
    alias inside what it names, a key that is not a string or is given twice in one mapping."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    todo: list[tuple[yaml.Node, bool]] = [(root, False)]
    while todo:
        node, done = todo.pop()
        children = _children(node)
        if done:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[id(node)] > MAX_VALUES:
                raise _refusal(f"expands past {MAX_VALUES:,} values (aliases followed); a spec needs far fewer", node)
            continue
        if id(node) in sizes:
            continue
        if id(node) in open_nodes:
            raise _refusal("an alias refers to a collection that contains it", node)
        open_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            _check_keys(node)
        todo.append((node, True))
        todo.extend((child, False) for child in children if id(child) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_keys(node: yaml.MappingNode) -> None:
    seen: set[str] = set()
    for key, _ in node.value:
        if key.tag == MERGE:
            continue
        if key.tag != STR or not isinstance(key, yaml.ScalarNode):
            found = f"{quoted(key.value)} reads as {key.tag.rsplit(':', 1)[-1]}" \
                if isinstance(key, yaml.ScalarNode) else "a collection"
            raise _refusal(f"a key must be a string: {found} (quote it)", key)
        if key.value in seen:
            raise _refusal(f"key {quoted(key.value)} is given twice in one mapping", key)
        seen.add(key.value)


def _refusal(problem: str, node: yaml.Node) -> yaml.MarkedYAMLError:
    return ComposerError(None, None, problem, node.start_mark)
