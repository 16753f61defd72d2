"""``radiops run EXPERIMENT``: run every point of its matrix on the testbed."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import docker

from runner.cli.commands.probe import DEFAULT_MAX_AGE_S, probe_nodes
from runner.cli.commands.validate import validate
from runner.engine import images as image_ops
from runner.engine import registry as registry_ops
from runner.engine.capture import ArtifactStore, artifact_store
from runner.engine.datasets import prepare_datasets
from runner.engine.distribute import distribute
from runner.engine.engines import connect_all
from runner.engine.gpus import check_gpu_engines
from runner.engine.inventory import image_inventory
from runner.engine.medium import EmulatorImage
from runner.engine.probe import ProbeResult
from runner.gitops.gitinfo import code_info, current_user
from runner.model.errors import EnvironmentProblem, InvalidInput, UsageError
from runner.model.experiment import SCENARIO_FILE, Experiment, is_image_path, load_experiment
from runner.model.limits import CAPTURE_MAX_BYTES
from runner.model.manifest import CodeInfo, ImageRecord, Trigger, file_facts
from runner.model.plan import RunPlan, expand, parse_overrides
from runner.model.remotes import without_credentials
from runner.model.repetition import repeat_problem, repeated
from runner.model.repo import STATE, Repository, find_repository
from runner.model.report import Reporter, progress_line
from runner.model.schedule import restrict, role_can_use, unplaceable_reason
from runner.model.testbed import Node, Testbed, resolve_testbed
from runner.pipeline.manifest_builder import engine_facts
from runner.pipeline.recovery import recover
from runner.pipeline.runs import NodeBook, RunContext, RunResult, execute_run

DEFAULT_STORE = Path(STATE) / "artifacts"
DEFAULT_INLINE_MAX = 1 << 20
DEFAULT_WAIT_S = 3600.0
CHANNEL_IMAGE = "images/channel"


def run(
    target: Path,
    *,
    cwd: Path,
    sets: Sequence[str] = (),
    repeat: str | int | None = None,
    testbed_file: Path | None = None,
    node_names: Sequence[str] = (),
    strict: bool = False,
    reporter: Reporter,
    cancel: threading.Event,
    wait_s: float = DEFAULT_WAIT_S,
    probe_max_age_s: float = DEFAULT_MAX_AGE_S,
    live_logs: bool = True,
    trigger: Trigger = Trigger(),  # noqa: B008 - frozen, so safe to share
    testbed: tuple[Testbed, str] | None = None,
    on_wait: Callable[[str, frozenset[str]], None] | None = None,
    plans_of: Callable[[Experiment], Sequence[RunPlan]] | None = None,
    code: CodeInfo | None = None,
) -> list[RunResult]:
    """Run ``target`` (an experiment directory or its scenario); one result per matrix point.

    ``plans_of`` replaces the matrix with given plans and ``code`` the checkout's
    provenance (a reproduction re-runs one recorded point, from its commit).
    ``repeat`` (``--repeat``) overrides the scenario's ``repeat``.
    """
    scenario = _scenario(target, cwd)
    repo = find_repository(scenario.parent)
    validate([scenario], cwd=cwd)
    experiment = load_experiment(scenario)
    inventory, testbed_shown = testbed or resolve_testbed(repo.root, testbed_file, cwd=cwd)
    unknown = [name for name in node_names if name not in inventory.nodes]
    if unknown:
        raise UsageError(
            f"--node {', '.join(unknown)}: not a node of {testbed_shown} "
            f"(nodes: {', '.join(inventory.nodes)})"
        )
    nodes = restrict(inventory.nodes, node_names)
    plans = (
        plans_of(experiment)
        if plans_of is not None
        else repeated(
            expand(experiment, parse_overrides(sets, experiment)),
            _repeat_count(repeat, experiment),
        )
    )
    for plan in plans:
        reason = unplaceable_reason(plan, nodes)
        if reason:
            raise InvalidInput(f"{experiment.name} cannot run on {testbed_shown}: {reason}")

    clients, unreachable = _connect_all(nodes, reporter)
    nodes = [node for node in nodes if node.engine in clients]
    for plan in plans:
        reason = unplaceable_reason(plan, nodes) if nodes else "no node's engine is usable"
        if reason:
            for client in clients.values():
                client.close()
            raise EnvironmentProblem(
                f"{experiment.name} cannot run on {testbed_shown} now: {reason}"
                + "".join(f"; {problem}" for problem in unreachable)
            )
    try:
        recover(repo.root, list(inventory.nodes.values()), clients, reporter=reporter)
        engines = {
            url: engine_facts(without_credentials(url), client.info(), client.version())
            for url, client in clients.items()
        }
        store = artifact_store(
            inventory.artifacts.path if inventory.artifacts else repo.root / DEFAULT_STORE,
            repo.root,
        )
        image_ids, records = _prepare_images(
            experiment, repo, inventory, clients, strict=strict, reporter=reporter, store=store
        )
        emulator_images = _prepare_emulator(experiment, repo, nodes, clients, reporter=reporter)
        check_gpu_engines(experiment, nodes, clients)
        prepare_datasets(experiment, nodes, clients, image_ids, store, reporter=reporter)
        probes = _check_radios(
            experiment,
            repo,
            inventory,
            nodes,
            clients,
            max_age_s=probe_max_age_s,
            reporter=reporter,
        )
        code = code or code_info(repo.root)
        context = RunContext(
            repo_root=repo.root,
            scenario_path=scenario.relative_to(repo.root).as_posix(),
            scenario_sha256=file_facts(scenario, shown="")["sha256"],
            code=code,
            actor=current_user(),
            trigger=trigger,
            nodes=nodes,
            clients=clients,
            engines=engines,
            images=image_ids,
            image_records=records,
            inputs=[file_facts(repo.root / p, shown=p) for p in experiment.inputs],
            store=store,
            inline_max=inventory.artifacts.inline_max_bytes
            if inventory.artifacts
            else DEFAULT_INLINE_MAX,
            capture_max=inventory.artifacts.capture_max_bytes
            if inventory.artifacts
            else CAPTURE_MAX_BYTES,
            testbed_name=testbed_shown,
            testbed_file=None if inventory.is_local_default else testbed_shown,
            reporter=reporter,
            cancel=cancel,
            wait_s=wait_s,
            live_logs=live_logs,
            on_wait=on_wait,
            channel=inventory.channel,
            emulator_images=emulator_images,
            probes=probes,
        )
        return _run_all(plans, context)
    finally:
        for client in clients.values():
            client.close()


def _repeat_count(given: str | int | None, experiment: Experiment) -> int:
    """``--repeat N`` checked, else the scenario's ``repeat``."""
    if given is None:
        return experiment.repeat
    text = str(given).strip()
    value: object = int(text) if text.lstrip("-").isdigit() else text
    problem = repeat_problem(value, f"--repeat {given}")
    if problem:
        raise UsageError(problem)
    assert isinstance(value, int)
    return value


def _run_all(plans: Sequence[Any], context: RunContext) -> list[RunResult]:
    book = NodeBook()
    workers = max(1, min(len(plans), len(context.nodes)))
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="run") as pool:
        futures = [pool.submit(execute_run, plan, context, book) for plan in plans]
        pending = set(futures)
        while pending:
            # short waits keep the main thread free to take signals
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
            for future in done:
                if future.exception() is not None:
                    context.cancel.set()  # a bug in one run stops the others cleanly
            if done and len(plans) > 1:  # a sweep: how far along, how long still
                name = plans[0].experiment.name
                elapsed = time.monotonic() - started
                finished = len(plans) - len(pending)
                repeat = plans[0].repetition.of if plans[0].repetition else 1
                context.reporter.line(
                    progress_line(name, finished, len(plans), elapsed, repeat=repeat)
                )
        return [future.result() for future in futures]


def _scenario(target: Path, cwd: Path) -> Path:
    path = target if target.is_absolute() else cwd / target
    if path.is_dir():
        path = path / SCENARIO_FILE
    if not path.is_file():
        hint = cwd / "experiments" / str(target) / SCENARIO_FILE
        if hint.is_file():
            return hint
        raise UsageError(
            f"{target}: no experiment here; give its directory, e.g. experiments/hello"
        )
    return path


def _connect_all(
    nodes: Sequence[Node], reporter: Reporter
) -> tuple[dict[str, docker.DockerClient], list[str]]:
    """A client per engine that answers; the problems of those that do not (their nodes unused)."""
    clients, failed = connect_all(nodes)
    problems = []
    for url, exc in failed.items():
        names = ", ".join(n.name for n in nodes if n.engine == url)
        problems.append(f"{exc} (not used: {names})")
        reporter.line(problems[-1])
    return clients, problems


def _prepare_images(
    experiment: Experiment,
    repo: Repository,
    testbed: Testbed,
    clients: dict[str, docker.DockerClient],
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
        image = role.image
        record: ImageRecord | None = None
        if is_image_path(image):
            placed = distribute(image, repo, clients, registry=testbed.registry, progress=say)
            for url, image_id in placed.ids.items():
                ids[(role_name, url)] = image_id
            record = ImageRecord(
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
        else:
            if strict:
                registry_ops.require_pinned(image)
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
        if store is not None:
            record = _with_inventory(record, clients, store, say)
        records.append(record)
    return ids, records


def _with_inventory(
    record: ImageRecord,
    clients: dict[str, docker.DockerClient],
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


def _check_radios(
    experiment: Experiment,
    repo: Repository,
    testbed: Testbed,
    nodes: Sequence[Node],
    clients: dict[str, docker.DockerClient],
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


def _prepare_emulator(
    experiment: Experiment,
    repo: Repository,
    nodes: Sequence[Node],
    clients: dict[str, docker.DockerClient],
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
