"""YAML from users, read defensively: study and trial files, ``--set`` values and study text from the environment.

``yaml.safe_load`` refuses arbitrary objects but not every hostile document. This loader also refuses:

* a file over ``MAX_BYTES`` (a study or trial file is a few KB) or one that is not UTF-8 text;
* nesting deeper than ``MAX_DEPTH`` (PyYAML composes recursively, so deep nesting would end in RecursionError);
* more than ``MAX_NODES`` nodes once aliases are expanded (a "billion laughs" file is a few hundred bytes that
  expand to 10^9 nodes when anything walks it), and an anchor that contains itself;
* a key given twice in one mapping (``safe_load`` silently keeps the last one).

Every problem becomes a one-line ConfigError naming the file, the line and what is wrong.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from vlpet.errors import ConfigError

MAX_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_NODES = 100_000
MERGE_TAG = "tag:yaml.org,2002:merge"


class YAMLRefused(yaml.YAMLError):
    """Well-formed YAML that this loader will not build (too deep, too large once expanded, duplicate keys)."""


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YAMLRefused(f"nested deeper than {MAX_DEPTH} levels{_where(self.peek_event().start_mark)}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            _check_expanded_size(node)
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != MERGE_TAG:
                    if (key.tag, key.value) in seen:
                        raise YAMLRefused(f"duplicate key {_short(key.value)}{_where(key.start_mark)}")
                    seen.add((key.tag, key.value))
        return super().construct_mapping(node, deep)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expanded_size(root: yaml.Node) -> None:
    """Count the nodes a document has once every alias is expanded, without expanding it (each shared node is
    sized once); refuse self-containing anchors and documents over MAX_NODES."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_NODES:
                raise YAMLRefused(f"more than {MAX_NODES} values once aliases are expanded (a YAML bomb?)"
                                  f"{_where(node.start_mark)}")
        elif key in on_path:
            raise YAMLRefused(f"an anchor contains an alias of itself{_where(node.start_mark)}")
        elif key not in sizes:
            on_path.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))


def _where(mark) -> str:
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""


def _short(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


def bounded_load(text: str) -> Any:
    """``yaml.safe_load`` with the limits above; raises yaml.YAMLError (YAMLRefused for the limits)."""
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def describe(error: yaml.YAMLError) -> str:
    """A YAML error on one line: what is wrong and where (PyYAML's own messages span several lines)."""
    if isinstance(error, yaml.MarkedYAMLError):
        context = f"{error.context}, " if error.context else ""
        return f"{context}{error.problem}{_where(error.problem_mark)}"
    if isinstance(error, yaml.reader.ReaderError) and isinstance(error.character, int):
        return f"unacceptable character #x{error.character:04x} at position {error.position}: {error.reason}"
    return " ".join(str(error).split())


def load_yaml(text: str, what: str) -> Any:
    """Parse ``text`` (the contents of ``what``, e.g. "study file x.yaml"); every problem is a ConfigError."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{what} is too large ({len(text)} characters; at most {MAX_BYTES})")
    try:
        return bounded_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{what} is not valid YAML: {describe(error)}") from None


def read_yaml_file(path: str | os.PathLike, what: str) -> Any:
    """Read and parse the YAML file ``path`` (``what``: "study file", "trial config file", ...)."""
    label = f"{what} {path}"
    if not os.path.isfile(path):
        raise ConfigError(f"{label} does not exist")
    size = os.path.getsize(path)
    if size > MAX_BYTES:
        raise ConfigError(f"{label} is too large ({size} bytes; at most {MAX_BYTES})")
    with open(path, "rb") as handle:
        raw = handle.read(MAX_BYTES + 1)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{label} is not UTF-8 text (byte {error.start} is {raw[error.start]:#04x})") from None
    return load_yaml(text, label)


def parse_overrides(overrides: list[str] | dict | None) -> dict[str, Any]:
    """``["lr=1e-4", "placement=[encoder.attn]"]`` → ``{"lr": 0.0001, "placement": ["encoder.attn"]}``."""
    if not overrides:
        return {}
    if isinstance(overrides, dict):
        return dict(overrides)
    parsed: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            value = bounded_load(raw)
        except yaml.YAMLError:                  # YAMLRefused included: the raw text is then the value
            value = raw
        parsed[key.strip()] = value
    return parsed
