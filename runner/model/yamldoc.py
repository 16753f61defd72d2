"""Read YAML into plain data while keeping where every key and value stood.

PyYAML's safe loader loses positions, accepts duplicate keys (the last one
silently wins) and, following YAML 1.1, reads ``1e6`` or ``2.45e9`` as strings.
Scenario authors write sample rates and frequencies exactly like that, so this
loader composes the node tree itself, resolves floats the YAML 1.2 way, refuses
duplicate keys, and returns a map from JSON path to position for messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runner.model.problems import Problem

JsonPath = tuple[str | int, ...]

MAX_BYTES = 1 << 20  # a scenario or inventory is a few kilobytes; refuse megabytes
MAX_NODES = 100_000  # bounds alias expansion ("billion laughs") in values
# ... and in bytes: one long string aliased a few thousand times stays under
# MAX_NODES yet expands to gigabytes, which every later pass (the schema's
# messages quote values) would copy again. Keys and scalars count, as written.
MAX_EXPANDED_BYTES = 4 * MAX_BYTES
MAX_DEPTH = 64  # a scenario nests a few levels; libyaml's composer overflows the C stack far deeper

_FLOAT_12 = re.compile(
    r"""^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
    |[0-9][0-9_]*[eE][-+]?[0-9]+
    |\.(?:inf|Inf|INF)|[-+]\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.VERBOSE,
)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader (libyaml's when present: twice as fast) with YAML 1.2
    floats and timestamps left as strings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "-+.0123456789":
    _Loader.yaml_implicit_resolvers[_first] = [
        (tag, regexp)
        for tag, regexp in _Loader.yaml_implicit_resolvers.get(_first, [])
        if tag != "tag:yaml.org,2002:float"
    ] + [("tag:yaml.org,2002:float", _FLOAT_12)]


@dataclass(frozen=True, kw_only=True)
class Position:
    line: int
    column: int


@dataclass(frozen=True, kw_only=True)
class YamlDocument:
    """A parsed YAML file: its data and where each part of it stands."""

    path: Path
    display: str
    data: Any
    values: dict[JsonPath, Position] = field(default_factory=dict)
    keys: dict[JsonPath, Position] = field(default_factory=dict)

    def position(self, path: JsonPath, *, key: bool = False) -> Position:
        """Where ``path`` stands (its key when ``key``), else its nearest ancestor."""
        if key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found is not None:
                return found
        return Position(line=1, column=1)

    def problem(self, path: JsonPath, message: str, *, key: bool = False) -> Problem:
        where = self.position(path, key=key)
        prefix = f"{format_path(path)}: " if path else ""
        return Problem(
            file=self.display, line=where.line, column=where.column, message=prefix + message
        )


def as_mapping(value: object) -> dict[str, Any]:
    """``value`` when it is a mapping, else an empty one: for checks that run on raw data."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """``value`` when it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def format_path(path: JsonPath) -> str:
    """``('roles', 'tx', 'command', 0)`` -> ``roles.tx.command[0]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


class _Refused(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


Loaded = tuple[YamlDocument | None, list[Problem]]


def load_yaml(path: Path, *, display: str | None = None) -> Loaded:
    """Parse one YAML file into a document and the problems met on the way.

    The document is None when the file cannot be read as YAML at all; it is
    returned together with problems that spare the rest of the file (each
    duplicate key is reported and its first value kept). Never raises.
    """
    shown = display or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Problem(file=shown, message=f"cannot read the file: {exc.strerror or exc}")]
    if len(raw) > MAX_BYTES:
        message = f"file is {len(raw)} bytes; a scenario or inventory may be at most {MAX_BYTES}"
        return None, [Problem(file=shown, message=message)]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        return None, [Problem(file=shown, message=message)]
    return parse_yaml(text, path=path, display=shown)


def parse_yaml(text: str, *, path: Path, display: str) -> Loaded:
    too_deep = _too_deep(text)
    if too_deep is not None:
        return None, [
            Problem(
                file=display,
                line=too_deep.line,
                column=too_deep.column,
                message=f"nested more than {MAX_DEPTH} levels deep; a scenario needs a few",
            )
        ]
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_problem(exc, text, display)]
    except yaml.reader.ReaderError as exc:
        return None, [_character_problem(exc, text, display)]
    except yaml.YAMLError as exc:
        message = " ".join(str(exc).split())  # one line: the output is one problem a line
        return None, [Problem(file=display, message=f"not valid YAML: {message}")]
    finally:
        loader.dispose()
    if root is None:
        return None, [Problem(file=display, line=1, column=1, message="the file is empty")]
    builder = _Builder(loader, display)
    try:
        data = builder.build(root, ())
    except _Refused as refused:
        return None, [refused.problem]
    except RecursionError:  # a last resort: depth and self-reference are refused before
        return None, [Problem(file=display, line=1, column=1, message="nested too deeply")]
    document = YamlDocument(
        path=path, display=display, data=data, values=builder.values, keys=builder.keys
    )
    return document, builder.problems


def _too_deep(text: str) -> Position | None:
    """Where collections first nest deeper than MAX_DEPTH, from the parser's events.

    Events come without recursion; composing does not, and libyaml's composer
    crashes the process on a few hundred thousand nested brackets. Text that
    does not parse is left to the composer, which reports the syntax error.
    """
    loader = _Loader(text)
    depth = 0
    try:
        while (event := loader.get_event()) is not None:
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    if mark is None:
                        return Position(line=1, column=1)
                    return Position(line=mark.line + 1, column=mark.column + 1)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    return None


def _character_problem(exc: yaml.reader.ReaderError, text: str, display: str) -> Problem:
    """A character YAML does not allow (control characters, some non-characters), where it stands.

    The reader says only its offset, and over several lines: give line and column.
    """
    at = min(max(exc.position, 0), len(text))
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    character = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "?")
    message = f"character U+{character:04X} is not allowed in YAML ({exc.reason}); remove it"
    return Problem(file=display, line=line, column=column, message=message)


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, display: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return Problem(file=display, message=f"YAML syntax error: {exc.problem or exc}")
    lines = text.splitlines()
    line_text = lines[mark.line] if mark.line < len(lines) else ""
    indentation = line_text[: len(line_text) - len(line_text.lstrip(" \t"))]
    # the parser's words for a tab vary (PyYAML vs libyaml); the source does not
    if "\t" in indentation or line_text[mark.column : mark.column + 1] == "\t":
        message = "a tab character is not allowed here: YAML indents with spaces only"
    else:
        message = f"YAML syntax error: {exc.problem or 'not valid YAML'}"
        if exc.context:
            message += f" ({exc.context}"
            if exc.context_mark is not None and exc.context_mark is not mark:
                message += f" at line {exc.context_mark.line + 1}"
            message += ")"
    return Problem(file=display, line=mark.line + 1, column=mark.column + 1, message=message)


def _reason(exc: yaml.YAMLError) -> str:
    """The error's own words on one line: its position is the problem's."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        return exc.problem
    return " ".join(str(exc).split())


class _Builder:
    def __init__(self, loader: _Loader, display: str) -> None:
        self.loader = loader
        self.display = display
        self.values: dict[JsonPath, Position] = {}
        self.keys: dict[JsonPath, Position] = {}
        self.problems: list[Problem] = []
        self.count = 0
        self.expanded = 0  # bytes of text in keys and scalars, every alias counted again
        self.open: set[int] = set()  # collections being built: an alias to one is a cycle

    def _refuse(self, node: yaml.Node, message: str) -> _Refused:
        mark = node.start_mark
        return _Refused(
            Problem(file=self.display, line=mark.line + 1, column=mark.column + 1, message=message)
        )

    def build(self, node: yaml.Node, path: JsonPath) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self._refuse(
                node,
                f"the document expands to more than {MAX_NODES} values "
                "(aliases repeated too often?); refused",
            )
        mark = node.start_mark
        self.values[path] = Position(line=mark.line + 1, column=mark.column + 1)
        if isinstance(node, yaml.ScalarNode):
            self._expand(node)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            if id(node) in self.open:
                raise self._refuse(node, "an alias refers to the collection that contains it")
            self.open.add(id(node))
            try:
                if isinstance(node, yaml.MappingNode):
                    return self._mapping(node, path)
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            finally:
                self.open.discard(id(node))
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise self._refuse(node, f"cannot read this value: {_reason(exc)}") from None

    def _expand(self, scalar: yaml.ScalarNode) -> None:
        self.expanded += len(scalar.value.encode("utf-8", "surrogatepass"))
        if self.expanded > MAX_EXPANDED_BYTES:
            raise self._refuse(
                scalar,
                f"the document expands to more than {MAX_EXPANDED_BYTES} bytes of text "
                "(a long value aliased too often?); refused",
            )

    def _mapping(self, node: yaml.MappingNode, path: JsonPath) -> dict[str, Any]:
        # '<<' merges come first after flattening; a key written in the mapping
        # itself overrides a merged one, and only those written keys can clash
        written = {id(key) for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge"}
        try:
            self.loader.flatten_mapping(node)
        except yaml.YAMLError as exc:
            raise self._refuse(node, f"cannot merge this mapping: {_reason(exc)}") from None
        result: dict[str, Any] = {}
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self._refuse(key_node, "a key must be a plain value, not a list or mapping")
            self._expand(key_node)
            try:
                key = self.loader.construct_object(key_node)
            except yaml.YAMLError as exc:  # a tag no constructor knows, e.g. "!!x key: 1"
                raise self._refuse(key_node, f"cannot read this key: {_reason(exc)}") from None
            if not isinstance(key, str):
                # keys such as 1, true or null are almost always mistakes in
                # a scenario; keep them as text so the schema names them
                key = str(key_node.value)
            key_path = (*path, key)
            here = Position(
                line=key_node.start_mark.line + 1, column=key_node.start_mark.column + 1
            )
            if id(key_node) in written:  # merged keys are overridden silently
                if key in seen:
                    first = self.keys[key_path]
                    message = (
                        f"{format_path(key_path)}: duplicate key '{key}' "
                        f"(first defined at line {first.line}); remove one of them"
                    )
                    self.problems.append(
                        Problem(
                            file=self.display, line=here.line, column=here.column, message=message
                        )
                    )
                    continue
                seen.add(key)
            self.keys[key_path] = here
            result[key] = self.build(value_node, key_path)
        return result
