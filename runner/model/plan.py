"""From a scenario to the runs it asks for: parameters resolved, matrix expanded.

Pure functions of their inputs: no Docker, no files.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from runner.model.errors import UsageError
from runner.model.experiment import Experiment, Scalar
from runner.model.suggest import hint


@dataclass(frozen=True, kw_only=True)
class Instance:
    """One container of a run: the ``index``-th of role ``role``."""

    role: str
    index: int

    @property
    def key(self) -> str:
        """``rx#0``: how manifests name it."""
        return f"{self.role}#{self.index}"

    @property
    def slug(self) -> str:
        """``rx-0``: how file names name it."""
        return f"{self.role}-{self.index}"


@dataclass(frozen=True, kw_only=True)
class Repetition:
    """Run ``index`` (1..``of``) of the ``of`` runs of one matrix point; ``group`` is shared."""

    group: str
    index: int
    of: int

    def record(self) -> dict[str, str | int]:
        """As the manifest's ``repetition``."""
        return {"group": self.group, "index": self.index, "of": self.of}


@dataclass(frozen=True, kw_only=True)
class RunPlan:
    """One point of the matrix, ready to be placed on nodes."""

    experiment: Experiment
    matrix_point: Mapping[str, Scalar]
    parameters: Mapping[str, Scalar]
    overrides: Mapping[str, Scalar]
    seeds: Mapping[str, int] = field(default_factory=dict)  # fixed seeds (a reproduction)
    repetition: Repetition | None = None  # one of the runs of a repeated point

    @property
    def instances(self) -> tuple[Instance, ...]:
        return tuple(
            Instance(role=name, index=i)
            for name, role in self.experiment.roles.items()
            for i in range(role.count)
        )


def parse_overrides(pairs: Sequence[str], experiment: Experiment) -> dict[str, Scalar]:
    """``--set key=value`` arguments, typed by the parameters they set."""
    overrides: dict[str, Scalar] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise UsageError(f"--set {pair}: expected NAME=VALUE, e.g. --set repeat=3")
        spec = experiment.parameters.get(name)
        if spec is None:
            declared = ", ".join(experiment.parameters) or "none"
            raise UsageError(
                f"--set {pair}: {experiment.name} has no parameter '{name}'"
                + (hint(name, experiment.parameters) or f" (parameters: {declared})")
            )
        value = _typed(text, spec.type)
        problems = spec.problems(value)
        if problems:
            raise UsageError(f"--set {pair}: {problems[0]}")
        overrides[name] = value
    return overrides


def expand(experiment: Experiment, overrides: Mapping[str, Scalar]) -> list[RunPlan]:
    """One plan per matrix combination, in a stable order; ``overrides`` fix a value."""
    base = {name: p.default for name, p in experiment.parameters.items()}
    swept = {name: values for name, values in experiment.matrix.items() if name not in overrides}
    plans = []
    for combination in itertools.product(*swept.values()):
        point = dict(zip(swept, combination, strict=True))
        plans.append(
            RunPlan(
                experiment=experiment,
                matrix_point=point,
                parameters={**base, **point, **overrides},
                overrides=dict(overrides),
            )
        )
    return plans


def new_run_id(now: datetime | None = None) -> str:
    """``20261121T233100Z-1a2b3c4d``: sorts by start time; 32 random bits keep ids apart.

    The caller makes the run directory with an exclusive mkdir, so even a
    collision of the random part is caught rather than overwriting a run.
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def _typed(text: str, kind: str) -> Scalar:
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        raise UsageError(f"'{text}' is not a{'n' if kind == 'integer' else ''} {kind}") from None
    if kind == "boolean":
        lowered = text.lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise UsageError(f"'{text}' is not a boolean: use true or false")
    return text
