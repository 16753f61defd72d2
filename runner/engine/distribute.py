"""A repository image on every engine that needs it: the one way radiops places images.

Without a registry the image is built on every engine (the same context, so
the same content; recorded by its context hash). With one, it is built once
where the runner is, pushed, and pulled by digest everywhere, and each engine's
copy is checked to carry exactly that digest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import docker

from runner.engine import images
from runner.engine import registry as registry_ops
from runner.model.repo import Repository
from runner.model.testbed import Registry

LOCAL_ENGINE = "unix:///var/run/docker.sock"


@dataclass(frozen=True, kw_only=True)
class Distributed:
    built: images.BuiltImage
    ref: str  # the pinned registry reference, or the local tag without a registry
    digest: str | None  # the registry digest; None without a registry
    ids: Mapping[str, str]  # engine URL -> image ID there


def distribute(
    image: str,
    repo: Repository,
    clients: Mapping[str, docker.DockerClient],
    *,
    registry: Registry | None,
    progress: Callable[[str], None],
) -> Distributed:
    """Build ``images/<dir>`` and make it present on every engine in ``clients``."""
    if registry is not None:
        builder = clients.get(LOCAL_ENGINE) or next(iter(clients.values()))
        built = images.build(builder, repo, image, progress=progress)
        ref = registry_ops.push(builder, built, registry, progress=progress)
        ids = {
            url: registry_ops.pull_pinned(c, ref, progress=progress) for url, c in clients.items()
        }
        return Distributed(built=built, ref=ref, digest=ref.split("@", 1)[1], ids=ids)
    ids = {}
    for url, client in clients.items():
        built = images.build(client, repo, image, progress=progress)
        ids[url] = built.image_id
    return Distributed(built=built, ref=built.local_ref, digest=None, ids=ids)
