"""The run a bundle (``radiops bundle``) carries, opened to be read: ``radiops diff BUNDLE``.

Only what a comparison reads is unpacked, by the bundle's safe reader
(``bundle_reader``), into a private temporary folder that is removed after:
the run folder (manifest, inline outputs), the store (outputs kept there and
the images' inventories) and the experiment's scenario at the recorded commit
(its tolerances), each file no further than its reader reads it (a recording's
first bytes, for its PSD). The images are checked and counted, never written.
Everything read from it stays untrusted: the caller reads the manifest capped
and checks it against the schema.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.engine.artifacts import ArtifactStore
from runner.model.experiment import SCENARIO_FILE
from runner.model.manifest import MANIFEST
from runner.model.problems import printable
from runner.model.repo import EXPERIMENTS
from runner.reproduce.bundle_reader import BundleRefused, Keep, unpack

RUN, STORE, SOURCE = "run", "store", "source"


@dataclass(frozen=True, kw_only=True)
class BundledRun:
    bundle: Path  # the archive, as given
    folder: Path  # the run folder, unpacked
    store: ArtifactStore  # the bundle's store/
    source: Path  # the repository's files at the recorded commit (experiments/ only)
    index: Mapping[str, Any]


@contextmanager
def opened_bundle(bundle: Path, *, keep: Keep) -> Iterator[BundledRun]:
    """The run inside ``bundle``, unpacked for reading while the context lasts: of each
    member, the bytes ``keep`` says (see :func:`kept_bytes`).

    BundleRefused when the archive is unsafe, damaged, not a bundle, or holds no run.
    """
    with tempfile.TemporaryDirectory(prefix="radiops-bundle-diff-") as scratch:
        root = Path(scratch)
        index = unpack(bundle, root, keep=keep)
        folder = root / RUN
        if not (folder / MANIFEST).is_file():
            raise BundleRefused(
                f"{bundle}: holds no {RUN}/{MANIFEST}: not a bundle of a run (write one with "
                "radiops bundle RUN_ID)"
            )
        yield BundledRun(
            bundle=bundle,
            folder=folder,
            store=ArtifactStore(root / STORE),
            source=root / SOURCE,
            index=index,
        )


def kept_bytes(*, manifest: int, run: int, store: int, scenario: int) -> Keep:
    """What a reader of the run needs of each member, at most (bytes): the manifest, other
    files of the run folder (outputs), objects of the store (outputs, inventories), the
    experiment's scenario at the recorded commit; nothing else. A cap one byte over a
    reader's own lets it see that a file is too large."""

    def keep(name: str) -> int | None:
        parts = name.split("/")
        if parts[0] == RUN:
            return manifest if parts[1:] == [MANIFEST] else run
        if parts[0] == STORE:
            return store
        if parts[:2] == [SOURCE, EXPERIMENTS] and parts[3:] == [SCENARIO_FILE]:
            return scenario
        return None

    return keep


def check_index(run: BundledRun, manifest: Mapping[str, Any]) -> None:
    """BundleRefused when the bundle's index names another run than its manifest."""
    said = (run.index.get("experiment"), run.index.get("run_id"))
    found = (manifest["experiment"]["name"], manifest["run_id"])
    if said != found:
        raise BundleRefused(
            f"{run.bundle}: its index names the run {printable(str(said[0]))}/"
            f"{printable(str(said[1]))} but its manifest is {found[0]}/{found[1]}: the "
            "bundle was altered; ask for it again"
        )
