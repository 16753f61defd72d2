"""The compare page of an experiment: pick two runs, see ``radiops diff``'s content and their
PSDs overlaid.

The diff is ``runner/model/run_diff``'s, computed here at build time for every pair of
the experiment's latest COMPARE_RUNS runs (at most 45 pairs, about a kilobyte each),
into one JSON file the page fetches: one rule, in Python only, rather than a second
copy of it in JavaScript. A pair of older runs is compared with ``radiops diff``.
Each run also gets a small JSON file (its id, commit, and links to its recordings'
PSD points); ``assets/compare.js`` draws the overlay from them, with DOM text nodes
only: everything in these files came from run records.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from runner.model.experiment import Tolerance
from runner.model.run_diff import diff_runs
from runner.model.run_diff_records import FORMAT, CodeChanges, RunSide, Yardstick
from runner.model.run_diff_render import to_json
from runner.site import urls
from runner.site.cache import content_key
from runner.site.collect import ExperimentRecord, RunRecord

COMPARE_RUNS = 10
# part of the pairs file's cache key: change when what run_diff says of two runs changes
PAIRS_VERSION = "1"
CODE_NOTE = (
    "the files changed between the commits are not listed on the site: radiops diff lists them"
)
INVENTORY_NOTE = "inventories are not read on the site: radiops diff reads them"


def compared_runs(experiment: ExperimentRecord) -> list[RunRecord]:
    """The runs the compare page offers: the latest COMPARE_RUNS with a valid manifest."""
    return [run for run in experiment.runs if run.manifest is not None][:COMPARE_RUNS]


def run_json(run: RunRecord, outputs: Sequence[Mapping[str, Any]]) -> str:
    """A run's compare file: who it is and its recordings' PSD points (links relative to
    the run's folder, where the file is published)."""
    manifest = run.manifest or {}
    return json.dumps(
        {
            "run_id": run.run_id,
            "started": manifest.get("timing", {}).get("started"),
            "commit": manifest.get("code", {}).get("commit"),
            "status": run.status,
            "psd": [
                {"output": item["entry"]["path"], "points": item["plots"]["psd_points"]}
                for item in outputs
                if item.get("plots") and item["plots"].get("psd_points")
            ],
        },
        sort_keys=True,
    )


def pairs_key(experiment: ExperimentRecord) -> str:
    """What the pairs file is made from: the compared runs' manifests (their hashes), the
    scenario's tolerances and the diff's format: its cache key."""
    tolerances = experiment.scenario["tolerances"] if experiment.scenario else {}
    return content_key(
        PAIRS_VERSION,
        FORMAT,
        experiment.name,
        json.dumps(tolerances, sort_keys=True),
        *(f"{run.run_id}:{run.manifest_sha256}" for run in compared_runs(experiment)),
    )


def pairs_json(experiment: ExperimentRecord) -> str:
    """``radiops diff``'s JSON for every pair of the compared runs, keyed ``A B`` (A older)."""
    runs = sorted(compared_runs(experiment), key=lambda run: run.run_id)
    written = experiment.scenario["tolerances"] if experiment.scenario else {}
    yardstick = Yardstick(
        metrics={name: Tolerance(**values) for name, values in written.items()},
        source=f"experiments/{experiment.name}/experiment.yaml",
    )
    code = CodeChanges(note=CODE_NOTE)
    pairs = {}
    for a, b in itertools.combinations(runs, 2):
        assert a.manifest is not None and b.manifest is not None  # compared_runs: valid ones
        diff = diff_runs(
            RunSide(label=f"{experiment.name}/{a.run_id}", manifest=a.manifest),
            RunSide(label=f"{experiment.name}/{b.run_id}", manifest=b.manifest),
            code=code,
            yardstick=yardstick,
        )
        pairs[f"{a.run_id} {b.run_id}"] = to_json(diff)
    return json.dumps({"pairs": pairs, "inventories": INVENTORY_NOTE}, sort_keys=True)


def compare_context(experiment: ExperimentRecord, links: urls.Links) -> dict[str, Any]:
    page = urls.compare_page(experiment.name)
    runs = compared_runs(experiment)
    return {
        "title": f"{experiment.title} · compare runs",
        "experiment_title": experiment.title,
        "experiment_href": links.href(urls.experiment_page(experiment.name), page=page),
        "index_href": links.href(urls.EXPERIMENTS, page=page),
        "pairs_href": links.href(urls.compare_pairs(experiment.name), page=page),
        "runs": [
            {
                "run_id": run.run_id,
                "json_href": links.href(urls.run_json(experiment.name, run.run_id), page=page),
            }
            for run in runs
        ],
        "limit": COMPARE_RUNS,
    }
