"""The Docker Engine as a :class:`runner.engine.node.NodeEngine`: the first node backend.

Docker's own container objects are the :class:`~runner.engine.node.NodeContainer`
it hands out; this module adds the node-level operations a run needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import docker
import docker.errors

from runner.engine.channel import ChannelConfig, ChannelNetwork
from runner.engine.node import Listed, NameTaken, NodeContainer, NodeEngine


class DockerNode:
    """One node's Docker Engine, reached through ``client``."""

    def __init__(self, url: str, client: docker.DockerClient) -> None:
        self._url = url
        self.client = client

    @property
    def url(self) -> str:
        return self._url

    def create(self, options: Mapping[str, Any]) -> NodeContainer:
        try:
            return self.client.containers.create(**options)
        except docker.errors.APIError as exc:
            if exc.status_code == 409:  # the name is taken: another run holds the node
                raise NameTaken(str(options.get("name", ""))) from exc
            raise

    def get(self, name: str) -> NodeContainer:
        return self.client.containers.get(name)

    def labelled(self, label: str) -> list[NodeContainer]:
        return list(self.client.containers.list(all=True, filters={"label": label}))

    def listed(self, label: str) -> list[Listed]:
        found: list[dict[str, Any]] = self.client.api.containers(all=True, filters={"label": label})
        return [
            Listed(
                id=str(entry["Id"]),
                name=str((entry.get("Names") or [entry["Id"]])[0]).lstrip("/"),
                labels=dict(entry.get("Labels") or {}),
                status=str(entry.get("State", "")),
            )
            for entry in found
        ]

    def remove_networks(self, label: str) -> None:
        for network in self.client.networks.list(filters={"label": label}):
            network.remove()

    def channel(
        self,
        *,
        run_id: str,
        image: str,
        config: ChannelConfig,
        labels: Mapping[str, str],
        reach_check: bool = False,
    ) -> ChannelNetwork:
        return ChannelNetwork(
            self.client,
            run_id=run_id,
            image=image,
            config=config,
            labels=labels,
            reach_check=reach_check,
        )


def docker_nodes(clients: Mapping[str, docker.DockerClient]) -> dict[str, NodeEngine]:
    """The nodes of connected Docker clients, by engine URL."""
    return {url: DockerNode(url, client) for url, client in clients.items()}
