"""SigMF recordings among a run's outputs (runner/model/sigmf.py): read as untrusted metadata."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runner.model.sigmf import META_MAX_BYTES, NotSigMF, annotate, core_fields, sample_bytes

META = {
    "global": {
        "core:datatype": "cf32_le",
        "core:sample_rate": 1e6,
        "core:hw": "sim SIM1",
        "core:version": "1.0.0",
    },
    "captures": [
        {"core:sample_start": 0, "core:frequency": 2.45e9, "core:datetime": "2026-11-22T01:00:00Z"}
    ],
    "annotations": [],
}


def output(path: str, size: int, **extra: Any) -> dict[str, Any]:
    return {"path": path, "role": "rx", "index": 0, "size": size, "sigmf": None, **extra}


@pytest.mark.parametrize(
    ("datatype", "width"),
    [("cf32_le", 8), ("ci16_le", 4), ("rf64_be", 8), ("cu8", 2), ("ri8", 1), ("cf16_le", 4)],
)
def test_sample_sizes(datatype: str, width: int) -> None:
    assert sample_bytes(datatype) == width


@pytest.mark.parametrize("datatype", ["cf32", "ci8_le", "complex64", "xf32_le", "cf32_le "])
def test_odd_datatypes_are_refused(datatype: str) -> None:
    with pytest.raises(NotSigMF, match="not a SigMF datatype"):
        sample_bytes(datatype)


def test_a_recording_gets_its_core_fields() -> None:
    outputs = [output("cap.sigmf-data", 8 * 1000), output("cap.sigmf-meta", 300)]
    warnings = annotate(outputs, lambda o: json.dumps(META).encode())
    assert warnings == []
    assert outputs[0]["sigmf"] == {
        "sample_rate": 1e6,
        "datatype": "cf32_le",
        "num_samples": 1000,
        "meta_path": "cap.sigmf-meta",
        "center_frequency": 2.45e9,
        "datetime": "2026-11-22T01:00:00Z",
        "hw": "sim SIM1",
    }
    assert outputs[1]["sigmf"] is None


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "no 'global' object"),
        (json.dumps({"global": {"core:sample_rate": 1}}).encode(), "core:datatype is missing"),
        (
            json.dumps({"global": {"core:datatype": "cf32_le", "core:sample_rate": -1}}).encode(),
            "not a positive number",
        ),
        (b"[" * 100_000, "not JSON"),
        (b" " * (META_MAX_BYTES + 1), "at most"),
    ],
)
def test_hostile_metadata_leaves_an_ordinary_output_and_a_warning(
    meta: bytes, message: str
) -> None:
    outputs = [output("cap.sigmf-data", 80), output("cap.sigmf-meta", len(meta))]
    warnings = annotate(outputs, lambda o: meta)
    assert outputs[0]["sigmf"] is None
    assert len(warnings) == 1 and message in warnings[0]


def test_unchecked_fields_are_left_out_not_trusted() -> None:
    meta = json.loads(json.dumps(META))
    meta["captures"][0]["core:datetime"] = "<script>"
    meta["captures"][0]["core:frequency"] = "2.4 GHz"
    meta["global"]["core:hw"] = "x" * 5000
    fields = core_fields(json.dumps(meta).encode(), data_size=16, meta_path="m.sigmf-meta")
    assert "datetime" not in fields and "center_frequency" not in fields
    assert len(fields["hw"]) == 1000


def test_data_without_metadata_is_not_a_recording() -> None:
    outputs = [output("lonely.sigmf-data", 8), output("other.sigmf-meta", 10)]
    warnings = annotate(outputs, lambda o: json.dumps(META).encode())
    assert outputs[0]["sigmf"] is None
    assert warnings == ["rx#0: lonely.sigmf-data: no lonely.sigmf-meta beside it; not a recording"]
