"""A recording's .sigmf-meta comes from a container: lying, huge or hostile, it never breaks a page.

Pure tests of the metadata view, the annotations drawn on the spectrogram
and a store recording too big to copy; then one real ``radiops site build``
whose run page shows the four plots, the metadata table and hostile text
as text.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from runner.model.sigmf import META_MAX_BYTES
from runner.site.cache import BuildCache
from runner.site.collect import Store
from runner.site.downloads import Download
from runner.site.plots import VIEWS, recording_plots
from runner.site.recording_view import recording_context
from runner.site.sigmf_meta import MAX_ANNOTATIONS, MAX_ROWS, VALUE_CHARS, parse_meta
from tests.testing.sites import add_experiment, add_run, build_site, make_site_repo, tone

HOSTILE = "<script>window.__pwned = 3</script>"
RUN = "20261126T000000Z-000000aa"


def _meta(annotations: list[Any], **fields: Any) -> bytes:
    document = {"global": {"core:datatype": "cf32_le", **fields}, "annotations": annotations}
    return json.dumps(document).encode()


def test_annotations_with_odd_numbers_are_counted_not_drawn() -> None:
    good = {"core:sample_start": 10, "core:sample_count": 5, "core:label": "burst"}
    odd = [
        {"core:sample_start": -1},
        {"core:sample_start": 1.5},
        {"core:sample_start": True},
        {"core:sample_start": "10"},
        {"core:sample_count": 4},  # no start
        {"core:sample_start": 0, "core:sample_count": -5},
        {"core:sample_start": 0, "core:freq_lower_edge": "1e6"},
        "not an object",
    ]
    text = _meta([good, *odd]).decode()
    text = text.replace('"core:sample_count": 4', '"core:sample_count": NaN')
    big = '{"core:sample_start": ' + "9" * 400 + "}"  # no float holds it
    text = text.replace(
        '"not an object"', f'"not an object", {big}, {{"core:sample_start": 1e999}}'
    )
    view = parse_meta(text.encode())
    assert view.problem is None
    assert [a.label for a in view.annotations] == ["burst"]
    assert view.notes == (
        f"{len(odd) + 2} annotations not drawn: no whole non-negative core:sample_start, "
        "or numbers out of range",
    )


def test_huge_positions_are_capped_and_edges_ordered() -> None:
    note = {
        "core:sample_start": 2**80,
        "core:sample_count": 2**70,
        "core:freq_lower_edge": 2.5e9,
        "core:freq_upper_edge": 2.4e9,
        "core:label": "x" * 10_000,
    }
    (annotation,) = parse_meta(_meta([note])).annotations
    assert annotation.sample_start == 1 << 62 and annotation.sample_count == 1 << 62
    assert (annotation.freq_lower_edge, annotation.freq_upper_edge) == (2.4e9, 2.5e9)
    assert len(annotation.label) == 200


def test_too_much_metadata_is_bounded() -> None:
    many = [{"core:sample_start": i} for i in range(MAX_ANNOTATIONS + 7)]
    fields = {f"field{i}": "v" * 1000 for i in range(MAX_ROWS + 3)}
    view = parse_meta(_meta(many, **fields))
    assert len(view.annotations) == MAX_ANNOTATIONS
    assert len(view.rows) == MAX_ROWS
    assert all(len(value) <= VALUE_CHARS for _, value in view.rows)
    assert "4 more global fields not shown" in view.notes  # core:datatype and 103 more
    assert f"7 annotations past the first {MAX_ANNOTATIONS} not drawn" in view.notes
    assert parse_meta(b" " * (META_MAX_BYTES + 1)).problem is not None
    assert parse_meta(b"[" * 100_000).problem == "metadata not read: not JSON"
    assert parse_meta(b'{"global": []}').problem == "metadata not read: no 'global' object"
    assert parse_meta(b"\xff\xfe").problem == "metadata not read: not JSON"


def test_annotation_labels_are_escaped_and_boxes_stay_on_the_plot(tmp_path: Path) -> None:
    data = tmp_path / "rx.sigmf-data"
    data.write_bytes(np.asarray(tone(samples=1 << 16), dtype=np.complex64).tobytes())
    notes = [
        {"core:sample_start": 0, "core:sample_count": 2**70, "core:label": HOSTILE},
        {
            "core:sample_start": 1000,
            "core:freq_lower_edge": -1e300,
            "core:freq_upper_edge": 1e300,
            "core:label": '"/><script>x</script>',
        },
    ]
    view = parse_meta(_meta(notes))
    sigmf = {"datatype": "cf32_le", "sample_rate": 1e6, "center_frequency": 2.45e9}
    made = recording_plots(
        data, sigmf, cache=BuildCache(tmp_path / "cache"), annotations=view.annotations
    )
    assert made.spectrogram is not None, made.problem
    svg = made.spectrogram.read_text(encoding="utf-8")
    assert "<script" not in svg
    assert "&lt;script&gt;window.__pwned = 3&lt;/script&gt;" in svg
    assert "&quot;/&gt;&lt;script&gt;" in svg
    boxes = re.findall(
        r'<rect x="([^"]+)" y="([^"]+)" width="([^"]+)" height="([^"]+)" fill="none" stroke="#fff"',
        svg,
    )
    assert len(boxes) == 2
    for box in boxes:
        x, y, width, height = map(float, box)
        assert all(math.isfinite(v) for v in (x, y, width, height))
        assert 72 <= x <= x + width <= 720 - 72 + 0.1  # inside the plot box
        assert 28 <= y <= y + height <= 480 - 44 + 0.1
    # other annotations, other plots: the cache key holds them
    again = recording_plots(data, sigmf, cache=BuildCache(tmp_path / "cache"))
    assert again.spectrogram != made.spectrogram and again.psd != made.psd


@pytest.mark.parametrize(
    "sigmf",
    [
        {"datatype": "cf32_le", "sample_rate": 0.0},
        {"datatype": "cf32_le", "sample_rate": math.inf},
        {"datatype": "cf32_le", "sample_rate": 1e6, "center_frequency": math.nan},
        {"datatype": "cq32_le", "sample_rate": 1e6},
    ],
)
def test_lying_core_fields_are_a_note(tmp_path: Path, sigmf: dict[str, Any]) -> None:
    data = tmp_path / "rx.sigmf-data"
    data.write_bytes(np.asarray(tone(), dtype=np.complex64).tobytes())
    made = recording_plots(data, sigmf, cache=BuildCache(tmp_path / "cache"))
    assert made.psd is None and made.problem is not None
    assert made.problem.startswith("not plotted: ")


def test_a_store_recording_too_big_to_copy_is_plotted_not_published(tmp_path: Path) -> None:
    data = np.asarray(tone(samples=1 << 15), dtype=np.complex64).tobytes()
    digest = hashlib.sha256(data).hexdigest()
    store = tmp_path / "store"
    (store / "sha256" / digest[:2]).mkdir(parents=True)
    (store / "sha256" / digest[:2] / digest).write_bytes(data)
    entry = {
        "path": "rx.sigmf-data",
        "sha256": digest,
        "storage": {"kind": "store", "location": f"cas://sha256/{digest}"},
        "sigmf": {"datatype": "cf32_le", "sample_rate": 1e6},
    }
    published: list[Path] = []

    def publish(path: Path) -> str:
        published.append(path)
        return path.name

    context = recording_context(
        entry,
        Download(name="rx.sigmf-data", why_not="too big to copy into the site"),
        None,
        store=Store(path=store, url=None),
        cache=BuildCache(tmp_path / "cache"),
        publish=publish,
    )
    assert context["problem"] is None
    assert [context[view] for view in (*VIEWS, "psd_points")] == [p.name for p in published]
    assert context["meta_notes"] == ["no metadata file listed beside it"]
    # the same entry with other bytes in the store: nothing is plotted
    (store / "sha256" / digest[:2] / digest).write_bytes(data[::-1])
    context = recording_context(
        entry,
        Download(name="rx.sigmf-data", why_not="too big to copy into the site"),
        None,
        store=Store(path=store, url=None),
        cache=BuildCache(tmp_path / "cache2"),
        publish=lambda path: path.name,
    )
    assert context["psd"] is None and "not on this machine" in context["problem"]


def test_the_run_page_shows_four_plots_and_the_metadata_table(tmp_path: Path) -> None:
    repo = make_site_repo(tmp_path)
    add_experiment(repo, "annotated", title="Annotated recording")
    meta = {
        "global": {
            "core:datatype": "cf32_le",
            "core:sample_rate": 1e6,
            "core:description": HOSTILE,
            "core:author": "A. Radio <a@example.org>",
            "core:extensions": [{"name": "x", "version": "1.0.0"}],
        },
        "captures": [{"core:sample_start": 0, "core:frequency": 2.45e9}],
        "annotations": [
            {"core:sample_start": 100, "core:sample_count": 4000, "core:label": HOSTILE},
            {"core:sample_start": -3, "core:label": "bad"},
        ],
    }
    add_run(repo, "annotated", RUN, recording=tone(samples=1 << 16), meta=meta)
    site, _ = build_site(repo)
    page = (site / "experiments/annotated/runs" / RUN / "index.html").read_text("utf-8")
    for view in ("psd", "spectrogram", "time", "constellation"):
        src = re.search(rf'<img class="radiops-{view}" src="([^"]+)"', page)
        assert src is not None, view
        plot = (site / "experiments/annotated/runs" / RUN / src[1]).resolve()
        assert plot.is_file() and plot.read_bytes().startswith(b"<svg"), view
    table = page[
        page.index('class="radiops-sigmf-global"') : page.index(
            "</table>", page.index("radiops-sigmf-global")
        )
    ]
    assert "<code>core:sample_rate</code></td><td>1000000.0</td>" in table
    assert "A. Radio &lt;a@example.org&gt;" in table
    assert "&lt;script&gt;window.__pwned = 3&lt;/script&gt;" in table
    assert "[{&#34;name&#34;: &#34;x&#34;, &#34;version&#34;: &#34;1.0.0&#34;}]" in table
    assert "window.__pwned = 3</script>" not in page
    assert "1 SigMF annotations boxed" in page
    assert "1 annotations not drawn" in page


@pytest.mark.parametrize(
    ("datatype", "data", "plotted"),
    [
        ("cf32_le", b"", False),  # empty
        ("cf32_le", b"\0" * 8 * 8, False),  # 8 samples: too few
        ("cf32_le", np.asarray(tone(), np.complex64).tobytes() + b"\1\2\3", True),  # a cut sample
        ("cf32_le", np.asarray(tone() * 1e30, np.complex64).tobytes(), True),  # huge
        # at the ends of the floats every power overflows: nothing left to draw, a note
        ("cf64_le", np.full(4096, 1.7e308 - 1.7e308j).tobytes(), False),
        ("ci16_le", np.full(8192, -32768, "<i2").tobytes(), True),  # a constant
    ],
)
def test_odd_data_files_are_plotted_or_a_note(
    tmp_path: Path, datatype: str, data: bytes, plotted: bool
) -> None:
    path = tmp_path / "rx.sigmf-data"
    path.write_bytes(data)
    sigmf = {"datatype": datatype, "sample_rate": 1e6}
    made = recording_plots(path, sigmf, cache=BuildCache(tmp_path / "cache"))
    assert (made.problem is None) == plotted, made.problem
    for view in VIEWS if plotted else ():
        text = getattr(made, view).read_text(encoding="utf-8")
        assert not re.search(r'="[^"]*(?:nan|inf)', text), view


def test_a_pipe_in_place_of_a_recording_is_a_note(tmp_path: Path) -> None:
    path = tmp_path / "rx.sigmf-data"
    os.mkfifo(path)
    sigmf = {"datatype": "cf32_le", "sample_rate": 1e6}
    made = recording_plots(path, sigmf, cache=BuildCache(tmp_path / "cache"), data_sha256="0" * 64)
    assert made.problem == "not plotted: not a regular file"
