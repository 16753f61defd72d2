"""Numbers from containers (metrics, recordings) can break a plot, never the site build.

A plot that cannot be drawn leaves a note where it would be, on its own page;
every other page and plot is built.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.site import plots, svg
from runner.site.render import render
from runner.site.svg import line_plot
from tests.testing.sites import add_experiment, add_run, build_site, make_example_site_repo, tone

LARGEST = sys.float_info.max
NAN_RUN = "20261125T000000Z-0000000a"
INF_RUN = "20261125T000000Z-0000000b"


def test_huge_metrics_and_nan_recordings_leave_the_rest_of_the_site(tmp_path: Path) -> None:
    repo = make_example_site_repo(tmp_path)
    add_experiment(repo, "extreme", title="Extreme numbers", sweep=(0, 10, 20))
    for i, (gain, huge) in enumerate(((0, -1.7e308), (10, 1.7e308), (20, LARGEST))):
        add_run(
            repo,
            "extreme",
            f"20261124T00000{i}Z-0000000{i}",
            point={"gain": gain},
            metrics={"huge": huge, "tiny": 5e-324 * (i + 1), "fine": float(i)},
        )
    nan = np.full(4096, np.nan + 1j * np.nan)
    add_run(repo, "extreme", NAN_RUN, point={"gain": 0}, recording=nan)
    infinite = tone(samples=4096)
    infinite[100] = np.inf
    add_run(repo, "extreme", INF_RUN, point={"gain": 10}, recording=infinite)
    site, _ = build_site(repo)

    experiment = (site / "experiments/extreme/index.html").read_text(encoding="utf-8")
    for metric in ("huge", "tiny", "fine"):
        assert f'alt="{metric} against gain"' in experiment, metric
    plots = sorted((repo / ".cache/radiops-site/plots").glob("*/*.svg"))
    assert plots  # the recordings' plots were drawn: the check below is not vacuous
    for path in plots:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r'="[^"]*(?:nan|inf)', text), path
    for run_id, why in ((NAN_RUN, "4096 of 4096"), (INF_RUN, "1 of 4096")):
        page = (site / "experiments/extreme/runs" / run_id / "index.html").read_text("utf-8")
        assert "not plotted: " in page and why in page and "not finite" in page, run_id
        assert 'download="rx.sigmf-data"' in page  # the file itself is still offered
    # the other recording of the site is plotted as before
    link = next((site / "experiments/link/runs").glob("*/index.html")).read_text("utf-8")
    assert 'class="radiops-psd"' in link


def test_a_sweep_plot_that_fails_is_a_note_and_the_others_are_drawn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drawn = line_plot

    def fragile(xs: list[float], ys: list[float], **kwargs: object) -> str:
        if "broken" in str(kwargs["title"]):
            raise OverflowError("math range error")
        return drawn(xs, ys, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(plots, "line_plot", fragile)
    runs = [({"gain": g}, {"broken": 1.0 + g, "snr_db": 2.0 + g}) for g in (0, 10)]
    found = {plot.metric: plot for plot in plots.sweep_plots(runs)}
    assert found["snr_db"].svg and found["snr_db"].problem is None
    assert found["broken"].svg is None
    assert found["broken"].problem == "not plotted: math range error (OverflowError)"
    context = {
        "name": "x",
        "title": "X",
        "index_href": "../",
        "problems": [],
        "s": None,
        "readme_html": None,
        "images": [],
        "sweeps": [
            {"src": "a.svg", "alt": "snr_db against gain", "problem": None},
            {"src": None, "alt": "broken against gain", "problem": found["broken"].problem},
        ],
        "history": [],
        "metric_names": [],
        "has_groups": False,
        "compare_href": None,
        "runs": [],
    }
    page = render("experiment.html", context)
    assert '<img class="radiops-sweep" src="a.svg"' in page
    assert "broken against gain: not plotted: math range error (OverflowError)" in page


def test_a_recording_that_breaks_the_plot_code_is_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.site.cache import BuildCache

    data = tmp_path / "rx.sigmf-data"
    data.write_bytes(np.asarray(tone(), dtype=np.complex64).tobytes())

    def broken(*args: object, **kwargs: object) -> None:
        raise FloatingPointError("overflow encountered")

    monkeypatch.setattr(plots, "spread_spectrogram", broken)
    sigmf = {"datatype": "cf32_le", "sample_rate": 1e6, "center_frequency": 2.45e9}
    made = plots.recording_plots(data, sigmf, cache=BuildCache(tmp_path / "cache"))
    assert made.psd is None and made.problem is not None
    assert made.problem == "not plotted: overflow encountered (FloatingPointError)"


_FLOATS = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(_FLOATS, _FLOATS), min_size=1, max_size=6),
    st.booleans(),
)
def test_any_finite_numbers_make_a_plot(points: list[tuple[float, float]], log_y: bool) -> None:
    xs, ys = [x for x, _ in points], [y for _, y in points]
    try:
        text = line_plot(xs, ys, title="t", x_label="x", y_label="y", log_y=log_y, markers=True)
    except ValueError as error:  # a log axis with no positive value
        assert log_y and all(y <= 0 for y in ys), error
        return
    numbers = re.findall(r' (?:x|y|x1|x2|y1|y2|cx|cy)="([^"]*)"', text)
    assert numbers and all(math.isfinite(float(n)) for n in numbers)
    assert "nan" not in text and "inf" not in text


def test_ticks_at_the_ends_of_the_floats() -> None:
    assert svg._ticks(-LARGEST, LARGEST)  # the span overflows; halves do not
    assert all(math.isfinite(t) for t in svg._ticks(-LARGEST, LARGEST))
    assert svg._ticks(0.0, 5e-324) == [0.0, 5e-324]  # too small for steps
    assert svg._span([LARGEST]) == (LARGEST * 0.9, LARGEST)
