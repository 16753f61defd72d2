"""Which dataset volumes an engine no longer needs, and removing them
(``radiops testbed prune-datasets``).

The rule, per volume labelled as a dataset (engine/datasets.py):

* mounted by any container (running or not, a run's or a fill's helper): kept;
* complete (its marker names its hash): removed when its last use, the newest
  use stamp or else the volume's creation, is older than ``keep`` seconds;
* not complete (a fill that broke off, its helper gone): removed, unless it
  was created within :data:`FILL_GRACE_S` (a fill may be about to mount it).

A volume is read (its marker) by a created, never started helper, as a fill
does; the helper needs an image, any image present on the engine. Docker
refuses to remove a volume a container mounts, so a run that mounts one
between the decision and the removal keeps it. The use stamps of a removed
dataset go with it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

import docker
import docker.errors
from docker.models.volumes import Volume

from runner.engine.datasets import LABEL, USE_LABEL, is_complete, use_stamps, volume_name
from runner.engine.engines import ENGINE_ERRORS
from runner.model.errors import EnvironmentProblem
from runner.model.timestamps import parse_timestamp, timestamp

#: a volume without its marker, younger than this, may be a fill under way
FILL_GRACE_S = 600.0

Action = Literal["remove", "keep"]


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """One dataset volume on one engine: what prune does with it, and why."""

    engine: str
    volume: str
    sha256: str
    action: Action
    reason: str
    size: int | None = None
    """Bytes, where the engine says (``docker system df``); None where it does not."""
    removed: bool = False
    error: str | None = None
    """Why a removal the rule asked for did not happen."""


def judge(
    *,
    in_use: bool,
    complete: bool | None,
    last_used: float | None,
    created: float | None,
    now: float,
    keep_s: float,
) -> tuple[Action, str]:
    """The rule (module docstring) on one volume's facts; ``complete`` None: not readable."""
    if in_use:
        return "keep", "mounted by a container"
    if complete is None:
        return "keep", "not checked: no image on the engine to read it with"
    if not complete:
        if created is not None and now - created < FILL_GRACE_S:
            return "keep", "being filled (no marker yet, created minutes ago)"
        return "remove", "half-filled: no marker, and no fill helper mounts it"
    if last_used is None:
        return "keep", "last use unknown"
    when = _iso(last_used)
    if now - last_used < keep_s:
        return "keep", f"last used {when}"
    return "remove", f"unused since {when}"


def plan_engine(
    client: docker.DockerClient, engine: str, *, keep_s: float, now: float | None = None
) -> list[Verdict]:
    """Every dataset volume of the engine, judged (nothing is changed)."""
    now = time.time() if now is None else now
    try:
        volumes = client.volumes.list(filters={"label": LABEL})
        mounted = _mounted(client)
        sizes = _sizes(client)
        stamps: dict[str, int] = {}
        for stamp, at in use_stamps(client):
            sha = (stamp.attrs.get("Labels") or {}).get(USE_LABEL, "")
            stamps[sha] = max(at, stamps.get(sha, 0))
        image = _any_image(client)
        found = []
        for volume in volumes:
            sha256 = (volume.attrs.get("Labels") or {}).get(LABEL, "")
            if volume.name != volume_name(sha256):
                continue  # labelled by hand, not a dataset radiops filled: never touched
            in_use = volume.name in mounted
            complete = None if image is None else (in_use or is_complete(client, sha256, image))
            created = _created(volume)
            action, reason = judge(
                in_use=in_use,
                complete=complete,
                last_used=float(stamps[sha256]) if sha256 in stamps else created,
                created=created,
                now=now,
                keep_s=keep_s,
            )
            found.append(
                Verdict(
                    engine=engine,
                    volume=volume.name,
                    sha256=sha256,
                    action=action,
                    reason=reason,
                    size=sizes.get(volume.name),
                )
            )
    except ENGINE_ERRORS as exc:
        raise EnvironmentProblem(f"cannot list the dataset volumes of {engine}: {exc}") from None
    return sorted(found, key=lambda v: v.volume)


def prune(client: docker.DockerClient, verdicts: list[Verdict]) -> list[Verdict]:
    """Remove the volumes the verdicts say to remove (``verdicts``: every dataset volume of
    the engine), then the use stamps of datasets no longer there; the verdicts, each saying
    whether its removal happened."""
    done = [_remove(client, verdict) for verdict in verdicts]
    left = {verdict.sha256 for verdict in done if not verdict.removed}
    for stamp, _at in use_stamps(client):
        if (stamp.attrs.get("Labels") or {}).get(USE_LABEL) not in left:
            with suppress(*ENGINE_ERRORS):  # an empty stamp left is harmless: removed next time
                stamp.remove()
    return done


def _remove(client: docker.DockerClient, verdict: Verdict) -> Verdict:
    if verdict.action != "remove":
        return verdict
    try:
        client.volumes.get(verdict.volume).remove()
    except docker.errors.NotFound:
        return replace(verdict, error="gone already (another prune?)")
    except ENGINE_ERRORS as exc:  # 409: a container mounted it meanwhile
        return replace(verdict, error=str(exc))
    return replace(verdict, removed=True)


def _mounted(client: docker.DockerClient) -> set[str]:
    """The names of the volumes any container of the engine mounts, running or not."""
    names = set()
    for container in client.containers.list(all=True):
        for mount in container.attrs.get("Mounts") or ():
            if mount.get("Name"):
                names.add(str(mount["Name"]))
    return names


def _sizes(client: docker.DockerClient) -> Mapping[str, int]:
    """Each volume's size where the engine tells (a negative size means it did not)."""
    sizes = {}
    for volume in client.df().get("Volumes") or ():
        size = (volume.get("UsageData") or {}).get("Size")
        if isinstance(size, int) and size >= 0:
            sizes[str(volume.get("Name"))] = size
    return sizes


def _any_image(client: docker.DockerClient) -> str | None:
    """An image to create the marker's reader from: never started, its content is not used."""
    for image in client.images.list():
        if image.id:
            return str(image.id)
    return None


def _created(volume: Volume) -> float | None:
    moment = parse_timestamp(str(volume.attrs.get("CreatedAt") or ""))
    return moment.timestamp() if moment else None


def _iso(epoch: float) -> str:
    return timestamp(datetime.fromtimestamp(epoch, UTC)) or str(epoch)
