"""Where a manifest's output keeps its bytes: the run directory (inline) or the artifact store."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from runner.engine.artifacts import ArtifactStore

READ_MAX_BYTES = 1 << 30


def output_path(output: Mapping[str, Any], run_dir: Path, store: ArtifactStore) -> Path:
    """The file holding ``output``'s bytes (it may be missing: a store on another host)."""
    kind, location = str(output["storage"]["kind"]), str(output["storage"]["location"])
    if kind == "inline":
        return run_dir / location
    return store.path(location.rsplit("/", 1)[1])


def output_reader(
    run_dir: Path, store: ArtifactStore
) -> Callable[[Mapping[str, Any]], bytes | None]:
    """``read(output)``: its bytes, or None when they are not here (or too big to compare)."""

    def read(output: Mapping[str, Any]) -> bytes | None:
        path = output_path(output, run_dir, store)
        try:
            if path.is_symlink() or path.stat().st_size > READ_MAX_BYTES:
                return None
            return path.read_bytes()
        except OSError:
            return None

    return read
