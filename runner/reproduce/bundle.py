"""One self-contained archive of a run: to reproduce it with no registry and no git history.

``radiops bundle RUN_ID`` writes a tar holding:

    radiops-bundle.json          what is inside (format, experiment, run, commit, images)
    run/...                      the run directory: manifest.json, inline outputs, logs
    store/sha256/<ab>/<hex>      the run's outputs kept in the artifact store (those present),
                                 and its images' inventories (CycloneDX, named by the manifest)
    source/experiments/<name>/   the experiment at the recorded commit
    source/images/...            the image build contexts at the recorded commit
    images/<role>.tar            each image the run used, saved from the engine (docker save)

``radiops reproduce --bundle FILE`` loads the images into the testbed's engines
and reproduces from the archive alone. An archive is untrusted input: it is
unpacked by ``bundle_reader`` (regular files and directories only, every name
checked, sizes and counts bounded).
"""

from __future__ import annotations

import json
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import docker
import docker.errors

from runner.engine.artifacts import ArtifactStore
from runner.engine.engines import ENGINE_ERRORS, connect
from runner.engine.images import local_reference
from runner.gitops.gitinfo import export_tree
from runner.model.errors import EnvironmentProblem, FatalError, InvalidInput
from runner.model.report import Reporter
from runner.model.testbed import Node, Testbed
from runner.reproduce.bundle_reader import FORMAT, INDEX, BundleRefused, unpack

__all__ = ["BundleRefused", "loaded_images", "unpack", "untagged_image", "write_bundle"]


def write_bundle(
    output: Path,
    *,
    repo_root: Path,
    run_dir: Path,
    manifest: Mapping[str, Any],
    store: ArtifactStore,
    client: docker.DockerClient,
) -> list[str]:
    """Write the bundle of the run in ``run_dir``; the images saved (their tags)."""
    name, commit = manifest["experiment"]["name"], manifest["code"]["commit"]
    if commit is None:
        raise InvalidInput("the run records no commit (it ran outside git): nothing to bundle")
    saved: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="radiops-bundle-") as scratch:
        source = Path(scratch) / "source"
        export_tree(repo_root, commit, [f"experiments/{name}/", "images/"], source)
        partial = output.with_name(output.name + ".partial")
        with tarfile.open(partial, "w") as archive:
            inventories = _add_files(
                archive, run_dir=run_dir, manifest=manifest, store=store, source=source
            )
            for image in manifest["images"]:
                saved.append(_add_image(archive, client, image, Path(scratch) / "image.tar"))
            index = {
                "format": FORMAT,
                "experiment": name,
                "run_id": manifest["run_id"],
                "commit": commit,
                "images": saved,
                "inventories": inventories,
            }
            data = (json.dumps(index, indent=2) + "\n").encode()
            info = tarfile.TarInfo(INDEX)
            info.size = len(data)
            archive.addfile(info, _Bytes(data))
        partial.replace(output)
    return [entry["tag"] for entry in saved]


def _add_files(
    archive: tarfile.TarFile,
    *,
    run_dir: Path,
    manifest: Mapping[str, Any],
    store: ArtifactStore,
    source: Path,
) -> dict[str, str]:
    """The run's folder, its outputs and inventories kept in the store, and the source at its
    commit; the inventories added, image ID -> sha256."""
    for path in sorted(run_dir.rglob("*")):
        if path.is_file() and not path.is_symlink():
            archive.add(path, arcname="run/" + path.relative_to(run_dir).as_posix())
    inventories = _add_store_objects(archive, manifest, store)
    for path in sorted(source.rglob("*")):
        if path.is_file() or path.is_symlink():
            archive.add(path, arcname="source/" + path.relative_to(source).as_posix())
    return inventories


def _add_image(
    archive: tarfile.TarFile,
    client: docker.DockerClient,
    image: Mapping[str, Any],
    saved_file: Path,
) -> dict[str, str]:
    """Save one of the run's images into the bundle (through ``saved_file``); its entry."""
    tag = _tag_of(client, image)
    member = f"images/{image['role']}.tar"
    with saved_file.open("wb") as handle:
        for chunk in client.api.get_image(tag):
            handle.write(chunk)
    archive.add(saved_file, arcname=member)
    return {"role": image["role"], "image_id": image["image_id"], "tag": tag, "file": member}


def _add_store_objects(
    archive: tarfile.TarFile, manifest: Mapping[str, Any], store: ArtifactStore
) -> dict[str, str]:
    """The run's outputs kept in the artifact store and its images' inventories (the SBOMs
    the manifest names by sha256), in ``store/``, those present; the inventories added,
    image ID -> sha256."""
    for entry in manifest["outputs"]:
        if entry["storage"]["kind"] == "store":
            digest = entry["storage"]["location"].rsplit("/", 1)[1]
            if store.path(digest).is_file():
                archive.add(store.path(digest), arcname=f"store/sha256/{digest[:2]}/{digest}")
    added: dict[str, str] = {}
    for image in manifest["images"]:
        ref = image.get("inventory")
        if ref is None or image["image_id"] in added:
            continue
        digest = ref["sha256"]
        path = store.path(digest)
        if path.is_file() and not path.is_symlink():
            if digest not in added.values():
                archive.add(path, arcname=f"store/sha256/{digest[:2]}/{digest}")
            added[image["image_id"]] = digest
    return added


def _tag_of(client: docker.DockerClient, image: Mapping[str, Any]) -> str:
    """A tag naming the run's image on this engine (added when missing), for docker save."""
    try:
        found = client.images.get(image["image_id"])
    except docker.errors.ImageNotFound:
        raise EnvironmentProblem(
            f"image of role {image['role']} ({image['image_id']}) is not on this engine any "
            "more: bundle the run where it ran, or pull it by digest first"
        ) from None
    if image.get("built") and image.get("context_sha256"):
        tag = local_reference(str(image["image"]).split("/", 1)[1], image["context_sha256"])
    else:
        tag = str(image["ref"]).split("@", 1)[0]
        if ":" not in tag.rsplit("/", 1)[-1]:
            tag += ":bundled"
    repository, _, name = tag.rpartition(":")
    found.tag(repository, name)
    return tag


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data, self.offset = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.offset + size
        chunk, self.offset = self.data[self.offset : end], min(end, len(self.data))
        return chunk


@contextmanager
def loaded_images(
    root: Path, index: Mapping[str, Any], inventory: Testbed, reporter: Reporter
) -> Iterator[None]:
    """The bundle's images loaded into the testbed's engines under their recorded tags.

    They are loaded untagged and checked before radiops tags them, and the tags
    are put back as they were afterwards: a bundle is trusted for its own
    reproduction only, never as a build that later runs on that engine reuse.
    """
    images = []
    for image in index.get("images", []):
        archive = root / str(image["file"])
        if archive.parent != root / "images" or not archive.is_file():
            raise InvalidInput(f"the bundle's image file {image['file']!r} is missing")
        untagged = archive.with_name(archive.name + ".untagged")
        untagged_image(archive, str(image["image_id"]), untagged)
        images.append((image, untagged))
    engines = {node.engine: node for node in inventory.nodes.values()}
    tagged: list[tuple[Node, str, str | None]] = []  # engine's node, tag, image it named before
    try:
        for url, node in engines.items():
            with closing(connect(node)) as client:
                for image, untagged in images:
                    with untagged.open("rb") as handle:
                        ids = {str(found.id) for found in client.images.load(handle)}
                    if image["image_id"] not in ids:
                        raise EnvironmentProblem(
                            f"{url}: loading {image['file']} gave {', '.join(sorted(ids))}, "
                            f"not the recorded {image['image_id']}"
                        )
                    tag = str(image["tag"])
                    tagged.append((node, tag, _image_named(client, tag)))
                    repository, _, name = tag.rpartition(":")
                    client.images.get(image["image_id"]).tag(repository, name)
                    reporter.line(f"{url}: loaded {tag} ({image['image_id'][:19]})")
        yield
    finally:
        _put_back(tagged, reporter)


def _image_named(client: docker.DockerClient, tag: str) -> str | None:
    try:
        return str(client.images.get(tag).id)
    except docker.errors.ImageNotFound:
        return None


def _put_back(tagged: list[tuple[Node, str, str | None]], reporter: Reporter) -> None:
    for node, tag, before in reversed(tagged):
        try:
            with closing(connect(node)) as client:
                if before is None:
                    client.images.remove(tag)
                else:
                    repository, _, name = tag.rpartition(":")
                    client.images.get(before).tag(repository, name)
        except (FatalError, *ENGINE_ERRORS) as exc:
            reporter.line(f"{node.engine}: could not put the tag {tag} back as it was: {exc}")


def untagged_image(archive: Path, image_id: str, out: Path) -> None:
    """Copy the image archive ``archive`` (docker save) to ``out`` naming no tag.

    ``docker load`` applies every tag an archive names before anyone can
    check the image: a bundle could plant ``radiops/<dir>:ctx-<hash>`` tags
    that later builds on that engine reuse. The copy keeps the layers and the
    image's configuration and drops the names (manifest.json's RepoTags,
    ``repositories``, index.json's annotations). BundleRefused unless the
    archive holds the one image ``image_id``.
    """
    try:
        with tarfile.open(archive, "r:") as source, tarfile.open(out, "w") as copy:
            for member in source:
                if member.name in ("repositories", "./repositories"):
                    continue
                if member.name in ("manifest.json", "index.json") and member.isfile():
                    data = _without_names(member.name, _read(source, member), image_id, archive)
                    member.size = len(data)
                    copy.addfile(member, _Bytes(data))
                else:
                    copy.addfile(member, source.extractfile(member) if member.isfile() else None)
    except (OSError, tarfile.TarError, ValueError, TypeError, KeyError) as exc:
        raise BundleRefused(f"{archive.name}: not an image archive radiops loads: {exc}") from None


def _read(source: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    if member.size > 16 << 20:
        raise ValueError(f"{member.name} is {member.size} bytes")
    handle = source.extractfile(member)
    assert handle is not None
    return handle.read()


def _without_names(name: str, data: bytes, image_id: str, archive: Path) -> bytes:
    document = json.loads(data)
    if name == "index.json":
        for entry in document.get("manifests", []):
            entry.pop("annotations", None)
        return json.dumps(document).encode()
    configs = [str(entry["Config"]) for entry in document]
    wanted = image_id.removeprefix("sha256:")
    if configs not in ([f"{wanted}.json"], [f"blobs/sha256/{wanted}"]):
        raise BundleRefused(
            f"{archive.name}: holds the image(s) {', '.join(configs)}, not only the recorded "
            f"{image_id}"
        )
    for entry in document:
        entry["RepoTags"] = None
    return json.dumps(document).encode()
