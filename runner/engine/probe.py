"""Radio probing: which USRPs a node's containers really see, against ``testbed.yaml``.

:func:`probe_node` runs ``radiops-probe`` (images/sdr-base) in a short container on
the node's engine, with exactly what a run's container of that node would get: the
radios' device paths, the node's network grant (none unless it grants one: a
network-attached USRP needs it), dropped capabilities, no new privileges, limits.
The probe uses the real UHD inside the container, so the host needs no UHD.

Its output is treated as hostile (the image may come from a pull request): read
up to :data:`OUTPUT_MAX_BYTES`, parsed as strict JSON, every field checked by hand.

:func:`compare` names each radio the inventory lists that the probe did not find.
:class:`ProbeCache` keeps results per node for a while, so every run need not probe.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import deque
from collections.abc import Mapping
from typing import Any

import docker
import docker.errors
import requests.exceptions

from runner.engine.container_spec import radio_environment
from runner.engine.engines import ENGINE_CALL_ERRORS
from runner.engine.hardening import hardened
from runner.engine.probe_result import OUTPUT_MAX_BYTES, ProbeResult, parse_output
from runner.model.errors import EnvironmentProblem
from runner.model.problems import printable
from runner.model.remotes import without_credentials
from runner.model.testbed import Node

PROBE_COMMAND = "/usr/local/bin/radiops-probe"
LABEL_PROBE = "org.radiops.probe"  # the node's name
STDERR_TAIL_BYTES = 2000
DEFAULT_TIMEOUT_S = 60.0
#: one device's time to open (a B2xx loads its FPGA image), within the container's timeout
OPEN_TIMEOUT_S = 20.0
PROBE_LIMITS: Mapping[str, Any] = {
    "mem_limit": 256 * 1024 * 1024,
    "memswap_limit": 256 * 1024 * 1024,
    "pids_limit": 256,  # UHD's device drivers start threads; they count
    "nano_cpus": 1_000_000_000,
}


class ProbeFailed(EnvironmentProblem):
    """The probe could not run on a node, or what it printed is not a probe result."""


# -- running the probe ------------------------------------------------------------------


def probe_options(
    node: Node, image_ref: str, *, labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Keyword arguments of ``containers.create`` for the probe on ``node``."""
    arguments = ["--open-timeout", str(OPEN_TIMEOUT_S)]
    for radio in node.radios:
        if radio.args and not radio.simulated:
            arguments += ["--args", radio.args]
    devices = [path for radio in node.radios for path in radio.devices]
    # a simulated radio is found as a run's role finds it: libuhd's simulated USRP
    simulated = [radio for radio in node.radios if radio.simulated]
    environment = (
        {"RADIOPS_NODE": node.name, **radio_environment(simulated[0])} if simulated else {}
    )
    return {
        **hardened(capabilities=node.capabilities, devices=devices),
        "image": image_ref,
        "entrypoint": [PROBE_COMMAND],
        "command": arguments,
        "environment": environment,
        "labels": {**(labels or {}), LABEL_PROBE: node.name},
        "detach": True,
        "network_mode": node.network or "none",
        "read_only": True,
        "tmpfs": {"/tmp": "rw,nosuid,nodev,size=16m,mode=1777"},  # noqa: S108 (container's own)
        **PROBE_LIMITS,
    }


def probe_node(
    client: docker.DockerClient,
    node: Node,
    image_ref: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    labels: Mapping[str, str] | None = None,
) -> ProbeResult:
    """Run the probe in ``image_ref`` (already on the node's engine) on ``node``.

    The container is removed afterwards whatever happens. Raises ProbeFailed when
    the probe cannot run, fails, takes longer than ``timeout_s``, or prints
    something that is not a probe result.
    """
    where = f"node {node.name}"
    try:
        container = client.containers.create(**probe_options(node, image_ref, labels=labels))
    except docker.errors.ImageNotFound:
        raise ProbeFailed(
            f"{where}: the probe image {image_ref} is not on its engine; pull it first "
            "(images/sdr-base, pushed to the testbed registry and pulled by digest)"
        ) from None
    except ENGINE_CALL_ERRORS as exc:
        raise ProbeFailed(
            f"{where}: cannot create the probe container: {_engine_error(exc)}"
        ) from None
    try:
        container.start()
        try:
            status = container.wait(timeout=timeout_s)
        except (requests.exceptions.Timeout, requests.exceptions.ConnectionError):
            raise ProbeFailed(
                f"{where}: the probe did not finish within {timeout_s:g} s "
                f"(engine {without_credentials(node.engine)})"
            ) from None
        code = int(status.get("StatusCode", -1))
        if code != 0:
            raise ProbeFailed(
                f"{where}: the probe exited with status {code}"
                + _tail(_read_stream(container, stdout=False, limit=1 << 20)[-STDERR_TAIL_BYTES:])
            )
        output = _read_stream(container, stdout=True, limit=OUTPUT_MAX_BYTES + 1)
        try:
            return parse_output(output, probed_at=dt.datetime.now(dt.UTC))
        except ValueError as exc:
            raise ProbeFailed(f"{where}: {exc}") from None
    except ENGINE_CALL_ERRORS as exc:
        # APIError is a requests HTTPError: an answer, not silence
        raise ProbeFailed(f"{where}: the probe container failed: {_engine_error(exc)}") from None
    finally:
        # when the engine stops answering, the label names the leftover
        with contextlib.suppress(*ENGINE_CALL_ERRORS):
            container.remove(force=True, v=True)


def engine_id(client: docker.DockerClient) -> str:
    """The engine's own ID (``docker info``): it changes when the node is reinstalled."""
    try:
        return str(client.info()["ID"])
    except (*ENGINE_CALL_ERRORS, KeyError) as exc:
        raise ProbeFailed(f"the engine does not say its ID: {exc}") from None


def _read_stream(container: Any, *, stdout: bool, limit: int) -> bytes:
    """Up to ``limit`` bytes of the container's stdout (or stderr); never more in memory."""
    kept: deque[bytes] = deque()
    size = 0
    for chunk in container.logs(stdout=stdout, stderr=not stdout, stream=True, follow=False):
        kept.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(kept)[:limit]


def _tail(raw: bytes) -> str:
    text = printable(raw.decode("utf-8", "replace").strip())
    return f"; its last words: {text}" if text else " and printed nothing on stderr"


def _engine_error(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    return printable(str(explanation or exc))
