"""Did a repeated run reproduce? The distribution of each metric, not one sample.

When the recorded run belongs to a group of N runs (``repetition`` in its
manifest), the point is re-run N times and each metric of
``reproduce.metrics`` is judged on the two samples (the N recorded values and
the N new ones) with one stated test:

**Welch's 95% confidence interval of the difference of means must lie within
the scenario's tolerance** (an equivalence test: the tolerance is the margin;
it is the two one-sided tests of TOST, each at alpha = 0.025). Welch's interval
does not assume the two groups spread alike (a re-run on another testbed may
be noisier), and an interval inside the margin says "the same within the
tolerance" with 95% confidence, where a plain t-test that fails to reject
would only say "no difference shown", which a noisy, small group always says.
The tolerance is ``max(absolute, relative * |recorded mean|)``.

The re-runs get fresh seeds: each seed parameter's derived series continued
past the N values the group used (runner/model/repetition.py), and a fresh
channel seed each. Welch's test needs two independent samples; re-running with
the recorded seeds would replay the recorded samples on simulated radios (the
same noise, the same bits), paired with the record rather than drawn anew.

The other checks (images, outcome, outputs) are those of a single run,
compared pairwise: repetition k of the re-run against repetition k of the
record, each named by its repetition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from math import isfinite
from pathlib import Path
from typing import Any

from runner.model.experiment import Experiment, Tolerance
from runner.model.plan import Repetition, RunPlan
from runner.model.repetition import fresh_seeds, group_members
from runner.model.report import Reporter
from runner.model.stats import summarize, welch_difference
from runner.reproduce.compare import FAIL, PASS, Check, OutputBytes, compare_runs

TEST = (
    "Welch's two-sample 95% confidence interval of the difference of means within the "
    "scenario's tolerance (equivalence, TOST at 2 x 2.5%)"
)
LEVEL = "95% confidence (alpha = 0.05, two-sided)"


def group_checks(
    experiment: Experiment,
    recorded: Sequence[Mapping[str, Any]],
    new: Sequence[Mapping[str, Any]],
    *,
    recorded_bytes: Sequence[OutputBytes],
    new_bytes: Sequence[OutputBytes],
) -> list[Check]:
    """Pairwise checks without their metrics, then one distribution check per metric."""
    checks: list[Check] = []
    for k, (old, now) in enumerate(zip(recorded, new, strict=True), start=1):
        for check in compare_runs(
            experiment, old, now, recorded_bytes=recorded_bytes[k - 1], new_bytes=new_bytes[k - 1]
        ):
            if not check.name.startswith("metric "):
                checks.append(replace(check, name=f"repetition {k}: {check.name}"))
    for name, tolerance in experiment.metric_tolerances.items():
        checks.append(metric_check(name, tolerance, _values(recorded, name), _values(new, name)))
    return checks


def group_plans(
    experiment: Experiment, members: Sequence[Mapping[str, Any]], group: str
) -> list[RunPlan]:
    """One plan per recorded member: its point and parameters, fresh seeds, a new group."""
    first = members[0]  # the lowest index: repetition 1 when it is recorded
    skip = max(len(members), first["repetition"]["of"])
    seeds = fresh_seeds(experiment, first["parameters"], skip, len(members))
    return [
        RunPlan(
            experiment=experiment,
            matrix_point=dict(member["experiment"]["matrix_point"]),
            parameters={**member["parameters"], **seeds[k - 1]},
            overrides={},
            repetition=Repetition(group=group, index=k, of=len(members)),
        )
        for k, member in enumerate(members, start=1)
    ]


def metric_check(
    name: str, tolerance: Tolerance, recorded: Sequence[float], new: Sequence[float]
) -> Check:
    """One metric judged by Welch's 95% interval of the difference against the tolerance."""
    label = f"metric {name}"
    if len(recorded) < 2 or len(new) < 2:
        return Check(
            name=label,
            expected=f"at least 2 values on each side (recorded {len(recorded)})",
            got=f"{len(new)} values",
            verdict=FAIL,
        )
    before, after = summarize(recorded), summarize(new)
    margin = max(tolerance.absolute or 0.0, (tolerance.relative or 0.0) * abs(before.mean))
    difference = welch_difference(recorded, new)
    slack = 1e-12 * abs(before.mean)
    inside = -margin - slack <= difference.low and difference.high <= margin + slack
    return Check(
        name=label,
        expected=f"mean {before.mean:g} (n={before.n}, sd {before.sd:g}); "
        f"difference within ±{margin:g}",
        got=f"mean {after.mean:g} (n={after.n}, sd {after.sd:g}); difference "
        f"{difference.difference:+g}, 95% CI [{difference.low:+g}, {difference.high:+g}]",
        verdict=PASS if inside else FAIL,
    )


def _values(manifests: Sequence[Mapping[str, Any]], name: str) -> list[float]:
    """The metric's finite values over the runs that have it."""
    values = []
    for manifest in manifests:
        value = manifest.get("metrics", {}).get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and isfinite(value):
            values.append(float(value))
    return values


def recorded_group(
    run_dir: Path, recorded: Mapping[str, Any], reporter: Reporter
) -> tuple[tuple[Path, Mapping[str, Any]], ...]:
    """The recorded runs of a repeated run's group (empty: not repeated, or alone)."""
    repetition = recorded.get("repetition")
    if not repetition:
        return ()
    members = group_members(run_dir.parent, repetition["group"])
    if len(members) < repetition["of"]:
        reporter.line(
            f"note: group {repetition['group']} should have {repetition['of']} runs; "
            f"{len(members)} are recorded here, and the re-run repeats those"
        )
    if len(members) < 2:
        reporter.line("note: a group of one run is reproduced as a single run")
        return ()
    reporter.line(
        f"run {recorded['run_id']} is one of {len(members)} repeated runs (group "
        f"{repetition['group']}): re-running the point {len(members)} times"
    )
    return tuple(members)
