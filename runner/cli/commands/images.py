"""``radiops images build|push|lock``: the repository's images and ``images.lock``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

import docker

from runner.cli.command import Command, Context
from runner.engine.engines import connect
from runner.engine.images import BuiltImage, build, context_sha256
from runner.engine.registry import push
from runner.model.checks import image_dir_problems
from runner.model.errors import EnvironmentProblem, InvalidInput, UsageError
from runner.model.lock import LOCK_FILE, LockEntry, read_lock, update_lock
from runner.model.problems import Problem, ProblemsFound
from runner.model.repo import IMAGES, Repository, find_repository
from runner.model.report import LineReporter, Reporter
from runner.model.testbed import Node, local_default, resolve_testbed


class LockStale(InvalidInput):
    """``images.lock`` does not match the build contexts."""


def images_build(
    paths: Sequence[str],
    *,
    cwd: Path,
    engine: str | None = None,
    reporter: Reporter | None = None,
) -> list[BuiltImage]:
    """Build the given image directories (default: every ``images/<dir>``).

    ``engine`` is an engine URL; the default is the local one (``DOCKER_HOST``
    or the socket). An unchanged context is not built again. Progress goes to
    ``reporter`` (default: stderr).
    """
    progress = (reporter or LineReporter()).line
    repo, images = select_images(paths, cwd=cwd)
    client = _client(engine)
    try:
        return [build(client, repo, image, progress=progress) for image in images]
    finally:
        client.close()


def images_push(
    paths: Sequence[str],
    *,
    cwd: Path,
    testbed_file: Path | None,
    engine: str | None = None,
    reporter: Reporter | None = None,
) -> dict[str, str]:
    """Build (when needed) and push images to the testbed's registry; record them in images.lock.

    Returns ``images/<dir>`` -> pinned reference. The lock file is rewritten
    only when an entry changed. Progress goes to ``reporter`` (default: stderr).
    """
    progress = (reporter or LineReporter()).line
    repo, images = select_images(paths, cwd=cwd)
    testbed, _ = resolve_testbed(repo.root, testbed_file, cwd=cwd)
    if testbed.registry is None:
        where = (
            "the local default testbed (no testbed.yaml)"
            if testbed.source is None
            else repo.display(testbed.source, cwd=cwd)
        )
        raise EnvironmentProblem(
            f"{where} has no registry to push to: add 'registry: {{address: host:port}}' "
            "to the inventory"
        )
    client = _client(engine)
    pushed: dict[str, str] = {}
    entries: dict[str, LockEntry] = {}
    try:
        for image in images:
            built = build(client, repo, image, progress=progress)
            pushed[image] = push(client, built, testbed.registry, progress=progress)
            entries[image] = LockEntry(context_sha256=built.context_sha256, digest=pushed[image])
    finally:
        client.close()
    changed = update_lock(repo, entries)
    print(f"{LOCK_FILE} {'updated' if changed else 'unchanged'}")
    return pushed


def images_lock(*, cwd: Path, check: bool) -> bool:
    """Compare images.lock with the build contexts; True when it is up to date.

    Prints one line per image that is not. With ``check``, raises LockStale
    (exit 1) instead of returning False; without it, drops the entries of
    image directories that no longer exist. Stale entries can only be
    refreshed by ``radiops images push``, which builds and pushes.
    """
    repo = find_repository(cwd)
    lock = read_lock(repo)
    current = {f"{IMAGES}/{d.name}": context_sha256(d) for d in repo.image_dirs()}
    stale = sorted(
        image
        for image, digest in current.items()
        if image not in lock or lock[image].context_sha256 != digest
    )
    orphans = sorted(set(lock) - set(current))
    lines = [
        f"{image}: not in {LOCK_FILE}"
        if image not in lock
        else f"{image}: the context changed since it was pushed"
        for image in stale
    ] + [f"{image}: in {LOCK_FILE}, but the directory is gone" for image in orphans]
    if check and (stale or orphans):
        raise LockStale(
            f"{LOCK_FILE} is out of date:\n"
            + "\n".join(f"  {line}" for line in lines)
            + "\nrun `radiops images push` to build, push and record the images"
        )
    for line in lines:
        print(line)
    if orphans and update_lock(repo, {}, remove=orphans):
        print(f"{LOCK_FILE}: removed {', '.join(orphans)}")
    if stale:
        print(f"run `radiops images push` to record {', '.join(stale)}")
        return False
    print(f"{LOCK_FILE} is up to date")
    return True


def select_images(paths: Sequence[str], *, cwd: Path) -> tuple[Repository, list[str]]:
    """The repository and its ``images/<dir>`` named by ``paths`` (default: all of them).

    A path is an image directory, ``images/`` or the repository itself,
    relative to ``cwd``. Raises ProblemsFound for a directory that cannot
    be built (no Dockerfile, a link out of the repository, a bad name).
    """
    absolute = [Path(os.path.normpath(cwd / text)) for text in paths]
    repo = find_repository(absolute[0] if absolute else cwd)
    wanted = set(repo.image_dirs()) if not paths else set()
    for text, path in zip(paths, absolute, strict=True):
        if path in (repo.root, repo.images_dir):
            wanted.update(repo.image_dirs())
        elif path.parent == repo.images_dir and path.is_dir():
            wanted.add(path)
        elif not path.exists():
            raise UsageError(f"{text}: no such image directory")
        else:
            raise UsageError(
                f"{text}: not an image directory of {repo.root} (expected {IMAGES}/<dir>)"
            )
    problems: list[Problem] = []
    for context in sorted(wanted):
        problems += image_dir_problems(context, repo, display=repo.display(context, cwd=cwd))
    if problems:
        raise ProblemsFound(problems)
    return repo, [f"{IMAGES}/{context.name}" for context in sorted(wanted)]


def _client(engine: str | None) -> docker.DockerClient:
    default = next(iter(local_default(engine=engine).nodes.values()))
    return connect(Node(name="local", engine=default.engine))


def _build_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="IMAGE", help="e.g. images/hello")
    parser.add_argument("--engine", metavar="URL", help="Docker engine (default: the local one)")


def _push_arguments(parser: argparse.ArgumentParser) -> None:
    _build_arguments(parser)
    parser.add_argument("--testbed", type=Path, metavar="FILE", help="inventory to use")


def _lock_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="exit 1 when images.lock is stale")


def _build_main(args: argparse.Namespace, context: Context) -> int:
    images_build(args.paths, cwd=context.cwd, engine=args.engine, reporter=context.reporter)
    return 0


def _push_main(args: argparse.Namespace, context: Context) -> int:
    images_push(
        args.paths,
        cwd=context.cwd,
        testbed_file=args.testbed,
        engine=args.engine,
        reporter=context.reporter,
    )
    return 0


def _lock_main(args: argparse.Namespace, context: Context) -> int:
    images_lock(cwd=context.cwd, check=args.check)
    return 0


BUILD = Command(
    description="build the images (default: all of images/)",
    add_arguments=_build_arguments,
    main=_build_main,
)
PUSH = Command(
    description="build if needed, push to the testbed registry, update images.lock",
    add_arguments=_push_arguments,
    main=_push_main,
)
LOCK = Command(
    description="Drop entries of images that no longer exist; with --check, fail when an "
    "entry is stale (the context changed since it was pushed).",
    add_arguments=_lock_arguments,
    main=_lock_main,
)
