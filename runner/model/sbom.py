"""What was inside an image: its software inventory as a CycloneDX 1.5 JSON SBOM.

Pure: parses what :mod:`runner.engine.inventory` read out of an image (dpkg's status
database, Python distributions' METADATA, /etc/os-release) and writes the
document; reads a stored document back for ``radiops diff``. No Docker here.

Why CycloneDX 1.5 and not SPDX 2.3: the inventory is stored content-addressed
(its sha256 names it), so the same image must give the same bytes. SPDX 2.3
requires a creation time (``creationInfo.created``) and a unique
``documentNamespace`` in every document, which would make two inventories of
one image differ; CycloneDX requires neither. CycloneDX also has the package
URL as a first-class field of each component (SPDX puts it in an external
reference), a component type for the container image itself, and typed
properties for the UHD and GNU Radio versions. The document is smaller too.

Everything read from an image is hostile: texts are bounded by the caller,
parsing here never raises on bad input (a stanza or a file it cannot read is
skipped), and the JSON writer escapes whatever the names hold.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

FORMAT = "CycloneDX 1.5"
SPEC_VERSION = "1.5"
MAX_FIELD = 512  # characters kept of a name, version or architecture read from an image
_UUID_NAMESPACE = uuid.UUID("2f5c1b0e-8c3e-4b8a-9d7a-6c1f0e6d8a11")  # radiops inventories
_PEP503 = re.compile(r"[-_.]+")
_NOT_INSTALLED = ("deinstall", "purge", "not-installed", "config-files", "half-installed")

#: Debian packages whose version is "the UHD version" / "the GNU Radio version", by preference.
UHD_PACKAGES = (re.compile(r"^libuhd[0-9][0-9.]*$"), re.compile(r"^uhd-host$"))
GNURADIO_PACKAGES = (
    re.compile(r"^gnuradio$"),
    re.compile(r"^libgnuradio-runtime[0-9][0-9.]*$"),
)


@dataclass(frozen=True, kw_only=True, order=True)
class Package:
    """One installed package: ``deb`` (with its architecture) or ``pypi``."""

    ecosystem: str  # deb | pypi
    name: str
    version: str
    arch: str = ""  # deb only

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies the package across two images: a version change keeps it."""
        return (self.ecosystem, self.name, self.arch)

    def purl(self, distro: str = "debian") -> str:
        if self.ecosystem == "deb":
            return (
                f"pkg:deb/{quote(distro, safe='')}/{quote(self.name, safe='')}"
                f"@{quote(self.version, safe=':')}"
                + (f"?arch={quote(self.arch, safe='')}" if self.arch else "")
            )
        return f"pkg:pypi/{quote(self.name, safe='')}@{quote(self.version, safe=':')}"


@dataclass(frozen=True, kw_only=True)
class Inventory:
    """What was found in one image."""

    image_id: str
    packages: tuple[Package, ...]
    os: Mapping[str, str] = field(default_factory=dict)  # os-release ID, VERSION_ID, PRETTY_NAME
    notes: tuple[str, ...] = ()  # what could not be read: the inventory may be incomplete

    @property
    def uhd_version(self) -> str | None:
        return _version_of(self.packages, UHD_PACKAGES)

    @property
    def gnuradio_version(self) -> str | None:
        return _version_of(self.packages, GNURADIO_PACKAGES)


def _version_of(packages: Iterable[Package], wanted: Iterable[re.Pattern[str]]) -> str | None:
    debs = [p for p in packages if p.ecosystem == "deb"]
    for pattern in wanted:
        found = sorted(p.version for p in debs if pattern.match(p.name))
        if found:
            return found[-1]
    return None


# -- reading what an image holds ------------------------------------------------------


def parse_dpkg_status(text: str, *, require_installed: bool = True) -> list[Package]:
    """The installed packages of a dpkg status file (or a distroless ``status.d`` file,
    whose stanzas have no Status field: ``require_installed=False``)."""
    found = []
    for stanza in re.split(r"\n\s*\n", text):
        fields = _fields(stanza)
        name, version = fields.get("package", ""), fields.get("version", "")
        status = fields.get("status", "")
        if not name or not version:
            continue
        if require_installed and not status.endswith(" installed"):
            continue
        if any(word in status.split() for word in _NOT_INSTALLED):
            continue
        found.append(
            Package(
                ecosystem="deb",
                name=_clip(name),
                version=_clip(version),
                arch=_clip(fields.get("architecture", "")),
            )
        )
    return found


def parse_python_metadata(text: str, *, fallback: str = "") -> Package | None:
    """A Python distribution from its METADATA or PKG-INFO (RFC 822 headers), else from
    ``fallback``, the ``<name>-<version>.dist-info`` folder's name; None when neither names it."""
    head = re.split(r"\n\s*\n", text, maxsplit=1)[0]
    fields = _fields(head)
    name, version = fields.get("name", ""), fields.get("version", "")
    if (not name or not version) and fallback:
        stem = re.sub(r"\.(dist|egg)-info$", "", fallback)
        base, _, rest = stem.partition("-")
        name = name or base
        version = version or rest.split("-", 1)[0]
    if not name or not version:
        return None
    return Package(ecosystem="pypi", name=normalize_pypi(_clip(name)), version=_clip(version))


def normalize_pypi(name: str) -> str:
    """PEP 503's name, as package URLs spell pypi names."""
    return _PEP503.sub("-", name).lower()


def parse_os_release(text: str) -> dict[str, str]:
    """ID, VERSION_ID and PRETTY_NAME of /etc/os-release (quotes removed)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in ("ID", "VERSION_ID", "PRETTY_NAME"):
            found[key] = _clip(value.strip().strip("\"'"))
    return found


def _fields(stanza: str) -> dict[str, str]:
    """The first line of each ``Key: value`` field, keys lowercased (continuations skipped)."""
    fields: dict[str, str] = {}
    for line in stanza.splitlines():
        if not line or line[0] in " \t":
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    return fields


def _clip(text: str) -> str:
    return text[:MAX_FIELD]


# -- the document ---------------------------------------------------------------------


def cyclonedx(inventory: Inventory, *, tool_version: str) -> dict[str, Any]:
    """The inventory as a CycloneDX 1.5 JSON document (deterministic: no time, the serial
    number derived from the image ID)."""
    distro = inventory.os.get("ID") or "debian"
    components: list[dict[str, Any]] = []
    seen: set[str] = set()
    for package in sorted(set(inventory.packages)):
        purl = package.purl(distro)
        if purl in seen:
            continue
        seen.add(purl)
        component: dict[str, Any] = {
            "type": "library",
            "bom-ref": purl,
            "name": package.name,
            "version": package.version,
            "purl": purl,
        }
        components.append(component)
    properties = [{"name": "radiops:image_id", "value": inventory.image_id}]
    if inventory.uhd_version:
        properties.append({"name": "radiops:uhd_version", "value": inventory.uhd_version})
    if inventory.gnuradio_version:
        properties.append({"name": "radiops:gnuradio_version", "value": inventory.gnuradio_version})
    properties += [{"name": "radiops:incomplete", "value": note} for note in inventory.notes]
    image: dict[str, Any] = {
        "type": "container",
        "bom-ref": inventory.image_id,
        "name": inventory.image_id,
        "version": inventory.image_id,
    }
    if inventory.os.get("ID"):
        os_component: dict[str, Any] = {
            "type": "operating-system",
            "bom-ref": f"os:{inventory.os['ID']}",
            "name": inventory.os["ID"],
        }
        if inventory.os.get("VERSION_ID"):
            os_component["version"] = inventory.os["VERSION_ID"]
        if inventory.os.get("PRETTY_NAME"):
            os_component["description"] = inventory.os["PRETTY_NAME"]
        components.insert(0, os_component)
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid5(_UUID_NAMESPACE, inventory.image_id)}",
        "version": 1,
        "metadata": {
            "tools": {
                "components": [{"type": "application", "name": "radiops", "version": tool_version}]
            },
            "component": image,
            "properties": properties,
        },
        "components": components,
    }


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """The one byte form of a document: sorted keys, no spaces, UTF-8 (its sha256 names it)."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


# -- reading a stored document back -----------------------------------------------------


class NotAnInventory(ValueError):
    """Bytes that are not a CycloneDX inventory radiops can read."""


@dataclass(frozen=True, kw_only=True)
class StoredInventory:
    """What ``radiops diff`` needs of a stored inventory."""

    packages: Mapping[tuple[str, str, str], str]  # (ecosystem, name, arch) -> version(s)
    properties: Mapping[str, str]


def read_inventory(data: bytes) -> StoredInventory:
    """The packages and properties of a stored inventory; NotAnInventory when it is not one."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise NotAnInventory(f"not JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX":
        raise NotAnInventory("not a CycloneDX document")
    components = document.get("components")
    if not isinstance(components, list):
        raise NotAnInventory("it has no components list")
    packages: dict[tuple[str, str, str], list[str]] = {}
    for component in components:
        purl = component.get("purl") if isinstance(component, dict) else None
        parsed = parse_purl(purl) if isinstance(purl, str) else None
        if parsed is not None:
            packages.setdefault(parsed.key, []).append(parsed.version)
    metadata = document.get("metadata")
    raw = metadata.get("properties") if isinstance(metadata, dict) else None
    properties = {
        str(item["name"]): str(item.get("value", ""))
        for item in (raw if isinstance(raw, list) else [])
        if isinstance(item, dict) and isinstance(item.get("name"), str)
    }
    return StoredInventory(
        packages={key: ", ".join(sorted(versions)) for key, versions in packages.items()},
        properties=properties,
    )


def parse_purl(purl: str) -> Package | None:
    """A ``pkg:deb/...`` or ``pkg:pypi/...`` package URL back as a Package; None otherwise."""
    match = re.fullmatch(r"pkg:(deb|pypi)/(?:[^/@?#]+/)?([^/@?#]+)@([^?#]+)(?:\?([^#]*))?", purl)
    if match is None:
        return None
    kind, name, version, query = match.groups()
    qualifiers = dict(part.partition("=")[::2] for part in (query or "").split("&") if part)
    return Package(
        ecosystem=kind,
        name=_clip(unquote(name)),
        version=_clip(unquote(version)),
        arch=_clip(unquote(qualifiers.get("arch", ""))) if kind == "deb" else "",
    )
