"""Probe results per node in a JSON file, valid while the node's engine and inventory
entry are unchanged."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from runner.engine.probe_result import RESULT_KEYS, ProbeResult, result_from
from runner.model.files import write_atomic
from runner.model.remotes import without_credentials
from runner.model.testbed import Node
from runner.model.timestamps import parse_timestamp

CACHE_FORMAT = 1


def inventory_sha256(node: Node) -> str:
    """A hash of what the inventory says that shapes a probe of ``node``."""
    described = {
        "engine": without_credentials(node.engine),
        "network": node.network,
        "capabilities": sorted(node.capabilities),
        "radios": [
            {
                "type": radio.type,
                "serial": radio.serial,
                "args": radio.args,
                "devices": list(radio.devices),
                "simulated": radio.simulated,
            }
            for radio in node.radios
        ],
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


class ProbeCache:
    """Probe results per node in a JSON file, valid while the node is unchanged.

    An entry counts for the node of that name only while its engine has the same
    ID and its inventory entry the same hash, and for ``max_age_s`` seconds. The
    file is a cache: an unreadable one is treated as empty and rewritten.
    """

    def __init__(self, path: Path, *, within: Path | None = None) -> None:
        self.path = path
        self.within = within  # trusted; no link below it is followed (the repository)

    def get(
        self,
        node: Node,
        *,
        engine_id: str,
        probe_image: str,
        max_age_s: float,
        now: dt.datetime | None = None,
    ) -> ProbeResult | None:
        """The cached result for ``node``, or None when there is none still valid.

        Valid means: the same engine, the same inventory entry, the same probe
        image (a rebuilt image, e.g. a newer UHD, probes again), young enough.
        """
        entry = self._entries().get(node.name)
        if not isinstance(entry, dict):
            return None
        if (
            entry.get("engine_id") != engine_id
            or entry.get("inventory") != inventory_sha256(node)
            or entry.get("probe_image") != probe_image
        ):
            return None
        try:
            result = entry["result"]
            probed_at = _parse_utc(result["probed_at"])
            cached = result_from(
                {key: result[key] for key in RESULT_KEYS if key in result}, probed_at=probed_at
            )
        except (KeyError, TypeError, ValueError):
            return None
        age = ((now or dt.datetime.now(dt.UTC)) - probed_at).total_seconds()
        return cached if 0 <= age <= max_age_s else None

    def put(self, node: Node, *, engine_id: str, probe_image: str, result: ProbeResult) -> None:
        """Keep ``result`` as ``node``'s latest probe (made with ``probe_image``)."""
        entries = self._entries()
        entries[node.name] = {
            "engine_id": engine_id,
            "probe_image": probe_image,
            "inventory": inventory_sha256(node),
            "result": result.as_dict(),
        }
        if self.within is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"format": CACHE_FORMAT, "nodes": entries}, indent=2, sort_keys=True)
        write_atomic(self.path, text + "\n", within=self.within)

    def _entries(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
            return {}
        nodes = data.get("nodes")
        return nodes if isinstance(nodes, dict) else {}


def _parse_utc(text: Any) -> dt.datetime:
    if not isinstance(text, str):
        raise ValueError("probed_at is not a text")
    moment = parse_timestamp(text)
    if moment is None:
        raise ValueError("probed_at is not an RFC 3339 UTC time")
    return moment
