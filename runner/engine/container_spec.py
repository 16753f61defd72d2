"""What a run's container gets, decided without an engine: its options (hardened), labels,
environment, limits, and the archive of its parameters."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from typing import Any

from runner.engine.channel import ChannelEndpoints
from runner.engine.datasets import dataset_environment, dataset_mounts
from runner.engine.gpus import gpu_options
from runner.engine.hardening import hardened
from runner.model.experiment import Role, Scalar
from runner.model.limits import Limits
from runner.model.plan import Instance, RunPlan
from runner.model.radio_report import RADIO_REPORT
from runner.model.schedule import radio_for, reservation_name
from runner.model.testbed import Node, Radio

OUTPUT_DIR = "/radiops/out"
PARAMETERS_FILE = "/radiops/parameters.json"


# Where images/sdr-base installs the simulated USRP; UHD_MODULE_PATH names it only
# in containers whose radio is simulated, so a real node's UHD never loads it.
SIMULATED_UHD_MODULES = "/usr/local/lib/radiops/uhd-modules"


LABEL_PREFIX = "org.radiops."
DEFAULT_LIMITS = Limits(cpus=None, memory_bytes=2 << 30, pids=1024)


def labels(run_id: str, plan: RunPlan, instance: Instance, node: Node) -> dict[str, str]:
    """The labels that tie a container to its run (found again by ``radiops recover``)."""
    return {
        f"{LABEL_PREFIX}run": run_id,
        f"{LABEL_PREFIX}experiment": plan.experiment.name,
        f"{LABEL_PREFIX}role": instance.role,
        f"{LABEL_PREFIX}index": str(instance.index),
        f"{LABEL_PREFIX}node": node.name,
    }


def environment(plan: RunPlan, run_id: str, instance: Instance, node: Node) -> dict[str, str]:
    """The documented environment contract (site/scenarios.md)."""
    role = plan.experiment.roles[instance.role]
    env = dict(role.env)
    env.update(
        RADIOPS_EXPERIMENT=plan.experiment.name,
        RADIOPS_RUN_ID=run_id,
        RADIOPS_ROLE=instance.role,
        RADIOPS_ROLE_INDEX=str(instance.index),
        RADIOPS_NODE=node.name,
        RADIOPS_OUTPUT_DIR=OUTPUT_DIR,
        RADIOPS_PARAMETERS=PARAMETERS_FILE,
    )
    for name, value in plan.parameters.items():
        env[f"RADIOPS_PARAM_{name.upper()}"] = scalar_text(value)
    if role.radio is not None:
        settings: dict[str, Scalar | None] = {
            "FREQUENCY": role.radio.frequency,
            "RATE": role.radio.rate,
            "GAIN": role.radio.gain,
            "ANTENNA": role.radio.antenna,
            "CHANNEL": role.radio.channel,
        }
        for key, setting in settings.items():
            if setting is not None:
                env[f"RADIOPS_RADIO_{key}"] = scalar_text(setting)
        radio = radio_for(role, node)
        if radio is not None:
            env.update(radio_environment(radio, pacing=plan.experiment.pacing))
            if radio.simulated:
                env["RADIOPS_RADIO_REPORT"] = RADIO_REPORT
    return env


def radio_environment(radio: Radio, *, pacing: str = "realtime") -> dict[str, str]:
    """What a container learns of the node's radio that serves it (a role's, or the probe's).

    A simulated radio's container also gets ``UHD_MODULE_PATH``: libuhd then
    finds the simulated USRP of images/sdr-base (sim_usrp/), and only there;
    and ``RADIOPS_RADIO_PACING``, the scenario's ``pacing`` (realtime or fast).
    A real radio keeps wall-clock time whatever the scenario says.
    """
    env = {
        "RADIOPS_RADIO_TYPE": radio.type,
        "RADIOPS_RADIO_SIMULATED": "true" if radio.simulated else "false",
    }
    if radio.simulated:
        env["UHD_MODULE_PATH"] = SIMULATED_UHD_MODULES
        env["RADIOPS_RADIO_PACING"] = pacing
    if radio.serial:
        env["RADIOPS_RADIO_SERIAL"] = radio.serial
    if radio.args:
        env["UHD_ARGS"] = radio.args
    return env


def effective_limits(role: Role, node: Node) -> Limits:
    """The scenario's limits within the node's, with defaults so nothing is unbounded."""

    def smallest(*values: float | int | None) -> Any:
        present = [v for v in values if v is not None]
        return min(present) if present else None

    wanted, allowed = role.resources, node.limits
    return Limits(
        cpus=smallest(wanted.cpus, allowed.cpus),
        memory_bytes=smallest(
            wanted.memory_bytes or DEFAULT_LIMITS.memory_bytes, allowed.memory_bytes
        ),
        pids=smallest(wanted.pids or DEFAULT_LIMITS.pids, allowed.pids),
    )


def container_options(
    plan: RunPlan,
    run_id: str,
    instance: Instance,
    node: Node,
    image_id: str,
    channel: ChannelEndpoints | None = None,
    gpus: Sequence[str] = (),
) -> dict[str, Any]:
    """Keyword arguments of ``containers.create``: the whole security posture in one place.

    A container with a simulated radio joins the run's ``channel`` network (and
    no other) and gets its emulator endpoints in the environment. It gets the
    GPUs ``gpus`` and its role's datasets (named volumes, read-only), no more.
    """
    role = plan.experiment.roles[instance.role]
    limits = effective_limits(role, node)
    radio = radio_for(role, node) if role.radio is not None else None
    options: dict[str, Any] = {
        **hardened(capabilities=node.capabilities, devices=radio.devices if radio else ()),
        "image": image_id,
        "name": reservation_name(node.name),
        "labels": labels(run_id, plan, instance, node),
        "environment": environment(plan, run_id, instance, node),
        "detach": True,
        "network_mode": node.network or "none",
        "pids_limit": limits.pids,
        "mem_limit": limits.memory_bytes,
        "memswap_limit": limits.memory_bytes,  # no swap on top of the memory limit
        **gpu_options(gpus),
    }
    if role.datasets:
        options["mounts"] = dataset_mounts(role)
        options["environment"].update(dataset_environment(role))
    if channel is not None and (endpoints := channel.environment(instance.slug)):
        options["network_mode"] = channel.network
        options["environment"].update(endpoints)
    if limits.cpus is not None:
        options["nano_cpus"] = int(limits.cpus * 1e9)
    if role.command is not None:
        options["command"] = list(role.command)
    if role.entrypoint is not None:
        options["entrypoint"] = list(role.entrypoint)
    return options


def seed_archive(parameters: Mapping[str, Scalar]) -> bytes:
    """/radiops/parameters.json and writable /radiops/out and /radiops/radio, put in before start.

    Copied in rather than bind-mounted: no host path is ever mounted.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        folders = (("radiops", 0o755), ("radiops/out", 0o1777), ("radiops/radio", 0o1777))
        for name, mode in folders:
            folder = tarfile.TarInfo(name)
            folder.type, folder.mode = tarfile.DIRTYPE, mode
            archive.addfile(folder)
        data = (json.dumps(dict(parameters), indent=2, sort_keys=True) + "\n").encode()
        info = tarfile.TarInfo("radiops/parameters.json")
        info.size, info.mode = len(data), 0o644
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def scalar_text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


DEFAULT_SHELL = "/bin/sh"


def session_options(
    options: Mapping[str, Any],
    *,
    session_id: str,
    user: str,
    until: str,
    program: str = DEFAULT_SHELL,
) -> dict[str, Any]:
    """A run's container options (``container_options``) turned into an interactive shell's:
    the same posture, radios and environment; a terminal, stdin open, the shell as the program.

    Labelled as a session (not a run), with who holds the node, for ``radiops testbed
    status``, and when its time is up (``until``, ISO 8601 UTC): a session whose
    ``radiops shell`` was killed is removed by ``radiops recover`` once that time has passed.
    """
    labels = {k: v for k, v in options["labels"].items() if k != f"{LABEL_PREFIX}run"}
    labels.update(session_labels(session_id=session_id, user=user, until=until))
    adapted = {k: v for k, v in options.items() if k != "command"}
    adapted.update(
        labels=labels,
        environment={**options["environment"], "RADIOPS_RUN_ID": session_id},
        entrypoint=[program],
        tty=True,
        stdin_open=True,
    )
    return adapted


def session_labels(*, session_id: str, user: str, until: str) -> dict[str, str]:
    """What marks a container or network as a session's: its id, who holds it, and until
    when (``radiops recover`` removes them once that time has passed)."""
    return {
        f"{LABEL_PREFIX}session": session_id,
        f"{LABEL_PREFIX}user": user,
        f"{LABEL_PREFIX}until": until,
    }


def held_by(labels: Mapping[str, str]) -> str:
    """Who a reservation's labels say holds the node: ``run ID of EXPERIMENT``, or for an
    interactive session ``shell of USER for EXPERIMENT/ROLE``."""
    found = {key: labels.get(LABEL_PREFIX + key, "?") for key in ("run", "experiment", "role")}
    if LABEL_PREFIX + "session" in labels:
        user = labels.get(LABEL_PREFIX + "user", "?")
        return f"shell of {user} for {found['experiment']}/{found['role']}"
    return f"run {found['run']} of {found['experiment']}"
