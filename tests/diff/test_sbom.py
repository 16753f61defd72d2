"""The inventory's document (runner/sbom.py): parsing what an image holds, the CycloneDX
1.5 JSON written from it, and reading it back. Pure: no image here (test_diff_runs.py reads
real ones)."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest

from runner.model.sbom import (
    Inventory,
    NotAnInventory,
    Package,
    canonical_bytes,
    cyclonedx,
    parse_dpkg_status,
    parse_os_release,
    parse_purl,
    parse_python_metadata,
    read_inventory,
)

STATUS = """Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 2.36-9+deb12u4
Description: GNU C Library
 continuation line: Version: 9.9

Package: removed-one
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: libuhd4.3.0
Status: install ok installed
Architecture: amd64
Version: 4.3.0.0+ds1-5

Package: uhd-host
Status: install ok installed
Architecture: amd64
Version: 4.3.0.0+ds1-5

Package: gnuradio
Status: install ok installed
Architecture: amd64
Version: 1:3.10.5.1-3
"""

#: What the CycloneDX 1.5 JSON schema requires of the parts radiops writes (the standard's
#: schema is not available offline): the document's fixed fields, each component's type
#: from 1.5's list, name and unique bom-ref, and the metadata's component and properties.
CYCLONEDX_15_SUBSET: dict[str, Any] = {
    "type": "object",
    "required": ["bomFormat", "specVersion"],
    "properties": {
        "bomFormat": {"const": "CycloneDX"},
        "specVersion": {"const": "1.5"},
        "serialNumber": {
            "type": "string",
            "pattern": "^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
            "[0-9a-fA-F]{12}$",
        },
        "version": {"type": "integer", "minimum": 1},
        "metadata": {
            "type": "object",
            "properties": {
                "component": {"$ref": "#/$defs/component"},
                "properties": {"type": "array", "items": {"$ref": "#/$defs/property"}},
                "tools": {
                    "type": "object",
                    "properties": {
                        "components": {"type": "array", "items": {"$ref": "#/$defs/component"}}
                    },
                },
            },
        },
        "components": {"type": "array", "items": {"$ref": "#/$defs/component"}},
    },
    "$defs": {
        "component": {
            "type": "object",
            "required": ["type", "name"],
            "properties": {
                "type": {
                    "enum": [
                        "application",
                        "framework",
                        "library",
                        "container",
                        "platform",
                        "operating-system",
                        "device",
                        "device-driver",
                        "firmware",
                        "file",
                        "machine-learning-model",
                        "data",
                    ]
                },
                "name": {"type": "string"},
                "version": {"type": "string"},
                "bom-ref": {"type": "string"},
                "purl": {"type": "string"},
                "description": {"type": "string"},
            },
        },
        "property": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
        },
    },
}
PURL = re.compile(r"^pkg:[a-z]+/(?:[^/@?#]+/)?[^/@?#]+@[^?#]+(?:\?[^#]+)?$")


def inventory() -> Inventory:
    packages = parse_dpkg_status(STATUS)
    numpy = parse_python_metadata("Metadata-Version: 2.1\nName: NumPy\nVersion: 1.24.2\n\nbody")
    assert numpy is not None
    return Inventory(
        image_id="sha256:" + "ab" * 32,
        packages=(*packages, numpy),
        os={"ID": "debian", "VERSION_ID": "12", "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)"},
    )


def test_dpkg_status_lists_installed_packages_with_version_and_architecture() -> None:
    packages = parse_dpkg_status(STATUS)
    assert [(p.name, p.version, p.arch) for p in packages] == [
        ("libc6", "2.36-9+deb12u4", "amd64"),  # a continuation line's "Version:" is not its own
        ("libuhd4.3.0", "4.3.0.0+ds1-5", "amd64"),
        ("uhd-host", "4.3.0.0+ds1-5", "amd64"),
        ("gnuradio", "1:3.10.5.1-3", "amd64"),
    ]  # the removed package is not listed


def test_distroless_status_files_have_no_status_field() -> None:
    stanza = "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n"
    assert parse_dpkg_status(stanza) == []
    assert parse_dpkg_status(stanza, require_installed=False) == [
        Package(ecosystem="deb", name="tzdata", version="2024a-0+deb12u1", arch="all")
    ]


def test_python_metadata_and_folder_names() -> None:
    found = parse_python_metadata("Name: Foo_Bar.baz\nVersion: 2.0\n")
    assert found == Package(ecosystem="pypi", name="foo-bar-baz", version="2.0")
    by_folder = parse_python_metadata("", fallback="python_dateutil-2.8.2.egg-info")
    assert by_folder == Package(ecosystem="pypi", name="python-dateutil", version="2.8.2")
    egg = parse_python_metadata("", fallback="numpy-1.24.2-py3.11.egg-info")
    assert egg is not None and egg.version == "1.24.2"
    assert parse_python_metadata("garbage\x00\n\n", fallback="") is None


def test_os_release() -> None:
    text = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nX=1\n'
    assert parse_os_release(text) == {
        "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)",
        "ID": "debian",
        "VERSION_ID": "12",
    }


def test_uhd_and_gnuradio_versions_come_from_the_package_list() -> None:
    found = inventory()
    assert found.uhd_version == "4.3.0.0+ds1-5"
    assert found.gnuradio_version == "1:3.10.5.1-3"
    assert Inventory(image_id="sha256:" + "0" * 64, packages=()).uhd_version is None


def test_the_document_is_cyclonedx_15_with_purls() -> None:
    document = cyclonedx(inventory(), tool_version="0.1.0")
    jsonschema.validate(document, CYCLONEDX_15_SUBSET)
    libraries = [c for c in document["components"] if c["type"] == "library"]
    purls = [c["purl"] for c in libraries]
    assert all(PURL.match(purl) for purl in purls), purls
    assert "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64" in purls
    assert "pkg:deb/debian/gnuradio@1:3.10.5.1-3?arch=amd64" in purls  # the epoch's colon
    assert "pkg:pypi/numpy@1.24.2" in purls
    refs = [c["bom-ref"] for c in document["components"]]
    assert len(refs) == len(set(refs))
    assert document["components"][0] == {
        "type": "operating-system",
        "bom-ref": "os:debian",
        "name": "debian",
        "version": "12",
        "description": "Debian GNU/Linux 12 (bookworm)",
    }
    properties = {p["name"]: p["value"] for p in document["metadata"]["properties"]}
    assert properties["radiops:uhd_version"] == "4.3.0.0+ds1-5"
    assert properties["radiops:gnuradio_version"] == "1:3.10.5.1-3"


def test_the_same_image_gives_the_same_bytes() -> None:
    one = canonical_bytes(cyclonedx(inventory(), tool_version="0.1.0"))
    shuffled = inventory()
    shuffled = Inventory(
        image_id=shuffled.image_id, packages=tuple(reversed(shuffled.packages)), os=shuffled.os
    )
    assert canonical_bytes(cyclonedx(shuffled, tool_version="0.1.0")) == one
    other = Inventory(image_id="sha256:" + "cd" * 32, packages=shuffled.packages, os=shuffled.os)
    assert canonical_bytes(cyclonedx(other, tool_version="0.1.0")) != one


def test_hostile_names_are_escaped_and_read_back_unchanged() -> None:
    odd = Package(ecosystem="deb", name='ev"il\n\x1b[31m/..', version="1.0 &?#@x", arch="a/b")
    document = cyclonedx(
        Inventory(image_id="sha256:" + "0" * 64, packages=(odd,)), tool_version="0"
    )
    data = canonical_bytes(document)
    assert b"\n" not in data and b"\x1b" not in data  # escaped inside JSON strings
    (component,) = document["components"]
    assert PURL.match(component["purl"]), component["purl"]
    back = read_inventory(data)
    assert back.packages == {("deb", odd.name, "a/b"): "1.0 &?#@x"}


def test_read_inventory_round_trip_and_bad_documents() -> None:
    back = read_inventory(canonical_bytes(cyclonedx(inventory(), tool_version="0")))
    assert back.packages[("deb", "libc6", "amd64")] == "2.36-9+deb12u4"
    assert back.packages[("pypi", "numpy", "")] == "1.24.2"
    assert back.properties["radiops:image_id"] == "sha256:" + "ab" * 32
    for bad in (b"not json", b"[1]", b'{"bomFormat": "SPDX"}', b"[" * 100_000):
        with pytest.raises(NotAnInventory):
            read_inventory(bad)
    weird = json.dumps({"bomFormat": "CycloneDX", "components": [1, {"purl": 3}, {}]})
    assert read_inventory(weird.encode()).packages == {}


def test_purls_of_other_kinds_are_not_packages() -> None:
    assert parse_purl("pkg:npm/left-pad@1.0.0") is None
    assert parse_purl("pkg:deb/debian/x") is None
    assert parse_purl("pkg:deb/debian/x@1?arch=amd64") == Package(
        ecosystem="deb", name="x", version="1", arch="amd64"
    )
