"""The positioned YAML loader: what PyYAML gets wrong for scenario authors."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.model import yamldoc
from runner.model.yamldoc import load_yaml, parse_yaml


def parse(text: str) -> yamldoc.Loaded:
    return parse_yaml(text, path=Path("x.yaml"), display="x.yaml")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e6", 1e6),
        ("2.45e9", 2.45e9),
        ("915E6", 915e6),
        ("1.5e-3", 1.5e-3),
        ("-2e3", -2e3),
        (".5", 0.5),
        ("10", 10),
        ("0x10", 16),
        ("1_000", 1000),
        ("2024-01-01", "2024-01-01"),  # dates stay text: no datetime leaks into JSON
        ("TX/RX", "TX/RX"),
        ("e6", "e6"),
    ],
)
def test_scalars_resolve_like_yaml_1_2(text: str, value: object) -> None:
    document, problems = parse(f"v: {text}\n")
    assert problems == []
    assert document is not None
    assert document.data["v"] == value
    assert type(document.data["v"]) is type(value)


def test_positions_of_keys_and_values_are_one_based() -> None:
    document, _ = parse("a:\n  b: [1, 2]\n  c: x\n")
    assert document is not None
    assert document.keys[("a", "c")] == yamldoc.Position(line=3, column=3)
    assert document.values[("a", "b", 1)] == yamldoc.Position(line=2, column=10)
    # an absent path falls back to its nearest ancestor
    assert document.position(("a", "b", 7)) == yamldoc.Position(line=2, column=6)


def test_every_duplicate_key_is_reported_and_the_first_value_kept() -> None:
    document, problems = parse("a: 1\nb: 2\na: 3\nb: 4\n")
    assert document is not None and document.data == {"a": 1, "b": 2}
    assert [str(p) for p in problems] == [
        "x.yaml:3:1: a: duplicate key 'a' (first defined at line 1); remove one of them",
        "x.yaml:4:1: b: duplicate key 'b' (first defined at line 2); remove one of them",
    ]


def test_merge_keys_work_and_do_not_count_as_duplicates() -> None:
    document, problems = parse("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n")
    assert problems == []
    assert document is not None and document.data["other"] == {"x": 1, "y": 3}


def test_a_tab_in_the_indentation_is_named() -> None:
    document, problems = parse("a:\n\tb: 1\n")
    assert document is None
    assert [str(p) for p in problems] == [
        "x.yaml:2:1: a tab character is not allowed here: YAML indents with spaces only"
    ]


def test_alias_expansion_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamldoc, "MAX_NODES", 50)
    text = "a: &a [1, 2, 3, 4, 5, 6, 7, 8]\nb: [*a, *a, *a, *a, *a, *a, *a, *a]\n"
    document, problems = parse(text)
    assert document is None
    assert "expands to more than 50 values" in problems[0].message


@pytest.mark.parametrize(
    "text",
    [
        "pad: &s " + "x" * 40 + "\nlist: [*s, *s, *s]\n",  # values, aliased
        "k: &m {" + "y" * 40 + ": 1}\nlist: [*m, *m, *m]\n",  # keys, aliased
    ],
)
def test_expanded_text_is_bounded_in_bytes(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamldoc, "MAX_EXPANDED_BYTES", 100)
    document, problems = parse(text)
    assert document is None
    assert [(p.line, p.message) for p in problems] == [
        (
            1,
            "the document expands to more than 100 bytes of text "
            "(a long value aliased too often?); refused",
        )
    ]


def test_non_mapping_keys_are_refused() -> None:
    document, problems = parse("? [a, b]\n: 1\n")
    assert document is None
    assert problems[0].message == "a key must be a plain value, not a list or mapping"


def test_unreadable_files_give_problems_not_exceptions(tmp_path: Path) -> None:
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"name: \xff\xfe\n")
    assert load_yaml(binary)[1][0].message.startswith("not UTF-8 text")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (yamldoc.MAX_BYTES + 1))
    assert "may be at most" in load_yaml(big)[1][0].message
    assert load_yaml(tmp_path / "missing.yaml")[1][0].message.startswith("cannot read the file")
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    assert load_yaml(folder)[0] is None


@pytest.mark.parametrize(
    "text",
    ["a: &a [*a]\n", "a: &a {b: *a}\n"],
)
def test_an_alias_into_its_own_collection_is_refused(text: str) -> None:
    document, problems = parse(text)
    assert document is None
    assert "an alias refers to the collection that contains it" in problems[0].message


@pytest.mark.parametrize(
    "text",
    [
        "[" * 200_000,  # crashed libyaml's composer
        "a:" + " [" * 70 + " 1" + " ]" * 70 + "\n",
    ],
)
def test_hostile_nesting_is_refused_not_crashed_on(text: str) -> None:
    # radiops's promise, whichever of radiops and the YAML library refuses first (libyaml
    # 6.0.4 refuses deep flow nesting itself, in words of its own): no document, one
    # problem at a position in the file, in words that name the nesting
    document, problems = parse(text)
    assert document is None
    (problem,) = problems
    assert problem.file == "x.yaml" and problem.line >= 1 and problem.column >= 1
    assert "nest" in problem.message.lower()
