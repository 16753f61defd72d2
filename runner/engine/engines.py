"""The one seam to Docker: a client for a node's engine.

Every engine call goes through a client made here, with a bounded timeout,
so an engine that never answers fails the call instead of hanging a run.
Logic never calls ``docker.from_env()``: it is handed clients.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeAlias

import docker
import docker.errors
import docker.tls
import requests.exceptions

from runner.engine.engine_kind import DOCKER, kind_of, missing, version_problem
from runner.model.errors import EnvironmentProblem
from runner.model.remotes import without_credentials
from runner.model.testbed import Node

DEFAULT_TIMEOUT_S = 60.0

#: A connected engine, as the rest of radiops holds it: ``pipeline/`` passes it to
#: ``engine/`` functions and never calls the Docker SDK itself.
EngineClient: TypeAlias = docker.DockerClient

#: What an engine call raises when the engine refuses it or no longer answers (an
#: engine that went away mid-call surfaces as a requests error, not a Docker one).
# Anything a Docker call can raise: the engine's answers, the SDK refusing a request
# before sending it (a malformed name, no engine at the address) and a broken transport.
ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)
# What a call through a client that connected raises when the engine refuses or stops
# answering. Narrower on purpose: any other DockerException there means radiops called
# the SDK wrongly, a bug to show, not an engine to report as away.
ENGINE_CALL_ERRORS = (docker.errors.APIError, requests.exceptions.RequestException)


def engine_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the engine stopped answering (its transport failed), rather than
    that it refused a request."""
    return isinstance(exc, requests.exceptions.RequestException)


def connect_all(
    nodes: Sequence[Node],
) -> tuple[dict[str, docker.DockerClient], dict[str, EnvironmentProblem]]:
    """A client per engine of ``nodes`` that answers, and why each other one did not.

    The engines are asked at once, so engines that never answer cost one
    timeout in all, not one each.
    """
    engines: dict[str, Node] = {}
    for node in nodes:
        engines.setdefault(node.engine, node)
    with ThreadPoolExecutor(max_workers=max(1, len(engines)), thread_name_prefix="connect") as pool:
        asked = {url: pool.submit(connect, node) for url, node in engines.items()}
    clients: dict[str, docker.DockerClient] = {}
    problems: dict[str, EnvironmentProblem] = {}
    for url, answer in asked.items():
        try:
            clients[url] = answer.result()
        except EnvironmentProblem as exc:
            problems[url] = exc
    return clients, problems


def connect(node: Node, *, timeout: float = DEFAULT_TIMEOUT_S) -> docker.DockerClient:
    """A client for ``node``'s engine; EnvironmentProblem when it does not answer, or
    when its release has a known archive flaw or the engine lacks what radiops needs
    (runner.engine.engine_kind: Docker Engine or Podman)."""
    tls: docker.tls.TLSConfig | bool = False
    if node.tls is not None:
        tls = docker.tls.TLSConfig(
            client_cert=(str(node.tls.cert), str(node.tls.key)),
            ca_cert=str(node.tls.ca),
            verify=True,
        )
    shown = without_credentials(node.engine)
    try:
        client = docker.DockerClient(
            base_url=node.engine,
            version="auto",  # 20.10 engines refuse the SDK's default API version
            timeout=int(timeout),
            tls=tls,
            use_ssh_client=node.engine.startswith("ssh://"),
        )
        version = client.version()
        kind = kind_of(version)
        info = client.info() if kind != DOCKER else {}
    except (*ENGINE_ERRORS, OSError) as exc:
        raise EnvironmentProblem(
            f"node {node.name}: cannot reach its Docker engine at {shown}: {exc}"
        ) from None
    problem = version_problem(version)
    lacks = missing(kind, info)
    if problem is not None or lacks is not None:
        client.close()
        why = "is unsafe" if problem is not None else "lacks what radiops needs"
        raise EnvironmentProblem(
            f"node {node.name}: refused, its engine at {shown} {why}: {problem or lacks}"
        )
    return client
