"""Did a run reproduce? Each check names what was expected, what came, and the verdict.

Pure comparisons of two manifests (the published run and its re-run) and of
their files; runner/cli/commands/reproduce.py makes the re-run. The checks:

- ``scenario``: the scenario at the recorded commit is the one the run used;
- ``image <role>``: the re-run used the recorded image (same digest or image
  ID), or one rebuilt from the same build context (a note: builds are not
  bit-for-bit reproducible), else it fails;
- ``outcome``: the same final status;
- ``metric <name>``: within the scenario's ``reproduce.metrics`` tolerance;
- ``output <path>``: per ``reproduce.outputs``: ``sha256`` equality, or
  ``psd-distance`` (:func:`psd_distance_db`) within the tolerance; a recorded
  file whose bytes no longer match its manifest fails as tampered.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from runner.model.experiment import Experiment
from runner.model.psd import mean_power

PASS, FAIL, NOTE = "pass", "fail", "note"
PSD_BINS = 1024
PSD_MAX_SAMPLES = 1 << 22
OutputBytes = Callable[[Mapping[str, Any]], bytes | None]  # None: not available


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    expected: str
    got: str
    verdict: str  # pass | fail | note


def reproduced(checks: Sequence[Check]) -> bool:
    return bool(checks) and all(check.verdict != FAIL for check in checks)


def compare_runs(
    experiment: Experiment,
    recorded: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    recorded_bytes: OutputBytes,
    new_bytes: OutputBytes,
) -> list[Check]:
    """Every check of ``new`` against ``recorded`` (see the module's description)."""
    checks = [_image(record, new) for record in recorded["images"]]
    checks.append(_equal("outcome", recorded["outcome"]["status"], new["outcome"]["status"]))
    if recorded["radios_simulated"] != new["radios_simulated"]:
        kinds = {True: "simulated radios", False: "real radios"}
        checks.append(
            Check(
                name="radios",
                expected=kinds[recorded["radios_simulated"]],
                got=kinds[new["radios_simulated"]],
                verdict=NOTE,
            )
        )
    checks += _metric_checks(experiment, recorded, new)
    checks += _output_checks(experiment, recorded, new, recorded_bytes, new_bytes)
    return checks


def _metric_checks(
    experiment: Experiment, recorded: Mapping[str, Any], new: Mapping[str, Any]
) -> list[Check]:
    checks: list[Check] = []
    for name, tolerance in experiment.metric_tolerances.items():
        old, now = recorded["metrics"].get(name), new["metrics"].get(name)
        allowed = max(tolerance.absolute or 0.0, (tolerance.relative or 0.0) * abs(old or 0.0))
        if old is None or now is None:
            checks.append(_missing(f"metric {name}", old, now))
            continue
        verdict = PASS if abs(now - old) <= allowed + 1e-12 * abs(old) else FAIL
        checks.append(
            Check(
                name=f"metric {name}",
                expected=f"{old:g} ± {allowed:g}",
                got=f"{now:g}",
                verdict=verdict,
            )
        )
    return checks


def _output_checks(
    experiment: Experiment,
    recorded: Mapping[str, Any],
    new: Mapping[str, Any],
    recorded_bytes: OutputBytes,
    new_bytes: OutputBytes,
) -> list[Check]:
    checks: list[Check] = []
    for pattern, comparison in experiment.output_comparisons.items():
        olds = _matching(recorded["outputs"], pattern)
        news = _matching(new["outputs"], pattern)
        for path in sorted(set(olds) | set(news)):
            name = f"output {path}"
            if path not in olds or path not in news:
                checks.append(_missing(name, olds.get(path), news.get(path)))
                continue
            old_output, new_output = olds[path], news[path]
            tampered = _tampered(old_output, recorded_bytes)
            if tampered:
                checks.append(
                    Check(name=name, expected=old_output["sha256"], got=tampered, verdict=FAIL)
                )
            elif comparison.compare == "sha256":
                checks.append(_equal(name, old_output["sha256"], new_output["sha256"]))
            elif comparison.compare == "psd-distance":
                checks.append(
                    _psd_check(
                        name,
                        old_output,
                        new_output,
                        comparison.tolerance,
                        recorded_bytes,
                        new_bytes,
                    )
                )
            else:
                checks.append(
                    Check(
                        name=name,
                        expected=comparison.compare,
                        got="no such comparison",
                        verdict=FAIL,
                    )
                )
    return checks


def psd_db(data: bytes, datatype: str) -> np.ndarray:
    """The averaged power spectral density of a recording, in dB, PSD_BINS bins."""
    if datatype != "cf32_le":
        raise ValueError(f"comparing {datatype} recordings is not supported (cf32_le only)")
    usable = min(len(data) // 8, PSD_MAX_SAMPLES) // PSD_BINS * PSD_BINS
    if usable == 0:
        raise ValueError(f"fewer than {PSD_BINS} samples")
    samples = np.frombuffer(data, dtype="<c8", count=usable)
    power = mean_power([samples], PSD_BINS, step=PSD_BINS)  # segments side by side
    return np.asarray(10 * np.log10(np.maximum(power, 1e-30)), dtype=np.float64)


def psd_distance_db(old: np.ndarray, new: np.ndarray) -> float:
    """How far apart two power spectral densities (in dB, same bins) are, in dB.

    The mean absolute difference per bin, each bin weighted by its share of the
    two recordings' power. Unweighted, a tone that moved would count as two
    bins among a thousand and hardly change the mean; weighted, the bins that
    carry the signal decide, and noise-only bins count as little as they hold.
    """
    power = 10.0 ** (old / 10.0) + 10.0 ** (new / 10.0)
    weights = power / np.sum(power)
    return float(np.sum(weights * np.abs(old - new)))


def report_json(checks: Sequence[Check], summary: Mapping[str, Any]) -> str:
    data = {**summary, "reproduced": reproduced(checks), "checks": [asdict(c) for c in checks]}
    return json.dumps(data, indent=2) + "\n"


def report_markdown(checks: Sequence[Check], summary: Mapping[str, Any]) -> str:
    verdict = "reproduced" if reproduced(checks) else "NOT reproduced"
    lines = [
        f"# Reproduction of {summary['experiment']} {summary['recorded_run']}: {verdict}",
        "",
        f"- re-run: {summary['new_run']}",
        f"- commit: {summary['commit']}",
        f"- testbed: {summary['testbed']}",
        *(f"- {key}: {summary[key]}" for key in ("group", "test", "level") if key in summary),
        "",
        "| check | expected | got | verdict |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {_cell(c.name)} | {_cell(c.expected)} | {_cell(c.got)} | {c.verdict} |" for c in checks
    ]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:200]


def _image(record: Mapping[str, Any], new: Mapping[str, Any]) -> Check:
    name = f"image {record['role']}"
    now = next((i for i in new["images"] if i["role"] == record["role"]), None)
    expected = record.get("digest") or record["image_id"]
    if now is None:
        return Check(name=name, expected=expected, got="not used", verdict=FAIL)
    if record.get("digest") and record["digest"] == now.get("digest"):
        return Check(name=name, expected=expected, got=now["digest"], verdict=PASS)
    if record["image_id"] == now["image_id"]:
        return Check(name=name, expected=record["image_id"], got=now["image_id"], verdict=PASS)
    if record.get("context_sha256") and record["context_sha256"] == now.get("context_sha256"):
        return Check(
            name=name,
            expected=expected,
            got=f"rebuilt from the same build context ({now['image_id']})",
            verdict=NOTE,
        )
    return Check(
        name=name, expected=expected, got=now.get("digest") or now["image_id"], verdict=FAIL
    )


def _equal(name: str, expected: Any, got: Any) -> Check:
    return Check(
        name=name, expected=str(expected), got=str(got), verdict=PASS if expected == got else FAIL
    )


def _missing(name: str, old: Any, now: Any) -> Check:
    return Check(
        name=name,
        expected="missing" if old is None else "present",
        got="missing" if now is None else "present",
        verdict=FAIL,
    )


def _matching(outputs: Sequence[Mapping[str, Any]], pattern: str) -> dict[str, Mapping[str, Any]]:
    return {
        o["path"]: o
        for o in outputs
        if o.get("origin", "output") == "output" and fnmatch.fnmatchcase(o["path"], pattern)
    }


def _tampered(output: Mapping[str, Any], read: OutputBytes) -> str | None:
    """What is wrong with a recorded output's bytes, or None when they match the manifest."""
    data = read(output)
    if data is None:
        return None  # not available here (the store): nothing to say about its bytes
    digest = hashlib.sha256(data).hexdigest()
    return None if digest == output["sha256"] else f"the recorded file was altered ({digest})"


def _psd_check(
    name: str,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    tolerance: float | None,
    recorded_bytes: OutputBytes,
    new_bytes: OutputBytes,
) -> Check:
    limit = tolerance if tolerance is not None else 1.0
    expected = f"PSD distance ≤ {limit:g} dB"
    old_data, new_data = recorded_bytes(old), new_bytes(new)
    if old_data is None or new_data is None:
        which = "recorded" if old_data is None else "new"
        return Check(
            name=name,
            expected=expected,
            got=f"the {which} recording is not available",
            verdict=FAIL,
        )
    datatype = (old.get("sigmf") or {}).get("datatype", "cf32_le")
    try:
        distance = psd_distance_db(psd_db(old_data, datatype), psd_db(new_data, datatype))
    except ValueError as exc:
        return Check(name=name, expected=expected, got=str(exc), verdict=FAIL)
    verdict = PASS if math.isfinite(distance) and distance <= limit else FAIL
    return Check(name=name, expected=expected, got=f"{distance:.3f} dB", verdict=verdict)
