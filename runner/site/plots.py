"""The site's plots: the four views of recordings (cached), metrics against a sweep."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runner.site.cache import BuildCache, content_key
from runner.site.recording_data import (
    PSD_BLOCK,
    PSD_BLOCKS,
    check_finite,
    constellation,
    spread_spectrogram,
)
from runner.site.recording_svg import (
    constellation_svg,
    envelope_svg,
    frequency_unit,
    spectrogram_svg,
)
from runner.site.sigmf_meta import Annotation
from runner.site.spectrum import UnsupportedRecording, spread_psd
from runner.site.strides import SampleFile
from runner.site.svg import line_plot

PLOT_VERSION = "2"  # change when the plots below change: cached plots are then remade
#: the recording views, by the suffix of their cached file
VIEWS = ("psd", "spectrogram", "time", "constellation")
PSD_POINTS = "psd_points"
OVERLAY_POINTS = 256  # the compare page's PSD: at most this many points per recording


@dataclass(frozen=True, kw_only=True)
class RecordingPlots:
    """The cached plot files of one recording (SVG), or why there are none."""

    psd: Path | None = None
    spectrogram: Path | None = None
    time: Path | None = None
    constellation: Path | None = None
    psd_points: Path | None = None  # JSON: the PSD's points, for the compare page's overlay
    problem: str | None = None


def recording_plots(
    data: Path,
    sigmf: Mapping[str, Any],
    *,
    cache: BuildCache,
    data_sha256: str | None = None,
    annotations: Sequence[Annotation] = (),
) -> RecordingPlots:
    """PSD, spectrogram, I/Q against time and constellation of the ``.sigmf-data`` file ``data``.

    Each spans the whole recording, read in bounded blocks (``strides``).
    Cached by the data's sha256 (``data_sha256`` when the caller knows it,
    e.g. a content-addressed store object), the recording's metadata, the
    annotations drawn and PLOT_VERSION: an unchanged recording is never
    plotted twice.
    """
    try:
        digest = data_sha256 or _file_sha256(data)
    except OSError as error:
        return RecordingPlots(problem=f"not plotted: {error.strerror}")
    datatype = str(sigmf["datatype"])
    rate = float(sigmf["sample_rate"])
    center = float(sigmf.get("center_frequency") or 0.0)
    noted = repr([tuple(vars(note).values()) for note in annotations])
    key = content_key(digest, datatype, repr(rate), repr(center), noted, PLOT_VERSION)
    paths = {view: cache.path("plots", key, f"-{view}.svg") for view in VIEWS}
    paths[PSD_POINTS] = cache.path("plots", key, "-psd.json")
    made = RecordingPlots(
        psd=paths["psd"],
        spectrogram=paths["spectrogram"],
        time=paths["time"],
        constellation=paths["constellation"],
        psd_points=paths[PSD_POINTS],
    )
    if all(path.is_file() for path in paths.values()):
        return made
    try:
        drawn = _draw_recording(data, datatype, rate, center, annotations)
    except (UnsupportedRecording, OSError) as error:
        return RecordingPlots(problem=f"not plotted: {error}")
    except Exception as error:  # container data: whatever it breaks stays in this plot
        return RecordingPlots(problem=f"not plotted: {failure_text(error)}")
    for view, path in paths.items():
        cache.write(path, drawn[view].encode("utf-8"))
    return made


def _draw_recording(
    data: Path, datatype: str, rate: float, center: float, annotations: Sequence[Annotation]
) -> dict[str, str]:
    """The four views of a recording as SVG text, by name."""
    if not (math.isfinite(rate) and rate > 0 and math.isfinite(center)):
        raise UnsupportedRecording("the sample rate or centre frequency is not a finite number")
    with SampleFile.open(data, datatype) as samples:
        blocks = samples.spread(PSD_BLOCKS, PSD_BLOCK)
        check_finite(blocks)
        with np.errstate(all="ignore"):  # huge samples overflow to inf: left out below
            spectrum = spread_psd(blocks, sample_rate=rate, center=center)
            power = spread_spectrogram(samples)
            envelope = samples.envelope()
            density = constellation(blocks)
    unit, scale = frequency_unit(center, rate)
    psd_svg = line_plot(
        list(spectrum.frequencies / scale),
        list(spectrum.power_db),
        title="Power spectral density (over the whole recording)",
        x_label=f"frequency ({unit})",
        y_label="power (dB/Hz)",
    )
    return {
        "psd": psd_svg,
        PSD_POINTS: psd_points_json(spectrum.frequencies, spectrum.power_db, unit, scale),
        "spectrogram": spectrogram_svg(
            power,
            _levels(power.power_db),
            sample_rate=rate,
            center=center,
            annotations=annotations,
        ),
        "time": envelope_svg(envelope, sample_rate=rate),
        "constellation": constellation_svg(density),
    }


def psd_points_json(
    frequencies: np.ndarray[Any, np.dtype[np.float64]],
    power_db: np.ndarray[Any, np.dtype[np.float64]],
    unit: str,
    scale: float,
) -> str:
    """The PSD as JSON for the compare page: at most OVERLAY_POINTS points, each the mean
    power (dB) of its stretch of bins; only finite numbers."""
    groups = max(1, math.ceil(len(power_db) / OVERLAY_POINTS))
    count = len(power_db) // groups
    xs = frequencies[: count * groups].reshape(count, groups).mean(axis=1) / scale
    ys = power_db[: count * groups].reshape(count, groups).mean(axis=1)
    kept = [
        (round(float(x), 9), round(float(y), 3))
        for x, y in zip(xs, ys, strict=True)
        if math.isfinite(x) and math.isfinite(y)
    ]
    return json.dumps({"unit": unit, "x": [x for x, _ in kept], "y": [y for _, y in kept]})


def failure_text(error: Exception) -> str:
    return f"{error} ({type(error).__name__})" if str(error) else type(error).__name__


@dataclass(frozen=True, kw_only=True)
class SweepPlot:
    parameter: str
    metric: str
    svg: str | None  # None: not drawn, ``problem`` says why
    problem: str | None = None


#: how many times the largest value of a metric must exceed its smallest for a log y axis
LOG_AXIS_SPAN = 100.0


def sweep_plots(
    points: Sequence[tuple[Mapping[str, Any], Mapping[str, float]]],
    errors: Sequence[Mapping[str, float]] | None = None,  # per point: a half-width by metric
) -> list[SweepPlot]:
    """One plot per (swept parameter, metric): each run's metric at its parameter value.

    ``points`` holds each run's matrix point and metrics. A parameter is swept
    when the runs' values of it differ; text values are placed in sorted order.
    """
    names = {name for point, _ in points for name in point}
    swept = sorted(n for n in names if len({repr(point.get(n)) for point, _ in points}) > 1)
    metrics = sorted({name for _, values in points for name in values})
    plots = []
    for parameter in swept:
        values = [point.get(parameter) for point, _ in points]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        labels = sorted({str(v) for v in values})
        xs = [float(v) if numeric else float(labels.index(str(v))) for v in values]  # type: ignore[arg-type]
        for metric in metrics:
            pairs = sorted(
                (x, float(found[metric]), float((errors or [{}] * len(xs))[i].get(metric, 0.0)))
                for i, (x, (_, found)) in enumerate(zip(xs, points, strict=True))
                if metric in found and math.isfinite(float(found[metric]))
            )
            if not pairs:
                continue
            try:
                svg = _sweep_svg(pairs, parameter, metric, None if numeric else labels)
            except Exception as error:  # container data: whatever it breaks stays in this plot
                problem = f"not plotted: {failure_text(error)}"
                plots.append(
                    SweepPlot(parameter=parameter, metric=metric, svg=None, problem=problem)
                )
            else:
                plots.append(SweepPlot(parameter=parameter, metric=metric, svg=svg))
    return plots


def _sweep_svg(
    pairs: Sequence[tuple[float, float, float]],
    parameter: str,
    metric: str,
    names: list[str] | None,
) -> str:
    ys = [y for _, y, _ in pairs]
    # spanning decades (an error rate): a log axis, or the small values look like zero
    # (compared as a product: max / min overflows for a tiny min)
    log_y = min(ys) > 0 and max(ys) >= min(ys) * LOG_AXIS_SPAN
    return line_plot(
        [x for x, _, _ in pairs],
        ys,
        title=f"{metric} against {parameter}",
        x_label=parameter,
        y_label=metric + (" (log scale)" if log_y else ""),
        x_names=names,
        markers=True,
        log_y=log_y,
        y_errors=[half for _, _, half in pairs],
    )


def _levels(power: np.ndarray[Any, np.dtype[np.float64]]) -> tuple[float, float]:
    """The power (dB) at the dark and bright ends of the spectrogram's ramp."""
    finite = power[np.isfinite(power)]
    if finite.size == 0:
        return 0.0, 1.0
    high = float(np.max(finite))
    low = max(float(np.percentile(finite, 5)), high - 80.0)
    return (low, high) if high - low >= 1e-9 else (high - 1.0, high)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
