"""The site's plots: PSD and spectrogram of recordings (cached), metrics against a sweep."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runner.site.cache import BuildCache, content_key
from runner.site.png import colorize, encode_png
from runner.site.spectrum import UnsupportedRecording, psd, read_samples, spectrogram
from runner.site.svg import line_plot

PLOT_VERSION = "1"  # change when the plots below change: cached plots are then remade


@dataclass(frozen=True, kw_only=True)
class RecordingPlots:
    """The cached plot files of one recording, or why there are none."""

    psd: Path | None = None
    spectrogram: Path | None = None
    problem: str | None = None


def recording_plots(
    data: Path, sigmf: Mapping[str, Any], *, cache: BuildCache, data_sha256: str | None = None
) -> RecordingPlots:
    """PSD (SVG) and spectrogram (PNG) of the ``.sigmf-data`` file ``data``.

    Cached by the data's sha256 (``data_sha256`` when the caller knows it,
    e.g. a content-addressed store object), the recording's metadata and
    PLOT_VERSION: an unchanged recording is never plotted twice.
    """
    try:
        digest = data_sha256 or _file_sha256(data)
    except OSError as error:
        return RecordingPlots(problem=f"not plotted: {error.strerror}")
    datatype = str(sigmf["datatype"])
    rate = float(sigmf["sample_rate"])
    center = float(sigmf.get("center_frequency") or 0.0)
    key = content_key(digest, datatype, repr(rate), repr(center), PLOT_VERSION)
    psd_path = cache.path("plots", key, "-psd.svg")
    spectrogram_path = cache.path("plots", key, "-spectrogram.png")
    if psd_path.is_file() and spectrogram_path.is_file():
        return RecordingPlots(psd=psd_path, spectrogram=spectrogram_path)
    try:
        svg, png = _draw_recording(data, datatype, rate, center)
    except (UnsupportedRecording, OSError) as error:
        return RecordingPlots(problem=f"not plotted: {error}")
    except Exception as error:  # container data: whatever it breaks stays in this plot
        return RecordingPlots(problem=f"not plotted: {_failure(error)}")
    cache.write(psd_path, svg.encode("utf-8"))
    cache.write(spectrogram_path, png)
    return RecordingPlots(psd=psd_path, spectrogram=spectrogram_path)


def _draw_recording(data: Path, datatype: str, rate: float, center: float) -> tuple[str, bytes]:
    """The PSD (SVG text) and the spectrogram (PNG bytes) of a recording."""
    samples = read_samples(data, datatype)
    finite = np.isfinite(samples)
    if not finite.all():
        bad = int(np.count_nonzero(~finite))
        raise UnsupportedRecording(
            f"{bad} of {len(samples)} samples read are not finite numbers (NaN or infinity)"
        )
    with np.errstate(all="ignore"):  # huge samples overflow to inf: left out below
        spectrum = psd(samples, sample_rate=rate, center=center)
        power = spectrogram(samples)
    unit, scale = ("MHz", 1e6) if center or rate >= 1e6 else ("kHz", 1e3)
    svg = line_plot(
        list(spectrum.frequencies / scale),
        list(spectrum.power_db),
        title="Power spectral density",
        x_label=f"frequency ({unit})",
        y_label="power (dB/Hz)",
    )
    return svg, encode_png(colorize(_normalize(power)))


def _failure(error: Exception) -> str:
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
                problem = f"not plotted: {_failure(error)}"
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


def _normalize(
    power: np.ndarray[Any, np.dtype[np.float64]],
) -> np.ndarray[Any, np.dtype[np.float64]]:
    finite = power[np.isfinite(power)]
    if finite.size == 0:
        return np.zeros_like(power)
    high = float(np.max(finite))
    low = max(float(np.percentile(finite, 5)), high - 80.0)
    if high - low < 1e-9:
        return np.zeros_like(power)
    # an overflowed (infinite) power is the brightest; NaN the darkest
    clipped = np.nan_to_num(power, nan=low, posinf=high, neginf=low)
    result: np.ndarray[Any, np.dtype[np.float64]] = (clipped - low) / (high - low)
    return result


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
