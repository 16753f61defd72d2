"""``radiops diff RUN_A RUN_B``: what differs between two runs (runner/run_diff.py judges).

This module finds and reads what the judgement needs: the two manifests (a run
folder, ``<experiment>/<run id>``, a bare run id, or a bundle file written by
``radiops bundle``), the files of the experiments and images changed between
their commits (git; not for a bundle, which holds no history), their images'
inventories (the artifact store, or the bundle's), the scenario's ``reproduce``
tolerances, and the PSD distance of SigMF recordings. Manifests, inventories,
recordings and bundles may be hostile: every read is capped, no link is followed
into or out of a run folder, a bundle is unpacked by the bundle's safe reader
only, names from them never become paths unchecked.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.cli.command import Command, Context
from runner.engine.artifacts import ArtifactStore
from runner.engine.inventory import INVENTORY_MAX_BYTES, stored_inventory
from runner.gitops.commit_files import changed_files
from runner.model.errors import FatalError, UsageError
from runner.model.experiment import SCENARIO_FILE, read_experiment
from runner.model.manifest import MANIFEST
from runner.model.problems import printable
from runner.model.repo import ARTIFACT_STORE, EXPERIMENTS, RUNS, Repository, find_repository
from runner.model.run_diff import diff_runs
from runner.model.run_diff_records import CodeChanges, PsdDistance, RunDiff, RunSide, Yardstick
from runner.model.run_diff_render import render_text, to_json
from runner.model.sbom import StoredInventory
from runner.model.schemas import data_errors
from runner.model.testbed import load_testbed
from runner.model.yamldoc import MAX_BYTES as YAML_MAX_BYTES
from runner.reproduce.bundle_reader import BundleRefused
from runner.reproduce.bundled_run import BundledRun, check_index, kept_bytes, opened_bundle
from runner.reproduce.compare import PSD_MAX_SAMPLES, psd_db, psd_distance_db

RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-)){0,62}(?<!-)$")
MANIFEST_MAX_BYTES = 16 << 20
RECORDING_MAX_BYTES = PSD_MAX_SAMPLES * 8  # what psd_db reads of a cf32_le recording
# what this module reads of a bundle's files (the readers' caps, one byte over to see a
# file is too large): all it unpacks of them
BUNDLE_KEEPS = kept_bytes(
    manifest=MANIFEST_MAX_BYTES + 1,
    run=RECORDING_MAX_BYTES,
    store=max(RECORDING_MAX_BYTES, INVENTORY_MAX_BYTES + 1),
    scenario=YAML_MAX_BYTES + 1,
)
BUNDLE_CODE_NOTE = (
    "the files changed between the commits are not listed for a bundle (it holds no git "
    "history): radiops diff lists them between two runs of the repository"
)


class BadRun(UsageError):
    """A run that cannot be found or read: exit code 2, with what to give instead."""


@dataclass(frozen=True, kw_only=True)
class _Run:
    """One side, found and read: a run folder of the repository, or a bundle's."""

    folder: Path
    manifest: dict[str, Any]
    store: ArtifactStore
    bundle: BundledRun | None = None


def diff(run_a: str, run_b: str, *, cwd: Path) -> RunDiff:
    """The difference between the runs named ``run_a`` and ``run_b`` (either may be a
    bundle file; the repository at ``cwd`` is needed only for a run that is not)."""
    bundles = [bundle_file(text, cwd) for text in (run_a, run_b)]
    repo = None if all(bundles) else find_repository(cwd)
    with ExitStack() as stack:
        a, b = (
            _open_run(text, bundle, repo, cwd, stack)
            for text, bundle in zip((run_a, run_b), bundles, strict=True)
        )
        code = (
            changed_files(repo, a.manifest, b.manifest)
            if repo is not None and a.bundle is None and b.bundle is None
            else CodeChanges(note=BUNDLE_CODE_NOTE)
        )
        return diff_runs(
            _side(a),
            _side(b),
            code=code,
            yardstick=yardstick(repo, a, b),
            psd_distance=_psd(a, b),
        )


def bundle_file(text: str, cwd: Path) -> Path | None:
    """``text`` as a bundle: a file that is not a manifest; None when it names no file."""
    if not text or "\x00" in text:
        return None
    path = Path(text) if Path(text).is_absolute() else cwd / text
    try:
        return path if path.is_file() and path.name != MANIFEST else None
    except OSError:  # a name too long for a file: find_run says it is no run
        return None


def _open_run(
    text: str, bundle: Path | None, repo: Repository | None, cwd: Path, stack: ExitStack
) -> _Run:
    if bundle is None:
        assert repo is not None  # diff() finds it unless both runs are bundles
        folder = find_run(text, repo, cwd)
        return _Run(folder=folder, manifest=read_run_manifest(folder, text), store=_store(repo))
    try:
        opened = stack.enter_context(opened_bundle(bundle, keep=BUNDLE_KEEPS))
        manifest = read_run_manifest(
            opened.folder, text, display=f"{printable(text)}: run/{MANIFEST}"
        )
        check_index(opened, manifest)
    except BundleRefused as exc:
        raise BadRun(str(exc)) from None
    return _Run(folder=opened.folder, manifest=manifest, store=opened.store, bundle=opened)


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


def read_run_manifest(folder: Path, shown: str, *, display: str | None = None) -> dict[str, Any]:
    """The run's manifest, read capped and without following a link, checked against the
    schema; BadRun says what is wrong with it (naming it ``display``, else its path)."""
    path = folder / MANIFEST
    name = display or printable(str(path))
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


def _side(run: _Run) -> RunSide:
    manifest = run.manifest
    inventories: dict[str, StoredInventory | str] = {}
    for image in manifest["images"]:
        entry = image.get("inventory")
        if entry is None:
            inventories[image["image_id"]] = "no inventory was recorded for its image"
        elif run.bundle is not None and not run.store.path(entry["sha256"]).is_file():
            inventories[image["image_id"]] = (
                f"its inventory {entry['sha256'][:12]} is not in the bundle"
            )
        else:
            inventories[image["image_id"]] = stored_inventory(run.store, entry["sha256"])
    label = f"{manifest['experiment']['name']}/{manifest['run_id']}"
    if run.bundle is not None:
        label += f" (bundle {printable(run.bundle.bundle.name)})"
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


def yardstick(repo: Repository | None, a: _Run, b: _Run) -> Yardstick:
    """Run A's scenario's ``reproduce`` tolerances (else run B's): from the working tree for
    a run of the repository, from the experiment's files at the recorded commit for a bundle."""
    for run in (a, b):
        name = run.manifest["experiment"]["name"]
        shown = f"{EXPERIMENTS}/{name}/{SCENARIO_FILE}"
        if run.bundle is not None:
            scenario = run.bundle.source / EXPERIMENTS / name / SCENARIO_FILE
            commit = run.manifest["code"]["commit"] or "?"
            shown += f" at commit {commit[:12]}, from bundle {printable(run.bundle.bundle.name)}"
        elif repo is not None and SLUG.match(name):
            scenario = repo.experiments_dir / name / SCENARIO_FILE
            if not repo.contains(scenario):
                continue
        else:
            continue
        if not scenario.is_file() or scenario.is_symlink():
            continue
        _, experiment, _ = read_experiment(scenario, display=shown)
        if experiment is not None:
            return Yardstick(
                metrics=experiment.metric_tolerances,
                outputs=experiment.output_comparisons,
                source=shown,
            )
    return Yardstick()


def _psd(a: _Run, b: _Run) -> PsdDistance:
    def distance(oa: Mapping[str, Any], ob: Mapping[str, Any]) -> float | str:
        datatypes = {str((o.get("sigmf") or {}).get("datatype", "")) for o in (oa, ob)}
        if datatypes != {"cf32_le"}:
            return f"only cf32_le recordings are compared ({', '.join(sorted(datatypes))})"
        data_a, data_b = _recording(oa, a.folder, a.store), _recording(ob, b.folder, b.store)
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
    parser.add_argument(
        "run_a",
        metavar="RUN_A",
        help="e.g. hello/20261121T233100Z-1a2b3c4d, or a bundle file (radiops bundle)",
    )
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
    "run folder, NAME/RUN_ID, a run id, or a bundle file written by radiops bundle. Exits 0 "
    "whatever differs; 2 when a run cannot be read.",
    add_arguments=_arguments,
    main=_main,
)
