"""Where a run's outputs and logs can be downloaded from the site.

Inline files (beside the manifest) are copied into the site. Outputs in the
artifact store are linked under testbed.yaml's ``artifacts.url`` when it is
set, else copied from the store directory when it is on the building machine,
else shown as not published. Copies are named by their sha256 with a
``.bin`` (outputs) or ``.txt`` (logs) extension, never by the name a
container chose, so a web server cannot serve an output as HTML or script on
the site's origin; the link's ``download`` attribute gives back the name.
They all live in one folder of the site, ``files/<first two hex>/``: a file
that several runs hold (an empty log, the same output) is published once.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from runner.repo import is_safe_relative
from runner.site.collect import Store

MAX_COPY_BYTES = 100 << 20  # store objects bigger than this are linked only, never copied
_CAS = re.compile(r"^cas://sha256/([0-9a-f]{64})$")


@dataclass(frozen=True, kw_only=True)
class Download:
    """A file of a run as the site offers it."""

    name: str  # the file name a person saves it under
    url: str | None = None  # where it is published outside the site (the artifact store)
    why_not: str = ""  # when neither url nor source
    source: Path | None = None  # the file to copy into the site
    site_path: str | None = None  # where the copy goes, relative to the site's root


def output_download(entry: Mapping[str, Any], run_dir: Path, store: Store) -> Download:
    """How to get one ``outputs[]`` entry of a manifest."""
    name = PurePosixPath(str(entry["path"])).name or "output"
    sha256 = str(entry["sha256"])
    storage = entry["storage"]
    if storage["kind"] == "inline":
        return _inline(str(storage["location"]), run_dir, name, site_file(sha256, ".bin"))
    match = _CAS.match(str(storage["location"]))
    if match is None:
        return Download(name=name, why_not="unknown store address")
    digest = match.group(1)
    if store.url:
        return Download(name=name, url=f"{store.url.rstrip('/')}/sha256/{digest[:2]}/{digest}")
    if store.path is None:
        return Download(name=name, why_not="in the artifact store, not published")
    path = store.path / "sha256" / digest[:2] / digest
    if not path.is_file():
        return Download(name=name, why_not="not in the artifact store here")
    if path.stat().st_size > MAX_COPY_BYTES:
        return Download(name=name, why_not="too big to copy into the site")
    return Download(name=name, source=path, site_path=site_file(digest, ".bin"))


def log_download(entry: Mapping[str, Any], run_dir: Path) -> Download:
    """How to get one ``logs[]`` entry: always inline."""
    name = f"{entry['role']}-{entry['index']}-{entry['stream']}.log"
    return _inline(str(entry["path"]), run_dir, name, site_file(str(entry["sha256"]), ".txt"))


def site_file(sha256: str, suffix: str) -> str:
    """Where the file with this sha256 is published in the site (from its root)."""
    return f"files/{sha256[:2]}/{sha256}{suffix}"


def _inline(location: str, run_dir: Path, name: str, site_path: str) -> Download:
    if not is_safe_relative(location):
        return Download(name=name, why_not="unsafe path in the manifest")
    path = run_dir / location
    if not _plain_file_below(run_dir, location):
        return Download(name=name, why_not="missing from the run directory")
    return Download(name=name, source=path, site_path=site_path)


def _plain_file_below(folder: Path, location: str) -> bool:
    """True when ``folder/location`` is a regular file reached without any symbolic link.

    Run directories never hold links (the runner refuses them when it copies
    files out of containers), so a link there was put by hand: not published.
    """
    path = os.fspath(folder)  # plain strings: a site has tens of thousands of these files
    for part in location.split("/"):
        path = f"{path}/{part}"
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            return False
        if stat.S_ISLNK(mode):
            return False
    return stat.S_ISREG(mode)
