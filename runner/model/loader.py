"""The one way a kind of file becomes a record: parse, schema, semantic checks, build."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from runner.model.problems import Problem
from runner.model.schemas import SchemaName, schema_problems
from runner.model.yamldoc import YamlDocument, load_yaml

T = TypeVar("T")
Read = tuple[YamlDocument | None, T | None, list[Problem]]


def read_checked(
    path: Path,
    *,
    display: str | None,
    schema: SchemaName,
    not_a_mapping: str,
    semantic: Callable[[YamlDocument], list[Problem]],
    build: Callable[[dict[str, Any]], T],
) -> Read[T]:
    """Every problem of the file at ``path``, and its record when there are none.

    Never raises for bad input. Semantic checks run even when the schema
    failed (they guard their own types), so one pass reports everything.
    """
    document, problems = load_yaml(path, display=display)
    if document is None:
        return None, None, problems
    if not isinstance(document.data, dict):
        problems.append(document.problem((), not_a_mapping))
        return document, None, problems
    problems += schema_problems(document, schema)
    problems += semantic(document)
    if problems:
        return document, None, problems
    return document, build(document.data), []
