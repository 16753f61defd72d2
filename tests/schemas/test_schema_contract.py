"""The schemas are a published contract: well-formed, documented, strict about typos."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.testing.repos import PROJECT

SCHEMAS = sorted((PROJECT / "schemas").glob("*.schema.json"))


def test_the_contract_sees_every_schema() -> None:
    # the parametrized checks below pass vacuously on an empty glob
    assert [p.name for p in SCHEMAS] == [
        "experiment.schema.json",
        "manifest.schema.json",
        "testbed.schema.json",
    ]


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _walk(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema, with a readable location."""
    if isinstance(node, dict):
        yield where, node
        for key in ("properties", "$defs", "patternProperties"):
            for name, sub in node.get(key, {}).items():
                yield from _walk(sub, f"{where}/{key}/{name}")
        for key in ("items", "additionalProperties", "propertyNames"):
            if isinstance(node.get(key), dict):
                yield from _walk(node[key], f"{where}/{key}")
        for key in ("anyOf", "oneOf", "allOf"):
            for i, sub in enumerate(node.get(key, [])):
                yield from _walk(sub, f"{where}/{key}/{i}")


def _resolve(schema: dict[str, Any], sub: dict[str, Any]) -> dict[str, Any]:
    ref = sub.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return {**schema["$defs"][ref.removeprefix("#/$defs/")], **sub}
    return sub


def test_there_are_three_schemas() -> None:
    assert [p.name for p in SCHEMAS] == [
        "experiment.schema.json",
        "manifest.schema.json",
        "testbed.schema.json",
    ]


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.stem)
def test_schema_is_valid_2020_12_with_an_id(path: Path) -> None:
    schema = _load(path)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/schemas/{path.name}")
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.stem)
def test_every_property_has_a_title_and_a_description(path: Path) -> None:
    schema = _load(path)
    missing = []
    for where, sub in _walk(schema, "#"):
        for name, prop in sub.get("properties", {}).items():
            full = _resolve(schema, prop)
            if not full.get("title") or not full.get("description"):
                missing.append(f"{where}/properties/{name}")
    assert missing == []


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.stem)
def test_objects_with_fixed_keys_refuse_unknown_keys(path: Path) -> None:
    schema = _load(path)
    loose = [
        where
        for where, sub in _walk(schema, "#")
        if "properties" in sub and sub.get("additionalProperties") is not False
    ]
    assert loose == []


def test_the_packaged_schemas_are_the_repository_schemas() -> None:
    from importlib.resources import files

    for path in SCHEMAS:
        shipped = (files("runner") / "schemas" / path.name).read_text(encoding="utf-8")
        assert shipped == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.stem)
def test_the_runner_ships_the_published_schemas_unchanged(path: Path) -> None:
    from importlib.resources import files

    shipped = files("runner") / "schemas" / path.name
    assert shipped.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("name", ["experiment", "testbed"])
def test_every_list_and_free_text_a_person_writes_is_bounded(name: str) -> None:
    # the YAML loader bounds the whole document; these bound each part, so a
    # long value is named where it stands instead of failing the whole file
    schema = _load(PROJECT / "schemas" / f"{name}.schema.json")
    unbounded = []
    for where, sub in _walk(schema, "#"):
        kind = sub.get("type")
        types = kind if isinstance(kind, list) else [kind]
        if "array" in types and "maxItems" not in sub:
            unbounded.append(f"{where}: an array without maxItems")
        free_text = not any(key in sub for key in ("pattern", "enum", "const", "anyOf", "$ref"))
        if "string" in types and free_text and "maxLength" not in sub:
            unbounded.append(f"{where}: a string without maxLength")
    assert unbounded == []


def test_a_parameter_value_may_be_as_long_as_the_runner_lets_it_travel() -> None:
    # the schema bounds characters, the runner bytes (a value travels in an environment
    # variable): a text the runner would carry must not be refused by the schema first
    from runner.model.parameter_values import MAX_VALUE_BYTES

    schema = _load(PROJECT / "schemas" / "experiment.schema.json")
    assert schema["$defs"]["scalar"]["maxLength"] == MAX_VALUE_BYTES
