"""Datasets by sha256: one named volume per dataset on each engine, filled once, mounted read-only.

A volume ``radiops-dataset-<sha256[:16]>`` holds the bytes as ``data``. A
helper container that is created but never started (hardened, no network)
mounts it: the bytes go in with ``put_archive``, are read back and hashed, and
only when they match is the marker ``.radiops-complete`` written. A volume
without the marker (a fill that broke off) is filled again; one with it is
never fetched again. No host path is mounted, ever: the volume is the
engine's.

Labels cannot change on a volume, so when a run last used a dataset is kept
beside it, as node health is (engine/health_store.py): each preparation of a
run that finds or fills the volume creates an empty stamp volume
``radiops-datause-<sha256[:16]>.<epoch>`` and removes that dataset's older
stamps (the newest always survives two runners stamping at once).
``radiops testbed prune-datasets`` (engine/dataset_prune.py) reads them.
"""

from __future__ import annotations

import hashlib
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.volumes import Volume
from docker.types import Mount

from runner.engine.artifacts import ArtifactStore
from runner.engine.capture import ChunkReader
from runner.engine.engines import ENGINE_ERRORS
from runner.engine.fetch import dataset_bytes, source_of
from runner.engine.hardening import hardened
from runner.model.errors import EnvironmentProblem
from runner.model.experiment import Dataset, Experiment, Role
from runner.model.report import Reporter
from runner.model.schedule import role_can_use
from runner.model.testbed import Node

VOLUME_PREFIX = "radiops-dataset-"
INPUTS_DIR = "/radiops/inputs"
DATA_FILE = "data"
COMPLETE = ".radiops-complete"
FILL_AT = "/radiops-fill"
LABEL = "org.radiops.dataset"
USE_PREFIX = "radiops-datause-"
USE_LABEL = "org.radiops.dataset-use"  # its value: the dataset's sha256
USE_AT_LABEL = "org.radiops.dataset-use.at"  # seconds since the epoch, an integer


def volume_name(sha256: str) -> str:
    return f"{VOLUME_PREFIX}{sha256[:16]}"


def dataset_mounts(role: Role) -> list[Mount]:
    """The role's datasets, each its volume read-only at /radiops/inputs/<name>."""
    return [
        Mount(
            target=f"{INPUTS_DIR}/{dataset.name}",
            source=volume_name(dataset.sha256),
            type="volume",
            read_only=True,
            no_copy=True,
        )
        for dataset in role.datasets
    ]


def dataset_environment(role: Role) -> dict[str, str]:
    """``RADIOPS_INPUT_<NAME>``: where each dataset's file is."""
    return {
        f"RADIOPS_INPUT_{dataset.name.upper().replace('-', '_')}": (
            f"{INPUTS_DIR}/{dataset.name}/{DATA_FILE}"
        )
        for dataset in role.datasets
    }


def dataset_records(role: Role) -> list[dict[str, Any]]:
    """The manifest's word on a role's datasets: name, hash, where from, which volume."""
    return [
        {
            "name": dataset.name,
            "sha256": dataset.sha256,
            "source": source_of(dataset),
            "url": dataset.url,
            "volume": volume_name(dataset.sha256),
            "mounted_at": f"{INPUTS_DIR}/{dataset.name}",
        }
        for dataset in role.datasets
    ]


def prepare_datasets(
    experiment: Experiment,
    nodes: Iterable[Node],
    clients: Mapping[str, docker.DockerClient],
    images: Mapping[tuple[str, str], str],
    store: ArtifactStore,
    *,
    reporter: Reporter,
    labels: Mapping[str, str],
) -> int:
    """Every dataset of every role in a complete volume on each engine that may host the
    role; how many were copied in. Each is fetched (store or URL) at most once, and only
    when an engine lacks it. Raises before any run starts when one cannot be had.

    ``labels`` go on the helper containers (who fills: ``radiops recover`` removes the
    helper of a runner that died mid-fill)."""
    wanted: dict[tuple[str, str], tuple[Dataset, str]] = {}  # (sha256, engine) -> image
    nodes = list(nodes)
    for name, role in experiment.roles.items():
        for node in nodes:
            if node.engine in clients and role_can_use(role, node):
                for dataset in role.datasets:
                    image = images[(name, node.engine)]
                    wanted.setdefault((dataset.sha256, node.engine), (dataset, image))
    filled = 0
    with tempfile.TemporaryDirectory(prefix="radiops-datasets-") as scratch:
        files: dict[str, Path] = {}
        for (sha256, engine), (dataset, image) in wanted.items():
            client = clients[engine]
            if is_complete(client, sha256, image, labels=labels):
                record_use(client, sha256)
                continue
            if sha256 not in files:
                files[sha256] = dataset_bytes(dataset, store, Path(scratch))
                reporter.line(
                    f"input {dataset.name}: sha256:{sha256[:16]} fetched from "
                    f"{source_of(dataset)} ({files[sha256].stat().st_size} bytes)"
                )
            fill_volume(client, dataset, image, files[sha256], labels=labels)
            record_use(client, sha256)
            reporter.line(f"input {dataset.name}: volume {volume_name(sha256)} filled on {engine}")
            filled += 1
    return filled


def is_complete(
    client: docker.DockerClient,
    sha256: str,
    image: str,
    *,
    labels: Mapping[str, str] | None = None,
) -> bool:
    """True when the engine has the dataset's volume, verified and marked complete."""
    try:
        volume = client.volumes.get(volume_name(sha256))
    except docker.errors.NotFound:
        return False
    except ENGINE_ERRORS as exc:
        raise EnvironmentProblem(f"cannot look up the dataset volume: {exc}") from None
    if (volume.attrs.get("Labels") or {}).get(LABEL) != sha256:
        raise EnvironmentProblem(
            f"volume {volume.name} on {client.api.base_url} is not radiops' dataset "
            f"sha256:{sha256}; remove it (docker volume rm {volume.name})"
        )
    with _helper(client, sha256, image, labels) as helper:
        marker = _read_member(helper, f"{FILL_AT}/{COMPLETE}", 200)
    return marker is not None and marker.decode(errors="replace").strip() == sha256


def fill_volume(
    client: docker.DockerClient,
    dataset: Dataset,
    image: str,
    path: Path,
    *,
    labels: Mapping[str, str] | None = None,
) -> None:
    """Copy the verified file at ``path`` into the dataset's volume, read it back and hash
    it, and only then mark the volume complete (a fill that breaks off leaves no mark)."""
    name = volume_name(dataset.sha256)
    try:
        client.volumes.create(name=name, labels={LABEL: dataset.sha256})
    except ENGINE_ERRORS as exc:
        raise EnvironmentProblem(f"cannot create volume {name}: {exc}") from None
    with _helper(client, dataset.sha256, image, labels) as helper:
        _put_file(helper, path, DATA_FILE)
        stored = _hash_member(helper, f"{FILL_AT}/{DATA_FILE}")
        if stored != dataset.sha256:
            raise EnvironmentProblem(
                f"input {dataset.name}: volume {name} holds sha256 {stored} after the copy, "
                f"not {dataset.sha256}; the engine's disk may be full; it is filled again "
                "at the next run"
            )
        marker = tempfile.NamedTemporaryFile(prefix="radiops-marker-")  # noqa: SIM115
        with marker:
            marker.write(dataset.sha256.encode() + b"\n")
            marker.flush()
            _put_file(helper, Path(marker.name), COMPLETE)


def record_use(client: docker.DockerClient, sha256: str, *, at: float | None = None) -> None:
    """Stamp the dataset's volume as used now (``at``: that time instead), then remove the
    dataset's older stamps."""
    epoch = int(time.time() if at is None else at)
    labels = {USE_LABEL: sha256, USE_AT_LABEL: str(epoch)}
    try:
        try:
            client.volumes.create(name=f"{USE_PREFIX}{sha256[:16]}.{epoch}", labels=labels)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # Podman: stamped already within this second
                raise
        for stamp, stamped in use_stamps(client, sha256):
            if stamped < epoch:
                with suppress(docker.errors.NotFound):  # another runner removed it already
                    stamp.remove()
    except ENGINE_ERRORS as exc:
        raise EnvironmentProblem(
            f"cannot record the use of dataset volume {volume_name(sha256)}: {exc}"
        ) from None


def use_stamps(client: docker.DockerClient, sha256: str | None = None) -> list[tuple[Volume, int]]:
    """The use stamps on the engine (of one dataset, or all): (volume, epoch)."""
    label = USE_LABEL if sha256 is None else f"{USE_LABEL}={sha256}"
    found = []
    for volume in client.volumes.list(filters={"label": label}):
        at = (volume.attrs.get("Labels") or {}).get(USE_AT_LABEL, "")
        if volume.name.startswith(USE_PREFIX) and at.isdigit():
            found.append((volume, int(at)))
    return found


@contextmanager
def _helper(
    client: docker.DockerClient, sha256: str, image: str, labels: Mapping[str, str] | None
) -> Iterator[Container]:
    """A created, never started, hardened container with the dataset's volume at FILL_AT."""
    mount = Mount(target=FILL_AT, source=volume_name(sha256), type="volume")
    try:
        container = client.containers.create(
            **hardened(),
            image=image,
            command=["true"],
            network_mode="none",
            mounts=[mount],
            labels={**(labels or {}), LABEL: sha256},
        )
    except ENGINE_ERRORS as exc:
        raise EnvironmentProblem(f"cannot create the dataset helper container: {exc}") from None
    try:
        yield container
    finally:
        # labelled: radiops recover removes it once its runner is gone
        with suppress(*ENGINE_ERRORS):
            container.remove(force=True, v=False)


def _put_file(container: Container, path: Path, name: str) -> None:
    with tempfile.TemporaryFile(prefix="radiops-tar-") as archive:
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tar.gettarinfo(str(path), arcname=name)
            info.mode, info.uid, info.gid, info.uname, info.gname = 0o444, 0, 0, "", ""
            with path.open("rb") as handle:
                tar.addfile(info, handle)
        archive.seek(0)
        try:
            container.put_archive(FILL_AT, archive)
        except ENGINE_ERRORS as exc:
            raise EnvironmentProblem(f"cannot copy {name} into the dataset volume: {exc}") from None


def _hash_member(container: Container, path: str) -> str | None:
    """The sha256 of the regular file at ``path`` in the container, None without one."""
    digest = hashlib.sha256()
    found = _stream_member(container, path, digest.update)
    return digest.hexdigest() if found else None


def _read_member(container: Container, path: str, max_bytes: int) -> bytes | None:
    parts: list[bytes] = []
    found = _stream_member(container, path, parts.append, max_bytes=max_bytes)
    return b"".join(parts) if found else None


def _stream_member(
    container: Container,
    path: str,
    sink: Callable[[bytes], object],
    *,
    max_bytes: int | None = None,
) -> bool:
    try:
        chunks, _ = container.get_archive(path)
    except docker.errors.NotFound:
        return False
    except ENGINE_ERRORS as exc:
        raise EnvironmentProblem(f"cannot read {path} of the dataset volume: {exc}") from None
    reader = ChunkReader(chunks)
    with tarfile.open(fileobj=reader, mode="r:") as tar:
        member = tar.next()
        if member is None or not member.isreg():
            return False
        if max_bytes is not None and member.size > max_bytes:
            return False
        reader.seek(member.offset_data)
        for piece in reader.pieces(member.size):
            sink(bytes(piece))
    return True
