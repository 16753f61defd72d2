"""Property-based fuzzing of what a pull request controls: scenarios, the
inventory and ``--set`` values (issue 8, item 8).

``radiops validate`` and ``radiops run`` (in-process, through ``runner.cli.app.main``
as the console script calls it) must meet every generated file with a clear
answer: exit 0, 1 or 2 (3 for ``run``, whose engine here never answers), each
problem printed as ``file:line:column: message`` and never a traceback. ``run``
must refuse an invalid scenario at validation, before any engine is asked:
DOCKER_HOST points at a socket that does not exist, so reaching Docker would
show as exit 3.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.testing.repos import (
    EXAMPLES,
    PROJECT,
    add_scenario,
    make_example_repo,
    make_run_repo,
)
from tests.testing.repos import radiops_in_process as radiops

SCENARIO = "experiments/fuzz/experiment.yaml"
TESTBED = "testbed.yaml"
FUZZ = settings(
    max_examples=int(os.environ.get("RADIOPS_FUZZ_EXAMPLES", "300")),
    deadline=None,
    database=None,  # writes no .hypothesis/ folder into the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- what the fuzzer writes ----------------------------------------------------------------

HOSTILE_TEXT = [
    "",
    " ",
    "../../etc/passwd",
    "/etc/shadow",
    "images/../../../../root",
    "a/../../b",
    "$(touch /tmp/pwned)",
    "`touch /tmp/pwned`",
    "; rm -rf / #",
    "x' || touch /tmp/pwned '",
    "\x00",
    "\u202e\u0000\ufeff",
    "%s%n%x",
    "{{ 7 * 7 }}",
    "<script>alert(1)</script>",
    "A" * 70_000,
    "~root",
    "-rf",
    "--help",
    "2.45e9",
    "1e999",
    "NaN",
    ".inf",
    "0x10",
    "0o777",
    "null",
    "yes",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(HOSTILE_TEXT),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=12), st.sampled_from(HOSTILE_TEXT)), children, max_size=4
        ),
    ),
    max_leaves=12,
)


def _examples(kind: str) -> list[Any]:
    return [
        yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in sorted((EXAMPLES / kind / "valid").glob("*.yaml"))
    ]


def _paths(data: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield here
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*here, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, (*here, index))


@st.composite
def mutated(draw: st.DrawFn, valid: list[Any]) -> Any:
    """A valid document with a few of its parts replaced, removed or added."""
    data = copy.deepcopy(draw(st.sampled_from(valid)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(list(_paths(data))))
        if not path:
            continue
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(VALUES)
        elif action == "remove":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(VALUES)
        else:
            parent.append(draw(VALUES))
    return data


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=10**6)


@st.composite
def garbled(draw: st.DrawFn, valid: list[Any]) -> str:
    """The text of a valid document with characters inserted or removed: broken YAML."""
    text = _dump(draw(st.sampled_from(valid)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        if draw(st.booleans()):
            text = (
                text[:at]
                + draw(
                    st.sampled_from(
                        [
                            ":",
                            "- ",
                            "\t",
                            "{",
                            "]",
                            "&a ",
                            "*a",
                            "!!",
                            "'",
                            "\n  ",
                            "<<: *a\n",
                            "? ",
                        ]
                    )
                )
                + text[at:]
            )
        else:
            text = text[:at] + text[at + draw(st.integers(min_value=1, max_value=8)) :]
    return text


def documents(valid: list[Any]) -> st.SearchStrategy[bytes]:
    """Structurally plausible mutations, broken YAML, arbitrary YAML, arbitrary text and bytes."""
    return st.one_of(
        mutated(valid).map(lambda data: _dump(data).encode()),
        mutated(valid).map(lambda data: json.dumps(data, default=str).encode()),
        garbled(valid).map(str.encode),
        VALUES.map(lambda data: _dump(data).encode()),
        st.text(max_size=300).map(lambda text: text.encode("utf-8", "surrogatepass")),
        st.binary(max_size=300),
    )


# -- how radiops is asked --------------------------------------------------------------------


PROBLEM = re.compile(r"^(?P<file>[^:]+):(?:(?P<line>\d+):(?P<column>\d+):)? .")
SUMMARY = re.compile(r"^\d+ problems? in \d+ files?$")


def assert_clear(code: int, err: str, *, files: set[str], codes: set[int]) -> None:
    """Exit ``codes`` only; every line of stderr a problem in one of ``files`` or the summary.

    Lines are split at newlines only and must be printable: a control character
    quoted from the file could otherwise forge a line or drive the terminal.
    """
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in codes, (code, err)
    lines = err.removesuffix("\n").split("\n")
    for line in lines:
        assert line.isprintable(), f"unprintable output: {line!r}"
    if code == 1:
        assert lines and SUMMARY.match(lines[-1]), err
        for line in lines[:-1]:
            found = PROBLEM.match(line)
            assert found is not None, f"not file:line:column: {line!r}"
            assert found["file"] in files, line


@pytest.fixture(scope="module")
def no_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """DOCKER_HOST at a socket nothing listens on: reaching Docker is exit 3, never a hang."""
    dead = tmp_path_factory.mktemp("engine") / "docker.sock"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOCKER_HOST", f"unix://{dead}")
        yield


SCENARIOS = _examples("experiment")
TESTBEDS = _examples("testbed")


VALID = "name: fuzz\ndescription: d\nduration: 10\nroles:\n  main: {image: images/hello}\n"


@FUZZ
@given(content=documents(SCENARIOS))
# what the fuzzer found once, kept: each was a traceback or a forged line
@example(content=b"\x1f")  # a control character: the reader's error, over two lines
@example(content=b"!!- name: x\n")  # a tag no constructor knows, on a key
@example(content=VALID.encode() + b'"a\\nfuzz/experiment.yaml:1:1: forged": 1\n')
@example(content=VALID.replace("10", str(10**400)).encode())  # int too large for a float
@example(content=VALID.replace("10", ".nan").encode())  # passes every minimum
@example(content=VALID.encode() + b"parameters: {p: {type: [], default: 1}}\n")
@example(content=VALID.replace("{image", "{radio: {type: []}, image").encode())
def test_validate_answers_every_scenario_clearly(tmp_path: Path, content: bytes) -> None:
    repo = tmp_path / "repo"
    if not repo.exists():
        make_example_repo(tmp_path)
        add_scenario(repo, "fuzz", "")
    (repo / SCENARIO).write_bytes(content)
    code, _, err = radiops(repo, "validate", "experiments/fuzz")
    assert_clear(code, err, files={SCENARIO, "experiments/fuzz"}, codes={0, 1})


@FUZZ
@given(content=documents(TESTBEDS))
def test_validate_answers_every_inventory_clearly(tmp_path: Path, content: bytes) -> None:
    repo = tmp_path / "repo"
    if not repo.exists():
        make_example_repo(tmp_path)
    (repo / TESTBED).write_bytes(content)
    code, _, err = radiops(repo, "validate", TESTBED)
    assert_clear(code, err, files={TESTBED}, codes={0, 1})


@FUZZ
@given(content=documents(SCENARIOS))
def test_run_refuses_an_invalid_scenario_before_any_engine(
    tmp_path: Path, no_engine: None, content: bytes
) -> None:
    repo = tmp_path / "runrepo"
    if not repo.exists():
        make_run_repo(tmp_path)
        add_scenario(repo, "fuzz", "")
    (repo / SCENARIO).write_bytes(content)
    code, _, err = radiops(repo, "run", "experiments/fuzz", "--wait", "1")
    # 3: a valid scenario reached the (absent) engine; it must say so, not crash
    assert_clear(code, err, files={SCENARIO, "experiments/fuzz"}, codes={1, 2, 3})


PARAMETERS = """\
parameters:
  text: {type: string, default: x}
  count: {type: integer, default: 1, minimum: 0, maximum: 10}
  level: {type: number, default: 0.5}
  on: {type: boolean, default: false}
  mode: {type: string, default: a, choices: [a, b]}
"""


@FUZZ
@given(
    sets=st.lists(
        st.builds(
            "{}{}{}".format,
            st.sampled_from(["text", "count", "level", "on", "mode", "", "nope", "TEXT"]),
            st.sampled_from(["=", "", "=="]),
            st.one_of(st.text(max_size=30), st.sampled_from(HOSTILE_TEXT)),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_run_answers_every_set_value_clearly(
    tmp_path: Path, no_engine: None, sets: list[str]
) -> None:
    repo = tmp_path / "runrepo"
    if not repo.exists():
        make_run_repo(tmp_path)
        script = "true"
        from tests.testing.repos import shell_scenario

        add_scenario(repo, "fuzz", shell_scenario("fuzz", script=script, extra=PARAMETERS))
    args = [arg for value in sets for arg in ("--set", value)]
    code, _, err = radiops(repo, "run", "experiments/fuzz", "--wait", "1", *args)
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in {2, 3}, (code, err)  # a refused --set, or the absent engine


# -- a sample in real processes: what would kill an interpreter, not just raise -------------

HOSTILE_FILES = {
    "deep-flow": b"a: " + b"[" * 200_000,
    "deep-block": b"".join(b"  " * i + b"k:\n" for i in range(2_000)),
    "alias-bomb": b"a: &a [x, x, x, x, x, x, x, x, x]\n"
    + b"".join(
        b"%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n" % ((c, c) + (c - 1,) * 8)
        for c in range(98, 110)
    ),
    "python-object": b"name: !!python/object/apply:os.system ['touch /tmp/pwned']\n",
    "nul-bytes": b"name: a\x00b\n",
    "not-utf8": b"name: \xff\xfe\n",
    "too-big": b"# " + b"x" * (1 << 20) + b"\n",
    "bom": b"\xef\xbb\xbfname: bom\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_a_hostile_file_gets_a_clear_answer_from_a_real_process(tmp_path: Path, name: str) -> None:
    repo = make_example_repo(tmp_path)
    add_scenario(repo, "fuzz", "")
    (repo / SCENARIO).write_bytes(HOSTILE_FILES[name])
    result = subprocess.run(
        [sys.executable, "-m", "runner", "validate", "experiments/fuzz"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
    )
    assert_clear(result.returncode, result.stderr, files={SCENARIO}, codes={1})
    assert not Path("/tmp/pwned").exists()
