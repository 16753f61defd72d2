"""The site's folders of experiment and run pages, kept from one build to the next.

mkdocs empties the site directory before every build, and a site of ten
thousand runs has a folder per run page (``experiments/<name>/runs/<id>/``):
making ten thousand folders again costs more than linking every unchanged
page back from the build cache (creating folders spread across a file
system is slow; ext4 spreads new folders over its block groups). So the
folders survive the cleaning, and only the folders:

1. :func:`set_aside` (before mkdocs cleans): every *file* below
   ``experiments/`` is deleted, then the tree of empty folders is moved
   into the build cache. Deleting the files first matters: a published page
   may be a hard link to a cache entry, and mkdocs writing a page in place
   would change the cache entry too.
2. :func:`put_back` (after cleaning, before any page is written): the
   folders return where they were; pages and files are written into them as
   into new ones.
3. :func:`remove_empty` (after the build): folders nothing was written to
   this time (a removed run) are removed, so the site is what a build into an
   empty directory gives.

Where anything fails (the cache is on another file system, a folder is in
the way), the step gives up and mkdocs' own cleaning does what it always does.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

KEPT = "experiments"  # the site folder whose sub-folders are kept


def set_aside(site_dir: Path, holding: Path) -> bool:
    """Empty ``site_dir/experiments`` of files and move its folders to ``holding``."""
    shutil.rmtree(holding, ignore_errors=True)  # left by a build that died half-way
    tree = site_dir / KEPT
    if tree.is_symlink() or not tree.is_dir():
        return False
    try:
        # plain strings, not Path objects: tens of thousands of files
        for folder, _, names in os.walk(tree):
            for name in names:
                os.unlink(os.path.join(folder, name))  # noqa: PTH108, PTH118
        holding.parent.mkdir(parents=True, exist_ok=True)
        tree.rename(holding)
    except OSError:
        return False  # mkdocs cleans the site directory as usual
    return True


def put_back(site_dir: Path, holding: Path) -> None:
    """Return the folders set aside to ``site_dir/experiments`` (which must not exist yet)."""
    if not holding.is_dir():
        return
    try:
        site_dir.mkdir(parents=True, exist_ok=True)
        holding.rename(site_dir / KEPT)
    except OSError:
        shutil.rmtree(holding, ignore_errors=True)


def remove_empty(site_dir: Path) -> int:
    """Remove the folders below ``site_dir/experiments`` that hold nothing; how many."""
    removed = 0
    tree = site_dir / KEPT
    for folder, folders, names in os.walk(tree, topdown=False):
        if names or any(os.path.lexists(os.path.join(folder, f)) for f in folders):  # noqa: PTH118
            continue
        try:
            os.rmdir(folder)  # noqa: PTH106
            removed += 1
        except OSError:
            pass
    return removed
