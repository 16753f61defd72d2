"""Every point of an experiment's matrix on the testbed: validate, plan, connect, finish what a
dead runner left, prepare images, emulator and radios, then run the points in parallel.

``radiops run`` calls it for one experiment, ``radiops ci`` for each one a change touches,
``radiops reproduce`` for the recorded points of a run.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.engine.artifacts import artifact_store
from runner.engine.docker_node import docker_nodes
from runner.engine.engines import EngineClient, connect_all
from runner.model.errors import EnvironmentProblem, InvalidInput, UsageError
from runner.model.experiment import SCENARIO_FILE, Experiment, load_experiment
from runner.model.limits import CAPTURE_MAX_BYTES
from runner.model.manifest import CodeInfo, Trigger, file_facts
from runner.model.plan import RunPlan, expand, parse_overrides
from runner.model.remotes import without_credentials
from runner.model.repetition import repeat_problem, repeated
from runner.model.repo import ARTIFACT_STORE, EXPERIMENTS, Repository, find_repository
from runner.model.report import Reporter, progress_line
from runner.model.schedule import restrict, unplaceable_reason
from runner.model.testbed import Node, Testbed, resolve_testbed
from runner.pipeline.context import NodeBook, RunContext, RunResult
from runner.pipeline.manifest_builder import engine_facts
from runner.pipeline.preparation import (
    check_radios,
    prepare_emulator,
    prepare_images,
    prepare_inputs,
)
from runner.pipeline.probing import DEFAULT_MAX_AGE_S
from runner.pipeline.quarantine import healthy_nodes
from runner.pipeline.recovery import recover
from runner.pipeline.runs import execute_run
from runner.pipeline.validation import validate

DEFAULT_INLINE_MAX = 1 << 20
DEFAULT_WAIT_S = 3600.0


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How to run an experiment. Only the provenance of the checkout is always given."""

    provenance: Callable[[Path], CodeInfo]
    """The code a run records, from the repository's root (``gitops.gitinfo.code_info``;
    a reproduction gives the recorded commit's); asked once the engines are ready."""
    actor: str
    """Who runs it (``gitops.gitinfo.current_user()``)."""
    sets: tuple[str, ...] = ()
    """``--set NAME=VALUE`` overrides, each replacing its parameter's sweep."""
    repeat: str | int | None = None
    """``--repeat N``: overrides the scenario's ``repeat``."""
    testbed_file: Path | None = None
    testbed: tuple[Testbed, str] | None = None
    """An inventory already read, and how to name it (``ci`` reads the base's)."""
    node_names: tuple[str, ...] = ()
    strict: bool = False
    """Refuse registry images not pinned by digest."""
    wait_s: float = DEFAULT_WAIT_S
    probe_max_age_s: float = DEFAULT_MAX_AGE_S
    live_logs: bool = True
    trigger: Trigger = field(default_factory=Trigger)
    on_wait: Callable[[str, frozenset[str]], None] | None = None
    plans_of: Callable[[Experiment], Sequence[RunPlan]] | None = None
    ignore_quarantine: bool = False
    """Place runs on quarantined nodes too (a node's own health check)."""
    """Replaces the matrix with given plans (a reproduction re-runs recorded points)."""


def run_experiment(
    target: Path,
    options: RunOptions,
    *,
    cwd: Path,
    reporter: Reporter,
    cancel: threading.Event,
) -> list[RunResult]:
    """Run ``target`` (an experiment directory or its scenario); one result per matrix point."""
    with prepared(target, options, cwd=cwd, reporter=reporter, cancel=cancel) as (plans, context):
        return _run_all(plans, context)


@contextlib.contextmanager
def prepared(
    target: Path,
    options: RunOptions,
    *,
    cwd: Path,
    reporter: Reporter,
    cancel: threading.Event,
) -> Iterator[tuple[Sequence[RunPlan], RunContext]]:
    """The plans of ``target`` and the testbed ready for them (connected, recovered, images,
    emulator, inputs and radios prepared); the engines' clients are closed afterwards."""
    scenario = _scenario(target, cwd)
    repo = find_repository(scenario.parent)
    validate([scenario], cwd=cwd, earlier_runs=False)
    experiment = load_experiment(scenario)
    inventory, shown = options.testbed or resolve_testbed(repo.root, options.testbed_file, cwd=cwd)
    nodes = _nodes(inventory, shown, options.node_names)
    plans = _plans(experiment, options)
    for plan in plans:
        reason = unplaceable_reason(plan, nodes)
        if reason:
            raise InvalidInput(f"{experiment.name} cannot run on {shown}: {reason}")
    cannot = f"{experiment.name} cannot run on {shown}"
    clients, nodes = _connect_usable(nodes, plans, cannot, reporter)
    try:
        if not options.ignore_quarantine:
            nodes = healthy_nodes(plans, nodes, clients, cannot=cannot, reporter=reporter)
        recover(repo.root, list(inventory.nodes.values()), docker_nodes(clients), reporter=reporter)
        context = _context(
            scenario,
            experiment,
            repo,
            (inventory, shown),
            nodes,
            clients,
            options,
            reporter=reporter,
            cancel=cancel,
        )
        yield plans, context
    finally:
        for client in clients.values():
            client.close()


def _nodes(inventory: Testbed, shown: str, node_names: Sequence[str]) -> list[Node]:
    unknown = [name for name in node_names if name not in inventory.nodes]
    if unknown:
        raise UsageError(
            f"--node {', '.join(unknown)}: not a node of {shown} "
            f"(nodes: {', '.join(inventory.nodes)})"
        )
    return restrict(inventory.nodes, node_names)


def _plans(experiment: Experiment, options: RunOptions) -> Sequence[RunPlan]:
    if options.plans_of is not None:
        return options.plans_of(experiment)
    return repeated(
        expand(experiment, parse_overrides(options.sets, experiment)),
        _repeat_count(options.repeat, experiment),
    )


def _connect_usable(
    nodes: Sequence[Node], plans: Sequence[RunPlan], cannot: str, reporter: Reporter
) -> tuple[dict[str, EngineClient], list[Node]]:
    """Clients of the engines that answer, and the nodes on them; every plan must still fit."""
    clients, unreachable = _connect_all(nodes, reporter)
    usable = [node for node in nodes if node.engine in clients]
    for plan in plans:
        reason = unplaceable_reason(plan, usable) if usable else "no node's engine is usable"
        if reason:
            for client in clients.values():
                client.close()
            raise EnvironmentProblem(
                f"{cannot} now: {reason}" + "".join(f"; {problem}" for problem in unreachable)
            )
    return clients, usable


def _context(
    scenario: Path,
    experiment: Experiment,
    repo: Repository,
    testbed: tuple[Testbed, str],
    nodes: Sequence[Node],
    clients: dict[str, EngineClient],
    options: RunOptions,
    *,
    reporter: Reporter,
    cancel: threading.Event,
) -> RunContext:
    """Everything the runs share: prepared images, emulator and radios, facts for manifests."""
    inventory, shown = testbed
    engines = {url: _facts(url, client) for url, client in clients.items()}
    artifacts = inventory.artifacts
    store = artifact_store(artifacts.path if artifacts else repo.root / ARTIFACT_STORE, repo.root)
    image_ids, records = prepare_images(
        experiment, repo, inventory, clients, strict=options.strict, reporter=reporter, store=store
    )
    emulator_images = prepare_emulator(experiment, repo, nodes, clients, reporter=reporter)
    prepare_inputs(experiment, nodes, clients, image_ids, store, reporter=reporter)
    probes = check_radios(
        experiment,
        repo,
        inventory,
        nodes,
        clients,
        max_age_s=options.probe_max_age_s,
        reporter=reporter,
    )
    return RunContext(
        repo_root=repo.root,
        scenario_path=scenario.relative_to(repo.root).as_posix(),
        scenario_sha256=file_facts(scenario, shown="")["sha256"],
        code=options.provenance(repo.root),
        actor=options.actor,
        trigger=options.trigger,
        nodes=list(nodes),
        clients=docker_nodes(clients),
        engines=engines,
        images=image_ids,
        image_records=records,
        inputs=[file_facts(repo.root / p, shown=p) for p in experiment.inputs],
        store=store,
        inline_max=artifacts.inline_max_bytes if artifacts else DEFAULT_INLINE_MAX,
        capture_max=artifacts.capture_max_bytes if artifacts else CAPTURE_MAX_BYTES,
        testbed_name=shown,
        testbed_file=None if inventory.is_local_default else shown,
        reporter=reporter,
        cancel=cancel,
        wait_s=options.wait_s,
        live_logs=options.live_logs,
        on_wait=options.on_wait,
        channel=inventory.channel,
        emulator_images=emulator_images,
        probes=probes,
    )


def _facts(url: str, client: EngineClient) -> dict[str, Any]:
    return engine_facts(without_credentials(url), client.info(), client.version())


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


def _run_all(plans: Sequence[RunPlan], context: RunContext) -> list[RunResult]:
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
        hint = cwd / EXPERIMENTS / str(target) / SCENARIO_FILE
        if hint.is_file():
            return hint
        raise UsageError(
            f"{target}: no experiment here; give its directory, e.g. experiments/hello"
        )
    return path


def _connect_all(
    nodes: Sequence[Node], reporter: Reporter
) -> tuple[dict[str, EngineClient], list[str]]:
    """A client per engine that answers; the problems of those that do not (their nodes unused)."""
    clients, failed = connect_all(nodes)
    problems = []
    for url, exc in failed.items():
        names = ", ".join(n.name for n in nodes if n.engine == url)
        problems.append(f"{exc} (not used: {names})")
        reporter.line(problems[-1])
    return clients, problems
