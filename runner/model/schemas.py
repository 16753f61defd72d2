"""The published JSON Schemas and plain-word messages for their errors.

The schemas ship inside the package (``runner/schemas`` links to the
repository's ``schemas/``), so the runner always validates with its own copy,
never with one a pull request could have loosened.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable
from importlib.resources import files
from typing import Any, Literal

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from runner.model.problems import Problem
from runner.model.suggest import did_you_mean
from runner.model.yamldoc import JsonPath, YamlDocument, format_path

SchemaName = Literal["experiment", "testbed", "manifest"]


@functools.cache
def load_schema(name: SchemaName) -> dict[str, Any]:
    """The schema ``schemas/<name>.schema.json`` as shipped with the runner."""
    text = (files("runner") / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator(name: SchemaName) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        load_schema(name), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def schema_problems(document: YamlDocument, name: SchemaName) -> list[Problem]:
    """Every way ``document`` breaks schema ``name``, in plain words, with positions."""
    problems: list[Problem] = []
    for error in _validator(name).iter_errors(document.data):
        problems.extend(_translate(error, document))
    for path in _nan_paths(document.data, ()):
        # YAML's .nan passes every minimum and maximum (no comparison with it holds)
        problems.append(document.problem(path, "is .nan, not a number; give a number"))
    return problems


def _nan_paths(data: Any, path: JsonPath) -> Iterable[JsonPath]:
    if isinstance(data, float) and math.isnan(data):
        yield path
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _nan_paths(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _nan_paths(value, (*path, index))


def data_errors(data: Any, name: SchemaName) -> list[str]:
    """Plain messages for data that came from JSON rather than a YAML file."""
    messages = []
    for error in _validator(name).iter_errors(data):
        path = tuple(error.absolute_path)
        for message, sub in _explain(error):
            where = _dotted((*path, *sub))
            messages.append(f"{where}: {message}" if where else message)
    return sorted(messages)


def _translate(error: ValidationError, document: YamlDocument) -> Iterable[Problem]:
    path: JsonPath = tuple(error.absolute_path)
    for message, sub in _explain(error):
        # a problem with a key itself points at the key, not at its value
        yield document.problem((*path, *sub), message, key=bool(sub))


def _dotted(path: JsonPath) -> str:
    return format_path(path)


def _explain(error: ValidationError) -> list[tuple[str, JsonPath]]:
    """(message, extra path below the error's own path) pairs for one error."""
    kind = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    value = error.instance
    expected: Any = error.validator_value

    if _in_property_names(error):
        return [(f"not a valid name: {_pattern_hint(error)}", (str(value),))]
    if kind == "additionalProperties" and isinstance(value, dict):
        allowed = sorted(schema.get("properties", {}))
        unknown = [k for k in value if k not in schema.get("properties", {})]
        return [(_unknown_key(k, allowed), (k,)) for k in unknown]
    if kind == "required" and isinstance(value, dict):
        return [(f"missing required key '{k}'", ()) for k in expected if k not in value]
    if kind == "type":
        return [(f"expected {_type_words(expected)}, got {_describe(value)}", ())]
    if kind in ("enum", "const"):
        choices = expected if kind == "enum" else [expected]
        message = f"{_show(value)} is not one of: {', '.join(_show(c) for c in choices)}"
        guess = did_you_mean(value, [str(c) for c in choices])
        return [(message + (f" (did you mean '{guess}'?)" if guess else ""), ())]
    if kind == "pattern":
        return [(f"{_show(value)} is not valid: {_pattern_hint(error)}", ())]
    if kind in ("anyOf", "oneOf"):
        if "errorMessage" in schema:
            return [(f"{_show(value)} is not valid: {schema['errorMessage']}", ())]
        best = best_match(error.context or [])
        if best is not None:
            extra = tuple(best.absolute_path)[len(tuple(error.absolute_path)) :]
            return [(m, (*extra, *sub)) for m, sub in _explain(best)]
    bounds = {
        "minimum": "at least",
        "maximum": "at most",
        "exclusiveMinimum": "greater than",
        "exclusiveMaximum": "less than",
    }
    if kind in bounds:
        return [(f"must be {bounds[kind]} {expected} (got {_show(value)})", ())]
    counts = {
        "minItems": ("at least", "item"),
        "maxItems": ("at most", "item"),
        "minLength": ("at least", "character"),
        "maxLength": ("at most", "character"),
        "minProperties": ("at least", "entry"),
        "maxProperties": ("at most", "entry"),
    }
    if kind in counts:
        word, unit = counts[kind]
        plural = "" if expected == 1 else ("ies" if unit == "entry" else "s")
        unit = unit[:-1] if plural == "ies" else unit
        return [(f"must have {word} {expected} {unit}{plural}", ())]
    if kind == "uniqueItems":
        return [("lists the same value more than once", ())]
    if kind == "format":
        return [(f"{_show(value)} is not a valid {expected}", ())]
    return [(error.message, ())]


def _in_property_names(error: ValidationError) -> bool:
    return "propertyNames" in error.schema_path


def _pattern_hint(error: ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    hint = schema.get("patternErrorMessage")
    if isinstance(hint, str):
        return hint
    return f"must match the pattern {schema.get('pattern', error.validator_value)}"


def _unknown_key(key: str, allowed: list[str]) -> str:
    message = f"unknown key '{key}'"
    guess = did_you_mean(key, allowed)
    if guess:
        return f"{message} (did you mean '{guess}'?)"
    if allowed:
        return f"{message}; allowed here: {', '.join(allowed)}"
    return message


_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing (null)",
}


def _type_words(expected: object) -> str:
    names = expected if isinstance(expected, list) else [expected]
    return " or ".join(_TYPE_WORDS.get(str(n), str(n)) for n in names)


def _describe(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return f"the number {value}"
    return f"the string {_show(value)}"


def _show(value: object) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
