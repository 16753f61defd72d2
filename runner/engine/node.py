"""What a run needs from a node: one narrow, typed interface, whatever runs the containers.

:class:`NodeEngine` is one node's container engine as ``pipeline/`` and
``engine/execute`` use it: create a run's container (the create reserves the
node), list the containers radiops left, remove a run's networks, start its
channel emulator. :class:`NodeContainer` is one such container: start, wait,
stop, logs, the changes to its file system, an archive of a path out of it,
what the engine says of it (``attrs``, refreshed by ``reload``).

The Docker Engine is the first implementation (``engine/docker_node``; Docker's
own container objects satisfy :class:`NodeContainer` as they are). Another
backend (Podman, Kubernetes) is a module implementing these two protocols;
ARCHITECTURE.md says how Kubernetes would map reservations, devices and capture.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

if TYPE_CHECKING:
    from runner.engine.channel import ChannelConfig, ChannelNetwork

#: One entry of a container's changes: ``Path``, and ``Kind`` 0 changed, 1 added, 2 deleted
Change = dict[str, int | str]


class LogStream(Protocol):
    """A container's output, chunk by chunk; ``close`` ends a followed stream early."""

    def __iter__(self) -> Iterator[bytes]: ...
    def __next__(self) -> bytes: ...
    def close(self) -> None: ...


class NameTaken(Exception):
    """A container of that name exists on the node: another run holds its reservation."""


@dataclass(frozen=True, kw_only=True)
class Listed:
    """A container as the engine's list says it is, without asking the container itself."""

    id: str
    name: str
    labels: Mapping[str, str]
    status: str  # created, running, exited, dead...


class NodeContainer(Protocol):
    """One container of a run, on one node."""

    attrs: dict[str, Any]
    """What the engine says of it (Docker's inspect record: State, Config, Image...)."""

    @property
    def id(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def labels(self) -> dict[str, str]: ...
    @property
    def status(self) -> str:
        """created, running, exited, dead... as of the last ``reload``."""

    def reload(self) -> None: ...
    def start(self) -> None: ...
    def stop(self, *, timeout: float | None = None) -> None: ...
    def kill(self, signal: str | int | None = None) -> None: ...
    def remove(self, *, v: bool = False, link: bool = False, force: bool = False) -> None: ...
    def wait(self, *, timeout: float | None = None) -> Mapping[str, Any]:
        """Block until it is not running (its exit status; the engine's error otherwise)."""

    def put_archive(self, path: str, data: bytes) -> bool: ...
    def get_archive(
        self, path: str, chunk_size: int | None = 2097152, encode_stream: bool = False
    ) -> tuple[Iterator[bytes], dict[str, Any] | None]:
        """A tar stream of ``path`` and the engine's stat of it."""

    def diff(self) -> list[Change]:
        """What changed in its file system since it was created."""

    def stats(
        self, *, decode: bool | None = None, stream: bool = True, one_shot: bool | None = None
    ) -> Iterator[dict[str, Any]] | dict[str, Any]: ...
    @overload
    def logs(
        self,
        *,
        stdout: bool = True,
        stderr: bool = True,
        stream: Literal[True],
        follow: bool | None = None,
    ) -> LogStream: ...
    @overload
    def logs(
        self,
        *,
        stdout: bool = True,
        stderr: bool = True,
        stream: Literal[False] = False,
        follow: bool | None = None,
    ) -> bytes: ...


class NodeEngine(Protocol):
    """One node's container engine."""

    @property
    def url(self) -> str: ...

    def create(self, options: Mapping[str, Any]) -> NodeContainer:
        """Create a container from ``engine/container_spec``'s options (its name reserves
        the node); NameTaken when a container of that name exists."""

    def get(self, name: str) -> NodeContainer:
        """The container of that name; one of ENGINE_ERRORS when there is none."""

    def labelled(self, label: str) -> list[NodeContainer]:
        """Every container, running or not, carrying ``label`` (``key`` or ``key=value``)."""

    def listed(self, label: str) -> list[Listed]:
        """Every container, running or not, carrying ``label``, from the engine's list alone:
        asking each container would wait for one busy with an archive (a copy in or out
        holds it) until that copy ends."""

    def remove_networks(self, label: str) -> None:
        """Remove the networks carrying ``label``."""

    def channel(
        self,
        *,
        run_id: str,
        image: str,
        config: ChannelConfig,
        labels: Mapping[str, str],
        reach_check: bool = False,
    ) -> ChannelNetwork:
        """The run's channel emulator and its network, not yet opened (``reach_check``:
        opening also checks that a container on the network reaches the emulator)."""
