"""The base image debian:bookworm-slim on every engine, made with mmdebstrap (no public
registry needed), and debian:SUITE-slim of another release on the default engine."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from localtestbed.component import note
from localtestbed.errors import PROG, TestbedError, log_tail
from localtestbed.layout import BASE_IMAGE, DEFAULT_ENGINE
from localtestbed.probes import image_id
from localtestbed.settings import Settings


def tarball(settings: Settings, suite: str) -> Path:
    return settings.state_dir / "base" / f"debian-{suite}-slim.tar"


def build_tarball(settings: Settings, suite: str) -> float:
    """The root filesystem of debian:SUITE-slim as a tarball; the seconds it took."""
    target = tarball(settings, suite)
    log = settings.log_dir / "mmdebstrap.log"
    target.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which("mmdebstrap") is None:
        raise TestbedError(
            "mmdebstrap is not installed",
            f"run '{PROG} up' (it installs it), or: apt-get install mmdebstrap",
        )
    note(f"building debian:{suite}-slim with mmdebstrap from the host's apt sources (log: {log})")
    began = time.monotonic()
    tmp = target.with_name(target.name + ".tmp")
    command = ["mmdebstrap", "--variant=apt", "--include=python3-minimal", "--format=tar"]
    with tmp.open("wb") as out, log.open("ab") as err:
        result = subprocess.run([*command, suite, "-"], stdout=out, stderr=err, check=False)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise TestbedError(
            f"mmdebstrap could not build the debian:{suite}-slim root filesystem (log: {log})",
            log_tail(log),
            "it reads the Debian mirror from this host's apt sources: check 'apt-get update' "
            f"works and that the mirror serves '{suite}'",
        )
    tmp.replace(target)
    return time.monotonic() - began


def import_image(settings: Settings, suite: str) -> str:
    """debian:SUITE-slim on the default engine, from the cached tarball; what was done."""
    done = ""
    source = tarball(settings, suite)
    if not source.is_file() or source.stat().st_size == 0:
        done = f"built with mmdebstrap in {build_tarball(settings, suite):.1f}s, "
    log = settings.log_dir / "base-image.log"
    began = time.monotonic()
    message = f"{PROG}: mmdebstrap --variant=apt --include=python3-minimal {suite}"
    with log.open("ab") as out:
        result = subprocess.run(
            ["docker", "-H", DEFAULT_ENGINE, "import", "--change", 'CMD ["bash"]',
             "--message", message, str(source), f"debian:{suite}-slim"],
            stdout=out, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    if result.returncode != 0:
        source.unlink(missing_ok=True)
        raise TestbedError(
            f"docker import of {source} into the default engine failed (log: {log})",
            log_tail(log),
            "the cached tarball was removed: run the command again to rebuild it",
        )
    return done + f"imported on default in {time.monotonic() - began:.1f}s"


def copy_image(settings: Settings, name: str, engine: str) -> None:
    """``docker save | docker load`` of the base image from the default engine."""
    log = settings.log_dir / "base-image.log"
    with log.open("ab") as out:
        save = subprocess.Popen(
            ["docker", "-H", DEFAULT_ENGINE, "save", BASE_IMAGE], stdout=subprocess.PIPE
        )
        load = subprocess.run(
            ["docker", "-H", engine, "load", "-q"],
            stdin=save.stdout, stdout=out, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
        if save.stdout is not None:
            save.stdout.close()
        saved = save.wait()
    if saved != 0 or load.returncode != 0:
        raise TestbedError(
            f"copying {BASE_IMAGE} from the default engine to {name} failed (log: {log})",
            log_tail(log),
            f"check '{PROG} status', then run '{PROG} up' again",
        )


def ensure_base_image(settings: Settings, nodes: dict[str, str]) -> str:
    """The base image on the default engine and on every node engine; what was done."""
    done: list[str] = []
    default_id = image_id(DEFAULT_ENGINE, BASE_IMAGE)
    if default_id is None:
        done.append(import_image(settings, "bookworm"))
        default_id = image_id(DEFAULT_ENGINE, BASE_IMAGE)
    loaded = [name for name, url in nodes.items() if image_id(url, BASE_IMAGE) != default_id]
    for name in loaded:
        copy_image(settings, name, nodes[name])
    if loaded:
        done.append("loaded on " + " ".join(loaded))
    return "; ".join(done) or "present on every engine"


def ensure_suite(settings: Settings, suite: str) -> str:
    """``image SUITE``: debian:SUITE-slim on the default engine; the line to print."""
    image = f"debian:{suite}-slim"
    if image == BASE_IMAGE:
        raise TestbedError(f"{BASE_IMAGE} is the testbed's own base image: '{PROG} up' makes it")
    if image_id(DEFAULT_ENGINE, image) is not None:
        return f"{image} present on the default engine"
    return f"{image} on the default engine: {import_image(settings, suite)}"
