"""What differs between two runs, most decisive first: ``radiops diff``'s judgement.

Pure: two manifests (checked against the schema by the caller), what the
caller found beside them (the files changed between their commits, their
images' inventories, the PSD distance of their recordings) and the scenario's
``reproduce`` tolerances go in; a :class:`RunDiff` comes out, written as text
for people or as JSON by ``run_diff_render``. No Docker, no git, no file reads here.

Sections, in order: ``code``, ``parameters``, ``images``, ``nodes``,
``outcome``, ``metrics``, ``outputs``. Each lists items (what, value in A,
value in B, the kind of change, a detail) and notes (what could not be
compared, and why); a section without items is the same in both runs.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from runner.model.problems import printable
from runner.model.run_diff_records import (
    CodeChanges,
    Item,
    PsdDistance,
    RunDiff,
    RunSide,
    Scalar,
    Section,
    Yardstick,
)
from runner.model.sbom import StoredInventory


def diff_runs(
    a: RunSide,
    b: RunSide,
    *,
    code: CodeChanges,
    yardstick: Yardstick,
    psd_distance: PsdDistance | None = None,
) -> RunDiff:
    """Every difference between run ``a`` and run ``b`` (see the module's description)."""
    ma, mb = a.manifest, b.manifest
    return RunDiff(
        a=_who(a),
        b=_who(b),
        sections=(
            _code(ma, mb, code),
            _parameters(ma, mb),
            _images(a, b),
            _nodes(ma, mb),
            _outcome(ma, mb),
            _metrics(ma, mb, yardstick),
            _outputs(ma, mb, yardstick, psd_distance),
        ),
    )


def _who(side: RunSide) -> dict[str, Any]:
    manifest = side.manifest
    return {
        "run": side.label,
        "experiment": manifest["experiment"]["name"],
        "run_id": manifest["run_id"],
        "commit": manifest["code"]["commit"],
        "finished": manifest["timing"]["finished"],
        "status": manifest["outcome"]["status"],
    }


# -- sections -----------------------------------------------------------------------


def _code(ma: Mapping[str, Any], mb: Mapping[str, Any], changes: CodeChanges) -> Section:
    ca, cb = ma["code"], mb["code"]
    items = _changed("", {"repository": ca["repository"]}, {"repository": cb["repository"]})
    items += _changed("", {"commit": ca["commit"]}, {"commit": cb["commit"]})
    items += _changed(
        "", {"uncommitted changes": ca["dirty"]}, {"uncommitted changes": cb["dirty"]}
    )
    ea, eb = ma["experiment"], mb["experiment"]
    items += _changed("", {"experiment": ea["name"]}, {"experiment": eb["name"]})
    items += _changed(
        "", {"scenario sha256": ea["scenario_sha256"]}, {"scenario sha256": eb["scenario_sha256"]}
    )
    notes = []
    if ca["commit"] != cb["commit"]:
        items += [
            Item(key=f"file {path}", a=None, b=None, change=status)
            for status, path in changes.files
        ]
        if changes.more:
            notes.append(f"and {changes.more} more changed file(s)")
        if changes.note:
            notes.append(changes.note)
    return Section(name="code", items=tuple(items), notes=tuple(notes))


def _parameters(ma: Mapping[str, Any], mb: Mapping[str, Any]) -> Section:
    items = _changed("matrix ", ma["experiment"]["matrix_point"], mb["experiment"]["matrix_point"])
    items += _changed("", ma["parameters"], mb["parameters"])
    items += _changed("seed ", ma.get("seeds", {}), mb.get("seeds", {}))
    return Section(name="parameters", items=tuple(items))


def _images(a: RunSide, b: RunSide) -> Section:
    by_a = {image["role"]: image for image in a.manifest["images"]}
    by_b = {image["role"]: image for image in b.manifest["images"]}
    items: list[Item] = []
    notes: list[str] = []
    for role in sorted(set(by_a) | set(by_b)):
        ia, ib = by_a.get(role), by_b.get(role)
        if ia is None or ib is None:
            items.append(
                Item(
                    key=f"{role} image",
                    a=_image_name(ia),
                    b=_image_name(ib),
                    change="added" if ia is None else "removed",
                )
            )
            continue
        items += _changed(f"{role} ", {"image": ia["image"]}, {"image": ib["image"]})
        items += _changed(f"{role} ", {"digest": ia.get("digest")}, {"digest": ib.get("digest")})
        items += _changed(f"{role} ", {"image ID": ia["image_id"]}, {"image ID": ib["image_id"]})
        base_a, base_b = ia.get("base_image") or {}, ib.get("base_image") or {}
        items += _changed(
            f"{role} ", {"base image": base_a.get("digest")}, {"base image": base_b.get("digest")}
        )
        if ia["image_id"] == ib["image_id"]:
            continue
        if ia.get("inventory") and ib.get("inventory"):
            items += _changed(f"{role} ", _stack(ia["inventory"]), _stack(ib["inventory"]))
        packages, note = _packages(role, ia, ib, a.inventories, b.inventories)
        items += packages
        if note:
            notes.append(note)
    return Section(name="images", items=tuple(items), notes=tuple(notes))


def _stack(inventory: Mapping[str, Any]) -> dict[str, Scalar]:
    """The radio software versions an image's inventory names."""
    return {
        "UHD": inventory.get("uhd_version"),
        "GNU Radio": inventory.get("gnuradio_version"),
    }


def _image_name(image: Mapping[str, Any] | None) -> str | None:
    return None if image is None else str(image["image"])


def _packages(
    role: str,
    ia: Mapping[str, Any],
    ib: Mapping[str, Any],
    inv_a: Mapping[str, StoredInventory | str],
    inv_b: Mapping[str, StoredInventory | str],
) -> tuple[list[Item], str | None]:
    """Packages added, removed or changed between the two images of ``role``."""
    found_a = inv_a.get(ia["image_id"], "run A's manifest names no inventory for it")
    found_b = inv_b.get(ib["image_id"], "run B's manifest names no inventory for it")
    if isinstance(found_a, str) or isinstance(found_b, str):
        why = "; ".join(
            f"{run}: {printable(reason)}"
            for run, reason in (("A", found_a), ("B", found_b))
            if isinstance(reason, str)
        )
        return [], f"{role}: packages not compared ({why})"
    items = []
    pa, pb = found_a.packages, found_b.packages
    for key in sorted(set(pa) | set(pb)):
        va, vb = pa.get(key), pb.get(key)
        if va == vb:
            continue
        ecosystem, name, arch = key
        label = f"{role} {ecosystem} {name}" + (f" ({arch})" if arch else "")
        change = "added" if va is None else "removed" if vb is None else "changed"
        items.append(Item(key=label, a=va, b=vb, change=change))
    return items, None


def _nodes(ma: Mapping[str, Any], mb: Mapping[str, Any]) -> Section:
    by_a = {(p["role"], p["index"]): p for p in ma["placements"]}
    by_b = {(p["role"], p["index"]): p for p in mb["placements"]}
    items = _changed(
        "",
        {"radios simulated": ma["radios_simulated"]},
        {"radios simulated": mb["radios_simulated"]},
    )
    for key in sorted(set(by_a) | set(by_b)):
        pa, pb = by_a.get(key), by_b.get(key)
        who = f"{key[0]}#{key[1]} "
        if pa is None or pb is None:
            items.append(
                Item(
                    key=f"{who}node",
                    a=None if pa is None else pa["node"],
                    b=None if pb is None else pb["node"],
                    change="added" if pa is None else "removed",
                )
            )
            continue
        items += _changed(who, {"node": pa["node"]}, {"node": pb["node"]})
        engine_a, engine_b = pa.get("engine") or {}, pb.get("engine") or {}
        items += _changed(
            who,
            {"docker": engine_a.get("docker_version"), "kernel": engine_a.get("kernel")},
            {"docker": engine_b.get("docker_version"), "kernel": engine_b.get("kernel")},
        )
        items += _changed(f"{who}radio ", _radio(pa.get("radio")), _radio(pb.get("radio")))
    return Section(name="nodes", items=tuple(items))


def _radio(radio: Mapping[str, Any] | None) -> dict[str, Scalar]:
    if not radio:
        return {}
    fields = (
        "type",
        "serial",
        "simulated",
        "motherboard",
        "fpga_version",
        "firmware_version",
        "uhd_version",
        "uhd_device",
        "uhd_abi",
        "args",
    )
    return {name: radio.get(name) for name in fields if radio.get(name) is not None}


def _outcome(ma: Mapping[str, Any], mb: Mapping[str, Any]) -> Section:
    oa, ob = ma["outcome"], mb["outcome"]
    items = _changed("", {"status": oa["status"]}, {"status": ob["status"]})
    if oa["status"] != ob["status"]:
        items += _changed("", {"reason": oa["reason"]}, {"reason": ob["reason"]})
    items += _changed("exit code ", oa["exit_codes"], ob["exit_codes"])
    return Section(name="outcome", items=tuple(items))


def _metrics(ma: Mapping[str, Any], mb: Mapping[str, Any], yardstick: Yardstick) -> Section:
    items = []
    notes = []
    loose = False
    for name in sorted(set(ma["metrics"]) | set(mb["metrics"])):
        va, vb = ma["metrics"].get(name), mb["metrics"].get(name)
        if va is None or vb is None:
            items.append(Item(key=name, a=va, b=vb, change="added" if va is None else "removed"))
            continue
        if va == vb:
            continue
        tolerance = yardstick.metrics.get(name)
        delta = f"{vb - va:+.6g}"
        if tolerance is None:
            loose = True
            items.append(Item(key=name, a=va, b=vb, change="changed", detail=delta))
            continue
        allowed = max(tolerance.absolute or 0.0, (tolerance.relative or 0.0) * abs(va))
        within = math.isfinite(vb - va) and abs(vb - va) <= allowed + 1e-12 * abs(va)
        items.append(
            Item(
                key=name,
                a=va,
                b=vb,
                change="within" if within else "beyond",
                detail=f"{delta}, {'within' if within else 'beyond'} tolerance ±{allowed:g}",
            )
        )
    if loose:
        where = yardstick.source or "no scenario was found to read them from"
        notes.append(f"metrics without a reproduce tolerance are only said to differ ({where})")
    return Section(name="metrics", items=tuple(items), notes=tuple(notes))


def _outputs(
    ma: Mapping[str, Any],
    mb: Mapping[str, Any],
    yardstick: Yardstick,
    psd_distance: PsdDistance | None,
) -> Section:
    by_a, by_b = _outputs_by_name(ma["outputs"]), _outputs_by_name(mb["outputs"])
    items = []
    for name in sorted(set(by_a) | set(by_b)):
        oa, ob = by_a.get(name), by_b.get(name)
        if oa is None or ob is None:
            items.append(
                Item(
                    key=name,
                    a=None if oa is None else oa["sha256"],
                    b=None if ob is None else ob["sha256"],
                    change="added" if oa is None else "removed",
                )
            )
            continue
        if oa["sha256"] == ob["sha256"]:
            continue
        detail = f"{oa['size']} -> {ob['size']} bytes" if oa["size"] != ob["size"] else ""
        change = "changed"
        if oa.get("sigmf") and ob.get("sigmf") and psd_distance is not None:
            distance = psd_distance(oa, ob)
            if isinstance(distance, str):
                detail = f"PSD not compared: {printable(distance)}"
            else:
                limit = _psd_limit(oa["path"], yardstick)
                detail = f"PSD distance {distance:.3f} dB"
                if limit is not None:
                    change = "within" if distance <= limit else "beyond"
                    detail += f", {change} tolerance {limit:g} dB"
        items.append(Item(key=name, a=oa["sha256"], b=ob["sha256"], change=change, detail=detail))
    return Section(name="outputs", items=tuple(items))


def _outputs_by_name(outputs: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    found = {}
    for output in outputs:
        origin = output.get("origin", "output")
        prefix = "" if origin == "output" else f"{origin}:"
        found[f"{prefix}{output['role']}-{output['index']}/{output['path']}"] = output
    return found


def _psd_limit(path: str, yardstick: Yardstick) -> float | None:
    for pattern, comparison in yardstick.outputs.items():
        if comparison.compare == "psd-distance" and fnmatch.fnmatchcase(path, pattern):
            return comparison.tolerance if comparison.tolerance is not None else 1.0
    return None


def _changed(prefix: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Item]:
    """An item per key whose value differs between ``a`` and ``b`` (added, removed, changed)."""
    items = []
    for key in sorted(set(a) | set(b), key=str):
        va, vb = a.get(key), b.get(key)
        if va == vb and type(va) is type(vb):
            continue
        change = "added" if key not in a else "removed" if key not in b else "changed"
        items.append(Item(key=f"{prefix}{key}", a=_scalar(va), b=_scalar(vb), change=change))
    return items


def _scalar(value: Any) -> Scalar:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
