"""Repeated runs: each matrix point run N times with distinct, recorded seeds.

``repeat: N`` in a scenario (or ``radiops run --repeat N``) turns each plan
into N plans sharing a group id. Repetition 1 keeps the point's seeds as they
are (a repeat of 1 is the plain run); repetition k > 1 gets, for each seed
parameter (``seed``, ``*_seed``), a value derived from the parameter's name,
its base value and k by SHA-256, within the parameter's declared range.
Derived, not ``base + k``: neighbouring base seeds (1 and 2) would otherwise
share runs (seed 1's repetition 2 is seed 2's repetition 1), and the same
scenario always gives the same seeds, so a repeated sweep can be re-run. The
channel emulator's seed is drawn fresh for every run, as for any run, and
recorded in the manifest's ``seeds.channel``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runner.model.errors import UsageError
from runner.model.experiment import Experiment, Scalar
from runner.model.manifest import MANIFEST, read_manifest
from runner.model.plan import Repetition, RunPlan, new_run_id

MAX_REPEAT = 1000  # schemas/experiment.schema.json: repeat
SEED_MAX = 2**31 - 1  # a seed with no declared maximum stays a 32-bit signed integer


def is_seed(name: str, value: Any) -> bool:
    """A parameter that is a seed: named ``seed`` or ``*_seed``, a whole number from 0."""
    return (
        (name == "seed" or name.endswith("_seed"))
        and isinstance(value, int)
        and not isinstance(value, bool)
        and value >= 0
    )


def repeat_problem(value: object, where: str) -> str | None:
    """Why ``value`` cannot be a repeat count (None: it can)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{where}: repeat must be a whole number from 1 to {MAX_REPEAT}, not {value!r}"
    if not 1 <= value <= MAX_REPEAT:
        return f"{where}: repeat must be from 1 to {MAX_REPEAT}, not {value}"
    return None


def derived_seeds(name: str, base: int, count: int, low: int, high: int) -> list[int]:
    """``count`` distinct seeds for parameter ``name``: ``base`` first, then derived ones.

    Each is ``low`` plus the first 8 bytes of SHA-256 of ``name/base/k`` modulo
    the range; the rare collision steps to the next free value.
    """
    span = high - low + 1
    if span < count:
        raise UsageError(
            f"parameter {name} allows {span} values ({low}..{high}): too few for "
            f"{count} repetitions with distinct seeds; widen its minimum/maximum"
        )
    seeds = [base]
    for k in range(2, count + 1):
        digest = hashlib.sha256(f"radiops-repeat/{name}/{base}/{k}".encode()).digest()
        seed = low + int.from_bytes(digest[:8], "big") % span
        while seed in seeds:
            seed = low + (seed - low + 1) % span
        seeds.append(seed)
    return seeds


def repeated(plans: Sequence[RunPlan], count: int) -> list[RunPlan]:
    """Each plan ``count`` times in a group of its own (unchanged when ``count`` is 1)."""
    if count == 1:
        return list(plans)
    result = []
    for plan in plans:
        group = new_run_id()
        series = _seed_series(plan.experiment, plan.parameters, count)
        for k in range(1, count + 1):
            parameters = {**plan.parameters, **{n: s[k - 1] for n, s in series.items()}}
            result.append(
                dataclasses.replace(
                    plan,
                    parameters=parameters,
                    repetition=Repetition(group=group, index=k, of=count),
                )
            )
    return result


def fresh_seeds(
    experiment: Experiment, first: Mapping[str, Scalar], skip: int, count: int
) -> list[dict[str, int]]:
    """Seeds for ``count`` more runs of a group whose first run had parameters ``first``:
    the derived series continued past its first ``skip`` values (those the group used)."""
    series = _seed_series(experiment, first, skip + count)
    return [{name: s[skip + i] for name, s in series.items()} for i in range(count)]


def _seed_series(
    experiment: Experiment, parameters: Mapping[str, Scalar], count: int
) -> dict[str, list[int]]:
    series = {}
    for name, value in parameters.items():
        if not is_seed(name, value):
            continue
        assert isinstance(value, int)
        spec = experiment.parameters.get(name)
        low = int(spec.minimum) if spec and spec.minimum is not None else 0
        high = int(spec.maximum) if spec and spec.maximum is not None else max(SEED_MAX, value)
        series[name] = derived_seeds(name, value, count, max(low, 0), high)
    return series


def group_members(runs: Path, group: str) -> list[tuple[Path, dict[str, Any]]]:
    """The valid recorded runs under ``runs`` (a runs/ folder) of ``group``, by index."""
    members = []
    for path in sorted(runs.glob(f"*/{MANIFEST}")):
        _, manifest, _ = read_manifest(path)
        if manifest is not None and (manifest.get("repetition") or {}).get("group") == group:
            members.append((path.parent, manifest))
    return sorted(members, key=lambda item: item[1]["repetition"]["index"])
