"""``images.lock``: per image directory, its context hash and the pinned reference it was
pushed as. Written atomically, and only when its content changes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from runner.model.errors import InvalidInput
from runner.model.files import write_atomic
from runner.model.references import is_pinned
from runner.model.repo import Repository

LOCK_FILE = "images.lock"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class LockInvalid(InvalidInput):
    """``images.lock`` cannot be read."""


@dataclass(frozen=True, kw_only=True)
class LockEntry:
    context_sha256: str
    digest: str  # pinned reference: "<registry>/<dir>@sha256:<hex>"


def read_lock(repo: Repository) -> dict[str, LockEntry]:
    """The entries of ``images.lock`` (empty when there is none); LockInvalid when corrupt."""
    path = repo.root / LOCK_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise LockInvalid(f"{LOCK_FILE}: cannot read it: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LockInvalid(
            f"{LOCK_FILE}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); "
            f"restore it from git, or delete it and run `radiops images push`"
        ) from None
    if not isinstance(data, dict):
        raise LockInvalid(f"{LOCK_FILE}: must be a JSON object of images/<dir> -> entry")
    entries = {}
    for image, entry in data.items():
        if (
            not re.fullmatch(r"images/[a-z0-9][a-z0-9._-]*", image)
            or not isinstance(entry, dict)
            or set(entry) != {"context_sha256", "digest"}
            or not _HEX64.match(str(entry["context_sha256"]))
            or not is_pinned(str(entry["digest"]))
        ):
            raise LockInvalid(
                f"{LOCK_FILE}: the entry {json.dumps(image)} must be "
                '{"context_sha256": "<64 hex>", "digest": "<registry>/<dir>@sha256:<64 hex>"}'
            )
        entries[image] = LockEntry(context_sha256=entry["context_sha256"], digest=entry["digest"])
    return entries


def lock_text(entries: Mapping[str, LockEntry]) -> str:
    """``images.lock`` as written: sorted keys, 2-space indent, a final newline."""
    data = {
        image: {"context_sha256": entry.context_sha256, "digest": entry.digest}
        for image, entry in entries.items()
    }
    return json.dumps(data, sort_keys=True, indent=2) + "\n"


def update_lock(
    repo: Repository, entries: Mapping[str, LockEntry], *, remove: Iterable[str] = ()
) -> bool:
    """Set ``entries`` (and drop ``remove``) in ``images.lock``; True when the file changed.

    The file is rewritten atomically, and only when its content would differ.
    """
    current = read_lock(repo)
    wanted = {**current, **entries}
    for image in remove:
        wanted.pop(image, None)
    path = repo.root / LOCK_FILE
    if wanted == current and (path.exists() or not wanted):
        return False
    write_atomic(path, lock_text(wanted))
    return True
