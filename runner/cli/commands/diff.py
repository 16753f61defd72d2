"""``radiops diff RUN_A RUN_B``: what differs between two runs (runner/run_diff.py judges).

This module finds and reads what the judgement needs: the two manifests (a run
folder, ``<experiment>/<run id>`` or a bare run id), the files of the
experiments and images changed between their commits (git), their images'
inventories (the artifact store), the scenario's ``reproduce`` tolerances, and
the PSD distance of SigMF recordings. Manifests, inventories and recordings
may be hostile: every read is capped, no link is followed into or out of a run
folder, names from them never become paths unchecked.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.cli.command import Command, Context
from runner.engine.artifacts import ArtifactStore
from runner.engine.inventory import stored_inventory
from runner.gitops.commit_files import changed_files
from runner.model.errors import FatalError, UsageError
from runner.model.experiment import SCENARIO_FILE, read_experiment
from runner.model.manifest import MANIFEST
from runner.model.problems import printable
from runner.model.repo import ARTIFACT_STORE, EXPERIMENTS, RUNS, Repository, find_repository
from runner.model.run_diff import diff_runs
from runner.model.run_diff_records import PsdDistance, RunDiff, RunSide, Yardstick
from runner.model.run_diff_render import render_text, to_json
from runner.model.sbom import StoredInventory
from runner.model.schemas import data_errors
from runner.model.testbed import load_testbed
from runner.reproduce.compare import PSD_MAX_SAMPLES, psd_db, psd_distance_db

RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-)){0,62}(?<!-)$")
MANIFEST_MAX_BYTES = 16 << 20
RECORDING_MAX_BYTES = PSD_MAX_SAMPLES * 8  # what psd_db reads of a cf32_le recording


class BadRun(UsageError):
    """A run that cannot be found or read: exit code 2, with what to give instead."""


def diff(run_a: str, run_b: str, *, cwd: Path) -> RunDiff:
    """The difference between the runs named ``run_a`` and ``run_b``."""
    repo = find_repository(cwd)
    folder_a, folder_b = find_run(run_a, repo, cwd), find_run(run_b, repo, cwd)
    ma, mb = read_run_manifest(folder_a, run_a), read_run_manifest(folder_b, run_b)
    store = _store(repo)
    return diff_runs(
        _side(ma, store),
        _side(mb, store),
        code=changed_files(repo, ma, mb),
        yardstick=yardstick(repo, ma, mb),
        psd_distance=_psd(folder_a, folder_b, store),
    )


# -- finding and reading runs ---------------------------------------------------------


def find_run(text: str, repo: Repository, cwd: Path) -> Path:
    """The run folder named by ``text``: a folder holding a manifest.json (inside the
    repository), ``<experiment>/<run id>``, or a run id found under experiments/*/runs/."""
    shown = printable(text)
    if not text or "\x00" in text:
        raise BadRun(f"{shown!r}: not a run")
    parts = text.replace("\\", "/").rstrip("/").split("/")
    if len(parts) == 1 and RUN_ID.match(text):
        found = sorted(repo.experiments_dir.glob(f"*/{RUNS}/{text}/{MANIFEST}"))
        if not found:
            raise BadRun(
                f"{shown}: no experiment has this run (looked in {EXPERIMENTS}/*/{RUNS}/{text}/)"
            )
        if len(found) > 1:
            names = ", ".join(p.parent.parent.parent.name for p in found)
            raise BadRun(f"{shown}: several experiments have this run ({names}); give NAME/{text}")
        return found[0].parent
    if len(parts) == 2 and SLUG.match(parts[0]) and RUN_ID.match(parts[1]):
        folder = repo.experiments_dir / parts[0] / RUNS / parts[1]
        if (folder / MANIFEST).is_file():
            return folder
        if not (cwd / text).is_dir():
            raise BadRun(f"{shown}: experiment {parts[0]} has no run {parts[1]} ({folder})")
    path = Path(text) if Path(text).is_absolute() else cwd / text
    if path.name == MANIFEST:
        path = path.parent
    if not path.is_dir():
        raise BadRun(
            f"{shown}: not a run; give a run folder ({EXPERIMENTS}/NAME/{RUNS}/ID), NAME/ID, "
            "or a run id such as 20261121T233100Z-1a2b3c4d"
        )
    if not repo.contains(path):
        raise BadRun(f"{shown}: is outside the repository {repo.root}; give a run of it")
    return path


def read_run_manifest(folder: Path, shown: str) -> dict[str, Any]:
    """The run's manifest, read capped and without following a link, checked against the
    schema; BadRun says what is wrong with it."""
    path = folder / MANIFEST
    name = printable(str(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise BadRun(f"{printable(shown)}: no {MANIFEST} in {printable(str(folder))}") from None
    except OSError as exc:
        raise BadRun(f"{name}: cannot be read ({exc.strerror or exc}); is it a link?") from None
    try:
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MANIFEST_MAX_BYTES + 1)
    except OSError as exc:
        raise BadRun(f"{name}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MANIFEST_MAX_BYTES:
        raise BadRun(f"{name}: over {MANIFEST_MAX_BYTES} bytes, too large for a manifest")
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise BadRun(f"{name}: not JSON ({printable(str(exc))}); is this a run folder?") from None
    if not isinstance(manifest, dict):
        raise BadRun(f"{name}: not a manifest (a JSON object is expected)")
    problems = data_errors(manifest, "manifest")
    if problems:
        listed = "; ".join(printable(p) for p in problems[:3])
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise BadRun(f"{name}: does not match the manifest schema: {listed}{more}")
    return manifest


def _store(repo: Repository) -> ArtifactStore:
    """The artifact store runs of this repository write to: testbed.yaml's, else the default."""
    try:
        testbed = load_testbed(repo.root)
    except FatalError:
        testbed = None
    if testbed is not None and testbed.artifacts is not None:
        return ArtifactStore(testbed.artifacts.path)
    return ArtifactStore(repo.root / ARTIFACT_STORE)


def _side(manifest: Mapping[str, Any], store: ArtifactStore) -> RunSide:
    inventories: dict[str, StoredInventory | str] = {}
    for image in manifest["images"]:
        entry = image.get("inventory")
        if entry is None:
            inventories[image["image_id"]] = "no inventory was recorded for its image"
            continue
        inventories[image["image_id"]] = stored_inventory(store, entry["sha256"])
    label = f"{manifest['experiment']['name']}/{manifest['run_id']}"
    return RunSide(label=label, manifest=manifest, inventories=inventories)


def _read_capped(path: Path, limit: int, *, whole: bool = True) -> bytes | None:
    """At most ``limit`` bytes of a regular file, never through a link at its end; None when
    it is missing, a link, or (``whole``) longer than ``limit``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError:  # a folder, an I/O error
        return None
    if len(data) > limit and whole:
        return None
    return data[:limit]


# -- what the judgement needs besides the manifests -------------------------------------


def yardstick(repo: Repository, ma: Mapping[str, Any], mb: Mapping[str, Any]) -> Yardstick:
    """Run A's scenario's ``reproduce`` tolerances, from the working tree (else run B's)."""
    for manifest in (ma, mb):
        name = manifest["experiment"]["name"]
        scenario = repo.experiments_dir / name / SCENARIO_FILE
        if not scenario.is_file() or not repo.contains(scenario):
            continue
        _, experiment, _ = read_experiment(scenario)
        if experiment is not None:
            return Yardstick(
                metrics=experiment.metric_tolerances,
                outputs=experiment.output_comparisons,
                source=f"{EXPERIMENTS}/{name}/{SCENARIO_FILE}",
            )
    return Yardstick()


def _psd(folder_a: Path, folder_b: Path, store: ArtifactStore) -> PsdDistance:
    def distance(oa: Mapping[str, Any], ob: Mapping[str, Any]) -> float | str:
        datatypes = {str((o.get("sigmf") or {}).get("datatype", "")) for o in (oa, ob)}
        if datatypes != {"cf32_le"}:
            return f"only cf32_le recordings are compared ({', '.join(sorted(datatypes))})"
        data_a, data_b = _recording(oa, folder_a, store), _recording(ob, folder_b, store)
        if data_a is None or data_b is None:
            return f"the recording of run {'A' if data_a is None else 'B'} is not here"
        try:
            return psd_distance_db(psd_db(data_a, "cf32_le"), psd_db(data_b, "cf32_le"))
        except ValueError as exc:
            return str(exc)

    return distance


def _recording(output: Mapping[str, Any], folder: Path, store: ArtifactStore) -> bytes | None:
    """The first bytes of a recording psd_db reads: in the run folder, or the store."""
    storage = output["storage"]
    location = str(storage["location"])
    if storage["kind"] == "inline":
        parts = location.split("/")
        if location.startswith("/") or ".." in parts or "" in parts:
            return None
        path = folder / location
        if not path.resolve().is_relative_to(folder.resolve()):
            return None
    else:
        digest = location.rsplit("/", 1)[-1]
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            return None
        path = store.path(digest)
    return _read_capped(path, RECORDING_MAX_BYTES, whole=False)


def render_json(found: RunDiff) -> str:
    """``radiops diff --json``'s output (its structure: site/diff.md)."""
    return json.dumps(to_json(found), indent=2, ensure_ascii=False) + "\n"


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", metavar="RUN_A", help="e.g. hello/20261121T233100Z-1a2b3c4d")
    parser.add_argument("run_b", metavar="RUN_B", help="the run to compare it with")
    parser.add_argument("--json", action="store_true", help="print JSON (see site/diff.md)")


def _main(args: argparse.Namespace, context: Context) -> int:
    found = diff(args.run_a, args.run_b, cwd=context.cwd)
    print(render_json(found) if args.json else render_text(found), end="")
    return 0


COMMAND = Command(
    description="Compare two runs (of one experiment or of two): code, parameters, images "
    "and their packages, nodes and radios, outcome, metrics (against the scenario's "
    "reproduce tolerances) and outputs (sha256, PSD distance of recordings). A run is a "
    "run folder, NAME/RUN_ID or a run id. Exits 0 whatever differs; 2 when a run cannot "
    "be read.",
    add_arguments=_arguments,
    main=_main,
)
