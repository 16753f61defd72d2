"""Where a run's outputs and logs can be downloaded from the site.

Inline files (beside the manifest) are copied into the site. Outputs in the
artifact store are linked under testbed.yaml's ``artifacts.url`` when it is
set, else copied from the store directory when it is on the building machine,
else shown as not published. Copies are named by their sha256 with a
``.bin`` (outputs) or ``.txt`` (logs) extension, never by the name a
container chose, so a web server cannot serve an output as HTML or script on
the site's origin; the link's ``download`` attribute gives back the name.
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
    href: str | None  # relative to the run's page, or an absolute URL; None: not offered
    why_not: str = ""  # when href is None
    source: Path | None = None  # the file to copy into the site
    site_path: str | None = None  # where the copy goes, relative to the run page's folder


def output_download(entry: Mapping[str, Any], run_dir: Path, store: Store) -> Download:
    """How to get one ``outputs[]`` entry of a manifest."""
    name = PurePosixPath(str(entry["path"])).name or "output"
    sha256 = str(entry["sha256"])
    storage = entry["storage"]
    if storage["kind"] == "inline":
        return _inline(str(storage["location"]), run_dir, name, f"files/{sha256}.bin")
    match = _CAS.match(str(storage["location"]))
    if match is None:
        return Download(name=name, href=None, why_not="unknown store address")
    digest = match.group(1)
    if store.url:
        return Download(name=name, href=f"{store.url.rstrip('/')}/sha256/{digest[:2]}/{digest}")
    if store.path is None:
        return Download(name=name, href=None, why_not="in the artifact store, not published")
    path = store.path / "sha256" / digest[:2] / digest
    if not path.is_file():
        return Download(name=name, href=None, why_not="not in the artifact store here")
    if path.stat().st_size > MAX_COPY_BYTES:
        return Download(name=name, href=None, why_not="too big to copy into the site")
    site_path = f"files/{digest}.bin"
    return Download(name=name, href=site_path, source=path, site_path=site_path)


def log_download(entry: Mapping[str, Any], run_dir: Path) -> Download:
    """How to get one ``logs[]`` entry: always inline."""
    name = f"{entry['role']}-{entry['index']}-{entry['stream']}.log"
    return _inline(str(entry["path"]), run_dir, name, f"files/{entry['sha256']}.txt")


def _inline(location: str, run_dir: Path, name: str, site_path: str) -> Download:
    if not is_safe_relative(location):
        return Download(name=name, href=None, why_not="unsafe path in the manifest")
    path = run_dir / location
    if not _plain_file_below(run_dir, location):
        return Download(name=name, href=None, why_not="missing from the run directory")
    return Download(name=name, href=site_path, source=path, site_path=site_path)


def _plain_file_below(folder: Path, location: str) -> bool:
    """True when ``folder/location`` is a regular file reached without any symbolic link.

    Run directories never hold links (the runner refuses them when it copies
    files out of containers), so a link there was put by hand: not published.
    """
    path = folder
    for part in location.split("/"):
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            return False
        if stat.S_ISLNK(mode):
            return False
    return stat.S_ISREG(mode)
