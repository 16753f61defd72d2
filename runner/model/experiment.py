"""Scenarios: ``experiments/<name>/experiment.yaml`` read into frozen records.

``read_experiment`` never raises for bad input: it returns every problem it
found (syntax, schema, and what the schema cannot say: types of defaults,
matrix over undeclared parameters, absurd durations) and a record only when
there were none. ``load_experiment`` is the strict form for commands that run.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.model.limits import Limits, limits_from
from runner.model.loader import Read, read_checked
from runner.model.parameter_values import type_problems, value_problems
from runner.model.problems import Problem, ProblemsFound
from runner.model.suggest import hint
from runner.model.units import format_duration, parse_duration
from runner.model.yamldoc import YamlDocument, as_list, as_mapping

SCENARIO_FILE = "experiment.yaml"
SCHEMA_LINE = "# yaml-language-server: $schema=../../schemas/experiment.schema.json"
MAX_DURATION_S = 24 * 3600.0
TIMEOUT_GRACE_S = 60.0
MAX_MATRIX_RUNS = 10_000
RESERVED_ENV_PREFIX = "RADIOPS_"
PACINGS = ("realtime", "fast")  # schemas/experiment.schema.json: pacing

Scalar = str | int | float | bool


@dataclass(frozen=True, kw_only=True)
class Parameter:
    name: str
    type: str
    default: Scalar
    description: str = ""
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Scalar, ...] = ()

    def problems(self, value: object) -> list[str]:
        """Why ``value`` cannot be this parameter's value (empty when it can)."""
        return value_problems(
            value, kind=self.type, minimum=self.minimum, maximum=self.maximum, choices=self.choices
        )


@dataclass(frozen=True, kw_only=True)
class RadioSettings:
    type: str | None = None
    frequency: float | None = None
    rate: float | None = None
    gain: float | None = None
    antenna: str | None = None
    channel: int | None = None
    direction: str = "rx"  # tx | rx | both

    @property
    def transmits(self) -> bool:
        return self.direction in ("tx", "both")

    @property
    def receives(self) -> bool:
        return self.direction in ("rx", "both")


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """A large input named by its content: in the artifact store, or at ``url``."""

    name: str
    sha256: str
    url: str | None = None


@dataclass(frozen=True, kw_only=True)
class Role:
    name: str
    image: str
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    env: Mapping[str, str]
    node: str | None = None
    tags: tuple[str, ...] = ()
    count: int = 1
    radio: RadioSettings | None = None
    resources: Limits = field(default_factory=Limits)
    gpus: int = 0
    datasets: tuple[Dataset, ...] = ()
    """The role's ``inputs``: datasets by sha256, mounted read-only (runner/engine/datasets.py)."""

    @property
    def image_is_path(self) -> bool:
        """True when the image is built from a directory of this repository."""
        return is_image_path(self.image)


@dataclass(frozen=True, kw_only=True)
class Output:
    path: str
    sigmf: bool = False
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class Tolerance:
    absolute: float | None = None
    relative: float | None = None
    better: str | None = None  # higher | lower: which way a change is an improvement


@dataclass(frozen=True, kw_only=True)
class OutputComparison:
    compare: str
    tolerance: float | None = None


@dataclass(frozen=True, kw_only=True)
class Author:
    name: str
    email: str = ""
    affiliation: str = ""


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """A valid scenario. Nothing here is unchecked."""

    name: str
    path: Path
    title: str
    description: str
    authors: tuple[Author, ...]
    tags: tuple[str, ...]
    duration_s: float
    timeout_s: float
    parameters: Mapping[str, Parameter]
    matrix: Mapping[str, tuple[Scalar, ...]]
    roles: Mapping[str, Role]
    outputs: tuple[Output, ...]
    metrics: str | None
    inputs: tuple[str, ...]
    metric_tolerances: Mapping[str, Tolerance]
    output_comparisons: Mapping[str, OutputComparison]
    pacing: str = "realtime"
    """How simulated radios stream: realtime, or fast (as fast as the CPUs allow)."""
    repeat: int = 1
    """How many times each matrix point runs (runner/model/repetition.py)."""

    @property
    def directory(self) -> Path:
        return self.path.parent


def is_image_path(image: str) -> bool:
    return image.startswith("images/")


def read_experiment(path: Path, *, display: str | None = None) -> Read[Experiment]:
    """Parse and check one scenario file on its own (no repository or testbed checks)."""
    return read_checked(
        path,
        display=display,
        schema="experiment",
        not_a_mapping="a scenario must be a mapping of keys (name, roles, ...)",
        semantic=_semantic_problems,
        build=lambda data: _build(data, path),
    )


def load_experiment(path: Path) -> Experiment:
    """The scenario at ``path``; raises ProblemsFound listing every problem."""
    _, experiment, problems = read_experiment(path)
    if experiment is None:
        raise ProblemsFound(problems)
    return experiment


# -- checks the schema cannot express -------------------------------------------------


def _semantic_problems(document: YamlDocument) -> list[Problem]:
    data = document.data
    problems: list[Problem] = []
    problems += _duration_problems(document, data)
    params = {
        name: spec
        for name, spec in as_mapping(data.get("parameters")).items()
        if isinstance(spec, dict)
    }
    for name, spec in params.items():
        if "default" in spec:
            for message in _spec_problems(spec, spec["default"]):
                problems.append(document.problem(("parameters", name, "default"), message))
        for i, choice in enumerate(as_list(spec.get("choices"))):
            for message in type_problems(spec.get("type"), choice):
                problems.append(document.problem(("parameters", name, "choices", i), message))
    problems += _matrix_problems(document, as_mapping(data.get("matrix")), params)
    for role_name, role in as_mapping(data.get("roles")).items():
        for key in ("command", "entrypoint"):
            text = as_mapping(role).get(key)
            if isinstance(text, str) and (reason := _split_problem(text)):
                message = f"cannot be split into words as a shell would ({reason}); close the "
                message += "quote or escape, or give the command as a list of words"
                problems.append(document.problem(("roles", role_name, key), message))
        problems += _input_problems(document, role_name, as_mapping(role))
        for key in as_mapping(as_mapping(role).get("env")):
            if key.upper().startswith(RESERVED_ENV_PREFIX):
                message = (
                    f"'{key}' is reserved: radiops sets the {RESERVED_ENV_PREFIX}* variables; "
                    "choose another name"
                )
                problems.append(
                    document.problem(("roles", role_name, "env", key), message, key=True)
                )
    return problems


def _input_problems(document: YamlDocument, role_name: str, role: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    names: set[str] = set()
    for i, item in enumerate(as_list(role.get("inputs"))):
        input_name = as_mapping(item).get("name")
        if not isinstance(input_name, str):  # the schema says what is wrong with it
            continue
        if input_name in names:
            message = f"input {input_name} is already named by this role; give each its own name"
            problems.append(document.problem(("roles", role_name, "inputs", i, "name"), message))
        names.add(input_name)
    return problems


def _duration_problems(document: YamlDocument, data: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    seconds: dict[str, float] = {}
    for key in ("duration", "timeout"):
        try:
            seconds[key] = parse_duration(data[key])
        except (KeyError, ValueError, TypeError, AttributeError):
            continue  # absent or malformed: the schema reports it
        if seconds[key] <= 0 and isinstance(data[key], str):  # numbers: the schema's minimum
            problems.append(document.problem((key,), "must be longer than zero"))
        elif seconds[key] > MAX_DURATION_S + (TIMEOUT_GRACE_S if key == "timeout" else 0):
            message = (
                f"{format_duration(seconds[key])} is longer than the "
                f"{format_duration(MAX_DURATION_S)} a run may take; split the experiment"
            )
            problems.append(document.problem((key,), message))
    if "duration" in seconds and "timeout" in seconds and seconds["timeout"] < seconds["duration"]:
        message = (
            f"timeout {format_duration(seconds['timeout'])} is shorter than duration "
            f"{format_duration(seconds['duration'])}: the run would always time out"
        )
        problems.append(document.problem(("timeout",), message))
    return problems


def _matrix_problems(
    document: YamlDocument, matrix: dict[str, Any], params: dict[str, dict[str, Any]]
) -> list[Problem]:
    problems: list[Problem] = []
    runs = 1
    for name, values in matrix.items():
        if name not in params:
            message = f"the matrix sweeps '{name}', which is not declared under parameters"
            message += hint(name, params) or "; declare it there first"
            problems.append(document.problem(("matrix", name), message, key=True))
            continue
        if not isinstance(values, list):
            continue
        runs *= max(len(values), 1)
        for i, value in enumerate(values):
            for message in _spec_problems(params[name], value):
                problems.append(document.problem(("matrix", name, i), message))
        if len({repr(v) for v in values}) != len(values):
            problems.append(document.problem(("matrix", name), "lists the same value twice"))
    if runs > MAX_MATRIX_RUNS:
        message = (
            f"the matrix expands to {runs} runs; at most {MAX_MATRIX_RUNS} are allowed "
            "in one experiment"
        )
        problems.append(document.problem(("matrix",), message, key=True))
    return problems


def _spec_problems(spec: dict[str, Any], value: object) -> list[str]:
    return value_problems(
        value,
        kind=spec.get("type"),
        minimum=spec.get("minimum"),
        maximum=spec.get("maximum"),
        choices=spec.get("choices"),
    )


# -- records --------------------------------------------------------------------------


def _split_problem(text: str) -> str | None:
    """Why shlex cannot split ``text`` (an unclosed quote, a trailing escape), or None."""
    try:
        shlex.split(text)
    except ValueError as exc:
        return str(exc).lower()
    return None


def _command(value: str | list[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(shlex.split(value)) if isinstance(value, str) else tuple(value)


def _build(data: dict[str, Any], path: Path) -> Experiment:
    duration = parse_duration(data["duration"])
    timeout = parse_duration(data["timeout"]) if "timeout" in data else duration + TIMEOUT_GRACE_S
    reproduce = data.get("reproduce", {})
    return Experiment(
        name=data["name"],
        path=path,
        title=data.get("title", data["name"]),
        description=data["description"],
        authors=tuple(Author(**a) for a in data.get("authors", [])),
        tags=tuple(data.get("tags", [])),
        duration_s=duration,
        timeout_s=timeout,
        parameters={
            name: Parameter(
                name=name,
                type=spec["type"],
                default=spec["default"],
                description=spec.get("description", ""),
                unit=spec.get("unit", ""),
                minimum=spec.get("minimum"),
                maximum=spec.get("maximum"),
                choices=tuple(spec.get("choices", ())),
            )
            for name, spec in data.get("parameters", {}).items()
        },
        matrix={name: tuple(values) for name, values in data.get("matrix", {}).items()},
        roles={name: _role(name, spec) for name, spec in data["roles"].items()},
        outputs=tuple(Output(**o) for o in data.get("outputs", [])),
        metrics=data.get("metrics"),
        inputs=tuple(data.get("inputs", [])),
        metric_tolerances={
            name: Tolerance(**tol) for name, tol in reproduce.get("metrics", {}).items()
        },
        output_comparisons={
            glob: OutputComparison(**cmp) for glob, cmp in reproduce.get("outputs", {}).items()
        },
        pacing=data.get("pacing", "realtime"),
        repeat=data.get("repeat", 1),
    )


def _role(name: str, spec: dict[str, Any]) -> Role:
    return Role(
        name=name,
        image=spec["image"],
        command=_command(spec.get("command")),
        entrypoint=_command(spec.get("entrypoint")),
        env={key: _env_text(value) for key, value in spec.get("env", {}).items()},
        node=spec.get("node"),
        tags=tuple(spec.get("tags", ())),
        count=spec.get("count", 1),
        radio=RadioSettings(**spec["radio"]) if "radio" in spec else None,
        resources=limits_from(spec.get("resources", {})),
        gpus=spec.get("gpus", 0),
        datasets=tuple(Dataset(**item) for item in spec.get("inputs", [])),
    )


def _env_text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
