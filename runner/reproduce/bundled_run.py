"""The run a bundle (``radiops bundle``) carries, opened to be read: ``radiops diff BUNDLE``.

Only what a comparison reads is unpacked, by the bundle's safe reader
(``bundle_reader``), into a private temporary folder that is removed after:
the run folder (manifest, inline outputs), the store (outputs kept there and
the images' inventories) and the experiment's source at the recorded commit
(its scenario's tolerances). The images are checked and counted, never
written. Everything read from it stays untrusted: the caller reads the
manifest capped and checks it against the schema.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.engine.artifacts import ArtifactStore
from runner.model.manifest import MANIFEST
from runner.model.problems import printable
from runner.model.repo import EXPERIMENTS
from runner.reproduce.bundle_reader import BundleRefused, unpack

RUN, STORE, SOURCE = "run", "store", "source"
_KEPT = (f"{RUN}/", f"{STORE}/", f"{SOURCE}/{EXPERIMENTS}/")


@dataclass(frozen=True, kw_only=True)
class BundledRun:
    bundle: Path  # the archive, as given
    folder: Path  # the run folder, unpacked
    store: ArtifactStore  # the bundle's store/
    source: Path  # the repository's files at the recorded commit (experiments/ only)
    index: Mapping[str, Any]


@contextmanager
def opened_bundle(bundle: Path) -> Iterator[BundledRun]:
    """The run inside ``bundle``, unpacked for reading while the context lasts.

    BundleRefused when the archive is unsafe, damaged, not a bundle, or holds no run.
    """
    with tempfile.TemporaryDirectory(prefix="radiops-bundle-diff-") as scratch:
        root = Path(scratch)
        index = unpack(bundle, root, keep=lambda name: name.startswith(_KEPT))
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
