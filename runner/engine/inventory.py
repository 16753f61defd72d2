"""Read an image's software inventory from inside it, once per image ID.

The image is never run: a stopped container is created from it (no network,
an entry point that does not exist), the files that say what is installed are
copied out of it with the engine's archive API, and the container is removed.
Read: dpkg's status database (``/var/lib/dpkg/status``, and ``status.d/`` of
distroless images), /etc/os-release, and the METADATA or PKG-INFO of every
Python distribution in the usual folders (``/usr/lib/python3/dist-packages``,
``/usr/lib/python3.X/site-packages``, ``/usr/local/lib/python3.X/{dist,
site}-packages``). runner/sbom.py writes the CycloneDX document, which goes
into the artifact store under its sha256.

An index ``<store>/inventories/<image-id hex>.json`` maps each image ID to its
document, so an image already seen costs one small file read. What an image
holds is hostile: names in its archives are never used as paths here, every
file read is capped, links are not followed, and a stream that goes on too
long is cut (the document then says it is incomplete).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import requests.exceptions

from runner import __version__
from runner.engine.artifacts import ArtifactStore
from runner.engine.capture import STREAM_CHUNK, ChunkReader
from runner.engine.engines import ENGINE_ERRORS
from runner.model.errors import EnvironmentProblem
from runner.model.files import LinkInTheWay, open_folder, write_atomic
from runner.model.problems import printable
from runner.model.sbom import (
    FORMAT,
    Inventory,
    NotAnInventory,
    Package,
    StoredInventory,
    canonical_bytes,
    cyclonedx,
    parse_dpkg_status,
    parse_os_release,
    parse_python_metadata,
    read_inventory,
)

INVENTORIES = "inventories"  # the index's folder, in the artifact store's
LABEL = "org.radiops.inventory"  # on the stopped container: which image it reads
INDEX_MAX_BYTES = 4096
INVENTORY_MAX_BYTES = 64 << 20  # a stored inventory, read back
STATUS_MAX_BYTES = 64 << 20
METADATA_MAX_BYTES = 1 << 20
LIST_MAX_BYTES = 16 << 20
OS_RELEASE_MAX_BYTES = 64 << 10
TREE_MAX_MEMBERS = 200_000
TREE_MAX_BYTES = 512 << 20  # bytes streamed per folder, read or skipped
PYTHON_MINORS = range(6, 16)
NEVER_RUNS = "/radiops-inventory-never-runs"
_IMAGE_ID = re.compile(r"^sha256:([0-9a-f]{64})$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
_DIST_INFO = re.compile(
    r"^(/usr/lib/python3(?:\.[0-9]+)?/(?:dist|site)-packages)/([^/]+\.(?:dist|egg)-info)$"
)
_PYTHON = re.compile(r"^(?:lib)?python3\.([0-9]{1,2})(?:-minimal|-stdlib)?$")
_PYTHON_ENV = re.compile(r"^PYTHON_VERSION=3\.([0-9]{1,2})(?:[.a-z].*)?$")

Select = Callable[[str], int | None]  # member path -> the most bytes read, None: skipped


@dataclass(frozen=True, kw_only=True)
class InventoryRef:
    """The manifest's ``images[].inventory``."""

    sha256: str
    packages: int
    uhd_version: str | None = None
    gnuradio_version: str | None = None
    format: str = FORMAT

    def as_manifest(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "sha256": self.sha256,
            "format": self.format,
            "packages": self.packages,
        }
        if self.uhd_version:
            entry["uhd_version"] = self.uhd_version
        if self.gnuradio_version:
            entry["gnuradio_version"] = self.gnuradio_version
        return entry


def image_inventory(
    client: docker.DockerClient, image_id: str, store: ArtifactStore
) -> InventoryRef:
    """The inventory of ``image_id`` (on ``client``'s engine): from the index when known,
    else read from the image, stored and indexed. EnvironmentProblem when the engine fails."""
    known = known_inventory(store, image_id)
    if known is not None:
        return known
    inventory = read_image(client, image_id)
    digest, _ = store.put([canonical_bytes(cyclonedx(inventory, tool_version=__version__))])
    ref = InventoryRef(
        sha256=digest,
        packages=len(inventory.packages),
        uhd_version=inventory.uhd_version,
        gnuradio_version=inventory.gnuradio_version,
    )
    _write_index(store, image_id, ref)
    return ref


def known_inventory(store: ArtifactStore, image_id: str) -> InventoryRef | None:
    """The index's entry for ``image_id`` when it is sound and its document is in the store."""
    match = _IMAGE_ID.match(image_id)
    if match is None:
        raise ValueError(f"not an image ID: {image_id!r}")
    data = _read_index(store, match[1])
    if data is None:
        return None
    try:
        entry = json.loads(data)
        ref = InventoryRef(
            sha256=str(entry["sha256"]),
            packages=int(entry["packages"]),
            uhd_version=entry.get("uhd_version") or None,
            gnuradio_version=entry.get("gnuradio_version") or None,
            format=str(entry["format"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if entry.get("image_id") != image_id or ref.format != FORMAT or not _HEX.match(ref.sha256):
        return None
    if not _is_file(store, ref.sha256):
        return None
    return ref


def stored_inventory(store: ArtifactStore, sha256: str) -> StoredInventory | str:
    """The inventory stored under ``sha256`` (read capped, never through a link, its
    hash checked), or why it cannot be read."""
    path = store.path(sha256)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(INVENTORY_MAX_BYTES + 1)
    except OSError:
        return f"its inventory {sha256[:12]} is not in the artifact store {store.root}"
    if len(data) > INVENTORY_MAX_BYTES:
        return f"its inventory {sha256[:12]} is larger than {INVENTORY_MAX_BYTES >> 20} MiB"
    if hashlib.sha256(data).hexdigest() != sha256:
        return f"its inventory {sha256[:12]} in the artifact store was altered"
    try:
        return read_inventory(data)
    except NotAnInventory as exc:
        return f"its inventory {sha256[:12]} cannot be read: {exc}"


def index_path_of(store: ArtifactStore, image_id: str) -> str:
    """Where the index entry of ``image_id`` is, below the store's root."""
    return f"{INVENTORIES}/{image_id.removeprefix('sha256:')}.json"


def _read_index(store: ArtifactStore, hex_id: str) -> bytes | None:
    below = store.root.relative_to(store.base).as_posix()
    try:
        folder = open_folder(store.base, f"{below}/{INVENTORIES}", create=False)
    except (OSError, LinkInTheWay):
        return None
    try:
        fd = os.open(f"{hex_id}.json", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
    except OSError:
        return None
    finally:
        os.close(folder)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(INDEX_MAX_BYTES + 1)
    return data if len(data) <= INDEX_MAX_BYTES else None


def _is_file(store: ArtifactStore, sha256: str) -> bool:
    path = store.path(sha256)
    return not path.is_symlink() and path.is_file()


def _write_index(store: ArtifactStore, image_id: str, ref: InventoryRef) -> None:
    entry = {"image_id": image_id, **ref.as_manifest()}
    path = store.root / index_path_of(store, image_id)
    write_atomic(path, json.dumps(entry, indent=2) + "\n", within=store.base)


# -- reading the image ----------------------------------------------------------------


def read_image(client: docker.DockerClient, image_id: str) -> Inventory:
    """What ``image_id`` holds, read from a stopped container of it (removed afterwards)."""
    api: Any = client.api  # docker-py's low-level calls are untyped
    try:
        config = api.inspect_image(image_id).get("Config") or {}
        env = [str(item) for item in config.get("Env") or []][:1000]
        created = api.create_container(
            image=image_id,
            entrypoint=[NEVER_RUNS],
            command=[],
            network_disabled=True,
            labels={LABEL: image_id},
            host_config=api.create_host_config(network_mode="none"),
        )
    except (*ENGINE_ERRORS, OSError) as exc:
        raise EnvironmentProblem(
            f"image {image_id}: cannot create a stopped container to read its inventory: {exc}"
        ) from None
    container = str(created["Id"])
    notes: list[str] = []
    try:
        return _inventory(api, container, image_id, env, notes)
    except (*ENGINE_ERRORS, OSError) as exc:
        raise EnvironmentProblem(
            f"image {image_id}: reading its inventory out of a stopped container failed: {exc}"
        ) from None
    finally:
        with suppress(*ENGINE_ERRORS):
            api.remove_container(container, force=True, v=True)


def _inventory(
    api: Any, container: str, image_id: str, env: list[str], notes: list[str]
) -> Inventory:
    packages: list[Package] = []
    python_dirs: set[str] = set()
    minors: set[str] = set()
    dpkg = _read_tree(api, container, "/var/lib/dpkg", _dpkg, notes)
    for name, data in dpkg:
        text = data.decode("utf-8", "replace")
        if name == "status":
            packages += parse_dpkg_status(text)
        elif name.startswith("status.d/"):
            packages += parse_dpkg_status(text, require_installed=False)
        else:  # info/<package>.list: the files a package installed
            for line in text.splitlines():
                found = _DIST_INFO.match(line)
                if found:
                    python_dirs.add(found[1])
                    package = parse_python_metadata("", fallback=found[2])
                    if package is not None:
                        packages.append(package)
    minors |= {m[1] for p in packages if p.ecosystem == "deb" for m in [_PYTHON.match(p.name)] if m}
    minors |= {m[1] for line in env for m in [_PYTHON_ENV.match(line)] if m}
    os_release: dict[str, str] = {}
    for path in ("/usr/lib/os-release", "/etc/os-release"):
        release = _read_tree(api, container, path, _whole(OS_RELEASE_MAX_BYTES), notes)
        if release:
            os_release = parse_os_release(release[0][1].decode("utf-8", "replace"))
            break
    if not dpkg:
        notes.append("no dpkg database (/var/lib/dpkg): only Python distributions were read")
    folders = python_folders(minors, all_minors=not dpkg and not minors)
    for folder in (f for f in folders if f not in python_dirs):
        for name, data in _read_tree(api, container, folder, _python_metadata, notes):
            package = parse_python_metadata(
                data.decode("utf-8", "replace"), fallback=name.split("/", 1)[0]
            )
            if package is not None:
                packages.append(package)
    return Inventory(
        image_id=image_id, packages=tuple(sorted(set(packages))), os=os_release, notes=tuple(notes)
    )


def python_folders(minors: set[str], *, all_minors: bool) -> list[str]:
    """Where pip puts Python distributions, for the Python versions the image has (from
    its packages and its PYTHON_VERSION), or every version when none is known and the
    image has no dpkg database. Debian's own folder, /usr/lib/python3/dist-packages, is
    read only without dpkg: with it, the packages' file lists name what is there."""
    wanted = sorted({str(m) for m in PYTHON_MINORS} if all_minors else minors, key=lambda m: int(m))
    folders = ["/usr/lib/python3/dist-packages"] if all_minors else []
    for minor in wanted:
        folders += [
            f"/usr/lib/python3.{minor}/site-packages",
            f"/usr/local/lib/python3.{minor}/dist-packages",
            f"/usr/local/lib/python3.{minor}/site-packages",
        ]
    return folders


def _dpkg(path: str) -> int | None:
    """What of /var/lib/dpkg is read: status, status.d/* (distroless), info/*.list."""
    parts = path.split("/")
    if path == "status":
        return STATUS_MAX_BYTES
    if len(parts) == 2 and parts[0] == "status.d" and not parts[1].endswith(".md5sums"):
        return STATUS_MAX_BYTES
    if len(parts) == 2 and parts[0] == "info" and parts[1].endswith(".list"):
        return LIST_MAX_BYTES
    return None


def _whole(limit: int) -> Select:
    return lambda path: limit if path == "" else None


def _python_metadata(path: str) -> int | None:
    parts = path.split("/")
    if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
        return METADATA_MAX_BYTES
    if len(parts) == 2 and parts[0].endswith(".egg-info") and parts[1] == "PKG-INFO":
        return METADATA_MAX_BYTES
    if len(parts) == 1 and parts[0].endswith(".egg-info"):  # distutils' single file
        return METADATA_MAX_BYTES
    return None


def _read_tree(
    api: Any, container: str, source: str, select: Select, notes: list[str]
) -> list[tuple[str, bytes]]:
    """The regular files under ``source`` that ``select`` picks: (path below it, bytes).

    ``""`` is the path of ``source`` itself when it is a file. Nothing is written
    anywhere: names serve only to choose. Links are not followed.
    """
    try:
        chunks, stat = api.get_archive(container, source, chunk_size=STREAM_CHUNK)
    except docker.errors.NotFound:
        return []
    top = str(stat.get("name") or "") if isinstance(stat, dict) else ""
    top = top or source.rstrip("/").rsplit("/", 1)[-1]
    found: list[tuple[str, bytes]] = []
    reader = ChunkReader(chunks)
    try:
        with tarfile.open(fileobj=reader, mode="r:") as tar:
            for count, member in enumerate(tar, start=1):
                end = member.offset_data + member.size  # skipping it streams it all the same
                if count > TREE_MAX_MEMBERS or end > TREE_MAX_BYTES:
                    notes.append(f"{source}: too large, read in part")
                    break
                if member.name == top:
                    path = ""
                elif member.name.startswith(top + "/"):
                    path = member.name[len(top) + 1 :].rstrip("/")
                else:
                    continue
                limit = select(path)
                if limit is None or not member.isreg():
                    continue
                if member.size > limit:
                    notes.append(printable(f"{source}/{path}: over {limit} bytes, not read"))
                    continue
                reader.seek(member.offset_data)
                found.append((path, b"".join(bytes(p) for p in reader.pieces(member.size))))
    except (tarfile.TarError, EOFError) as exc:
        notes.append(printable(f"{source}: its archive broke off ({exc})"))
    except requests.exceptions.RequestException as exc:
        raise EnvironmentProblem(f"copying {source} out of the image broke: {exc}") from None
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return found
