"""What a run needs on the engines before its containers start: its images (built, pulled,
distributed, their inventories recorded), the channel emulator's image, and its radios
found as the inventory says."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

from runner.engine import images as image_ops
from runner.engine import registry as registry_ops
from runner.engine.artifacts import ArtifactStore
from runner.engine.datasets import prepare_datasets
from runner.engine.distribute import distribute
from runner.engine.engines import EngineClient
from runner.engine.gpus import check_gpu_engines
from runner.engine.inventory import image_inventory
from runner.engine.medium import EmulatorImage
from runner.engine.probe_result import ProbeResult
from runner.model.errors import EnvironmentProblem, InvalidInput
from runner.model.experiment import Experiment, is_image_path
from runner.model.manifest import ImageRecord
from runner.model.repo import Repository
from runner.model.report import Reporter
from runner.model.schedule import role_can_use
from runner.model.testbed import Node, Testbed
from runner.pipeline.pending import runner_identity, runner_labels
from runner.pipeline.probing import probe_nodes

CHANNEL_IMAGE = "images/channel"


def prepare_images(
    experiment: Experiment,
    repo: Repository,
    testbed: Testbed,
    clients: dict[str, EngineClient],
    *,
    strict: bool,
    reporter: Reporter,
    store: ArtifactStore | None = None,
) -> tuple[dict[tuple[str, str], str], list[ImageRecord]]:
    """The image ID each role runs on each engine, and what the manifest says of it.

    A repository image is built where it runs: without a registry, on every
    engine (the ID is recorded, no digest); with one, once, then pushed and
    pulled by digest everywhere. A registry reference is pulled by digest
    (strict mode refuses a mutable tag). With a ``store``, each image's software
    inventory is recorded there (runner/engine/inventory.py), once per image ID.
    """
    say = reporter.line
    ids: dict[tuple[str, str], str] = {}
    records: list[ImageRecord] = []
    for role_name, role in experiment.roles.items():
        if is_image_path(role.image):
            record = _repository_image(role_name, role.image, repo, testbed, clients, ids, say)
        else:
            record = _registry_image(role_name, role.image, clients, ids, strict, say)
        if store is not None:
            record = _with_inventory(record, clients, store, say)
        records.append(record)
    return ids, records


def _repository_image(
    role_name: str,
    image: str,
    repo: Repository,
    testbed: Testbed,
    clients: dict[str, EngineClient],
    ids: dict[tuple[str, str], str],
    say: Callable[[str], None],
) -> ImageRecord:
    """Build ``images/<dir>`` and place it on every engine (its IDs into ``ids``)."""
    placed = distribute(image, repo, clients, registry=testbed.registry, progress=say)
    for url, image_id in placed.ids.items():
        ids[(role_name, url)] = image_id
    return ImageRecord(
        role=role_name,
        image=image,
        ref=placed.ref,
        digest=placed.digest,
        image_id=placed.ids[next(iter(clients))],
        built=placed.built.built,
        dockerfile_sha256=placed.built.dockerfile_sha256,
        context_sha256=placed.built.context_sha256,
        base_image=_base(placed.built),
    )


def _registry_image(
    role_name: str,
    image: str,
    clients: dict[str, EngineClient],
    ids: dict[tuple[str, str], str],
    strict: bool,
    say: Callable[[str], None],
) -> ImageRecord:
    """Pull a registry reference on every engine (its IDs into ``ids``)."""
    if strict:
        registry_ops.require_pinned(image)
    record: ImageRecord | None = None
    for url, client in clients.items():
        image_id = registry_ops.pull_pinned(client, image, progress=say)
        ids[(role_name, url)] = image_id
        record = record or ImageRecord(
            role=role_name,
            image=image,
            ref=image,
            digest=image.split("@", 1)[1] if "@" in image else None,
            image_id=image_id,
            built=False,
            dockerfile_sha256=None,
            context_sha256=None,
            base_image=None,
        )
    assert record is not None
    return record


def _with_inventory(
    record: ImageRecord,
    clients: dict[str, EngineClient],
    store: ArtifactStore,
    say: Callable[[str], None],
) -> ImageRecord:
    """``record`` with its image's inventory; without, and said, when the engine fails."""
    try:
        found = image_inventory(clients[next(iter(clients))], record.image_id, store)
    except (EnvironmentProblem, OSError) as exc:
        say(f"{record.image}: its software inventory was not recorded: {exc}")
        return record
    return dataclasses.replace(record, inventory=found.as_manifest())


def check_radios(
    experiment: Experiment,
    repo: Repository,
    testbed: Testbed,
    nodes: Sequence[Node],
    clients: dict[str, EngineClient],
    *,
    max_age_s: float,
    reporter: Reporter,
) -> dict[str, ProbeResult]:
    """Probe the real radios the experiment could use; EnvironmentProblem when one is not there.

    Before any run starts: a radio testbed.yaml claims but the node lacks
    stops everything, naming node and radio. The results go into the
    manifests of runs on those nodes.
    """
    radio_roles = [role for role in experiment.roles.values() if role.radio is not None]
    candidates = [
        node
        for node in nodes
        if any(not radio.simulated for radio in node.radios)
        and any(role_can_use(role, node) for role in radio_roles)
    ]
    if not candidates:
        return {}
    probed = probe_nodes(
        repo, testbed, candidates, clients, max_age_s=max_age_s, progress=reporter.line
    )
    problems = [problem for found in probed for problem in found.problems]
    if problems:
        raise EnvironmentProblem(
            "the radios are not what the inventory says; no run was started:\n  "
            + "\n  ".join(problems)
            + "\nconnect the radio, or correct the inventory (radiops testbed probe shows "
            "what each node has)"
        )
    for found in probed:
        reporter.line(f"{found.node.name}: {found.result.describe()}")
    return {found.node.name: found.result for found in probed}


def prepare_emulator(
    experiment: Experiment,
    repo: Repository,
    nodes: Sequence[Node],
    clients: dict[str, EngineClient],
    *,
    reporter: Reporter,
) -> dict[str, EmulatorImage]:
    """The channel emulator's image on every engine with simulated radios, if a role has a radio.

    Built from the repository's images/channel where the emulator runs (it
    never leaves the engine's internal network, so it needs no registry).
    """
    if not any(role.radio is not None for role in experiment.roles.values()):
        return {}
    engines = {node.engine for node in nodes if any(radio.simulated for radio in node.radios)}
    if engines and not (repo.root / CHANNEL_IMAGE).is_dir():
        raise InvalidInput(
            f"{CHANNEL_IMAGE}: missing; simulated radios need the channel emulator's image "
            "directory (copy it from the radiops template repository)"
        )
    found: dict[str, EmulatorImage] = {}
    for url in sorted(engines):
        built = image_ops.build(clients[url], repo, CHANNEL_IMAGE, progress=reporter.line)
        found[url] = EmulatorImage(image_id=built.image_id, context_sha256=built.context_sha256)
    return found


def _base(built: image_ops.BuiltImage) -> dict[str, str | None] | None:
    """The manifest's base_image: FROM reference and what it resolved to (digest, else ID)."""
    base = built.base_image
    if base is None or not (base.digest or base.image_id):
        return None
    return {"ref": base.ref, "digest": base.digest or base.image_id}


def prepare_inputs(
    experiment: Experiment,
    nodes: Sequence[Node],
    clients: Mapping[str, EngineClient],
    image_ids: Mapping[tuple[str, str], str],
    store: ArtifactStore,
    *,
    reporter: Reporter,
) -> None:
    """What the roles ask of their nodes besides images: GPUs the engines can serve, and
    datasets fetched, checked and in place on every node that may host them."""
    check_gpu_engines(experiment, nodes, clients)
    prepare_datasets(
        experiment,
        nodes,
        clients,
        image_ids,
        store,
        reporter=reporter,
        labels=runner_labels(runner_identity()),
    )
