"""The result manifest contract against its example corpus.

Every file in ``tests/examples/manifest/valid`` must validate. Every file in
``invalid`` must fail with exactly the errors ``invalid/EXPECT.json`` pins for
it: the JSON path of each error, the keyword that failed and a substring of
its message. A schema that rejects an invalid example for another reason, or
for more reasons than pinned, fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from tests.testing.repos import EXAMPLES, PROJECT

SCHEMA_PATH = PROJECT / "schemas" / "manifest.schema.json"
CORPUS = EXAMPLES / "manifest"
EXPECT_PATH = CORPUS / "invalid" / "EXPECT.json"


def _strict_json(path: Path) -> Any:
    """Parse ``path`` as strict JSON: NaN and Infinity are not JSON."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{path.name}: {constant} is not JSON")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


SCHEMA: dict[str, Any] = _strict_json(SCHEMA_PATH)
EXPECT: dict[str, list[dict[str, str]]] = _strict_json(EXPECT_PATH)
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _cases(validity: str) -> list[Path]:
    return sorted(p for p in (CORPUS / validity).glob("*.json") if p != EXPECT_PATH)


def _errors(instance: Any) -> list[ValidationError]:
    return sorted(VALIDATOR.iter_errors(instance), key=lambda e: (e.json_path, str(e.validator)))


def _explain(errors: list[ValidationError]) -> str:
    return "\n".join(f"  {e.json_path} [{e.validator}] {e.message}" for e in errors)


def test_the_corpus_has_cases_of_both_kinds_each_with_its_expectation() -> None:
    # the parametrized corpus tests pass vacuously when a glob matches nothing
    valid, invalid = _cases("valid"), _cases("invalid")
    assert len(valid) >= 3 and len(invalid) >= 10
    assert sorted(EXPECT) == sorted(p.name for p in invalid)


def test_the_schema_is_a_valid_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"] == "https://radiops.dev/schemas/manifest.schema.json"


def _subschemas(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema that describes a value: properties, items, map values, $defs."""
    if not isinstance(node, dict):
        return
    yield where, node
    for key in ("properties", "$defs"):
        for name, sub in node.get(key, {}).items():
            yield from _subschemas(sub, f"{where}/{key}/{name}")
    for key in ("items", "additionalProperties"):
        yield from _subschemas(node.get(key), f"{where}/{key}")
    for key in ("then", "else"):  # conditional refinements of properties
        for name, sub in node.get(key, {}).get("properties", {}).items():
            yield from _subschemas(sub, f"{where}/{key}/properties/{name}")


def test_every_value_schema_has_its_own_title_and_description() -> None:
    """Not only properties: $defs, list items and map values too, written in place."""
    missing = [
        where
        for where, sub in _subschemas(SCHEMA, "#")
        if not (isinstance(sub.get("title"), str) and sub["title"].strip())
        or not (isinstance(sub.get("description"), str) and sub["description"].strip())
    ]
    assert missing == []


def test_every_def_is_used_and_every_reference_resolves() -> None:
    refs = {ref.removeprefix("#/$defs/") for ref in _refs(SCHEMA)}
    defs = set(SCHEMA["$defs"])
    assert sorted(refs - defs) == [], "dangling references"
    assert sorted(defs - refs) == [], "unused definitions"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                # only local references: the contract stands alone
                assert isinstance(value, str) and value.startswith("#/$defs/"), value
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_the_corpus_has_the_cases_the_contract_promises() -> None:
    assert len(_cases("valid")) >= 3
    assert len(_cases("invalid")) >= 8


def test_expect_pins_every_invalid_file_and_nothing_else() -> None:
    assert sorted(EXPECT) == [p.name for p in _cases("invalid")]
    for name, pins in EXPECT.items():
        assert pins, f"{name}: pins no error"
        for pin in pins:
            assert set(pin) == {"path", "keyword", "message"}, f"{name}: {pin}"
            assert pin["message"], f"{name}: an empty message pins nothing"


@pytest.mark.parametrize("case", _cases("valid"), ids=lambda p: p.stem)
def test_valid_manifest_validates(case: Path) -> None:
    errors = _errors(_strict_json(case))
    assert errors == [], f"{case.name}:\n{_explain(errors)}"


@pytest.mark.parametrize("case", _cases("invalid"), ids=lambda p: p.stem)
def test_invalid_manifest_fails_for_exactly_the_pinned_reasons(case: Path) -> None:
    pins = sorted(EXPECT[case.name], key=lambda p: (p["path"], p["keyword"]))
    errors = _errors(_strict_json(case))
    assert len(errors) == len(pins), f"{case.name}: expected {len(pins)} error(s), got:\n" + (
        _explain(errors)
    )
    for error, pin in zip(errors, pins, strict=True):
        got = (error.json_path, str(error.validator))
        assert got == (pin["path"], pin["keyword"]), f"{case.name}:\n{_explain(errors)}"
        assert pin["message"] in error.message, f"{case.name}: {error.message!r}"


def test_a_valid_manifest_minus_any_required_key_is_refused() -> None:
    """Every top-level required key is really required, and nothing else breaks."""
    base = _strict_json(CORPUS / "valid" / "simulated-hello.json")
    for key in SCHEMA["required"]:
        broken = {k: v for k, v in base.items() if k != key}
        messages = [e.message for e in _errors(broken)]
        assert messages == [f"{key!r} is a required property"], key


@pytest.mark.parametrize(
    ("path", "verdict"),
    [
        ("greeting.txt", True),
        ("captures/rx.sigmf-data", True),
        ("a/..b/c..", True),
        ("..", False),
        ("../x", False),
        ("a/../b", False),
        ("a/..", False),
        ("/etc/passwd", False),
        ("a\\b", False),
        ("a\nb", False),
        ("", False),
    ],
)
def test_relative_paths_refuse_escapes(path: str, verdict: bool) -> None:
    schema = {"$defs": SCHEMA["$defs"], "$ref": "#/$defs/relative_path"}
    assert Draft202012Validator(schema).is_valid(path) is verdict


@pytest.mark.parametrize("case", _cases("invalid"), ids=lambda p: p.stem)
def test_plain_messages_name_the_failing_key(case: Path) -> None:
    from runner.model.schemas import data_errors

    messages = data_errors(_strict_json(case), "manifest")
    pinned = json.loads((case.parent / "EXPECT.json").read_text(encoding="utf-8"))[case.name]
    for expected in pinned:
        where = expected["path"].removeprefix("$").removeprefix(".")
        assert any(m.startswith(where) for m in messages), messages
    assert all("Traceback" not in m for m in messages)


def test_plain_messages_are_empty_for_a_valid_manifest() -> None:
    from runner.model.schemas import data_errors

    for case in _cases("valid"):
        assert data_errors(_strict_json(case), "manifest") == []
