"""Copying 1 GiB of outputs out of a container: radiops capture against ``docker cp``.

A container writes FILES files of 1 MiB of random bytes to /radiops/out and
exits. Baseline: ``docker cp`` of that folder (the docker CLI, which neither
checks nor hashes). radiops: ``capture_tree`` with every file going to the
artifact store, run in a child process so that its peak memory is its own.
Rounds alternate baseline and radiops, with ``sync`` between them so that
neither pays for the other's dirty pages; medians are printed, and the ratio
(target: at most 1.3) and the peak RSS growth of the capture (target: under
200 MB).

Usage: .venv/bin/python bench/capture.py [ROUNDS] [FILES]   (default 3, 1000)
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runner.engine.artifacts import ArtifactStore  # noqa: E402
from runner.engine.capture import capture_tree  # noqa: E402

ENGINE = "unix:///var/run/docker.sock"
IMAGE = "debian:bookworm-slim"
OUT = "/radiops/out"


def connect() -> docker.DockerClient:
    return docker.DockerClient(base_url=ENGINE, version="auto", timeout=600)


def make_container(client: docker.DockerClient, files: int) -> str:
    script = (
        f"mkdir -p {OUT} && cd {OUT} && i=0 && while [ $i -lt {files} ]; do "
        "head -c 1048576 /dev/urandom > f$i; i=$((i+1)); done"
    )
    container = client.containers.create(
        IMAGE, ["sh", "-c", script], network_mode="none", labels={"radiops.bench": "capture"}
    )
    container.start()
    if container.wait(timeout=600)["StatusCode"] != 0:
        raise RuntimeError(container.logs().decode())
    return str(container.id)


def baseline(container_id: str, where: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["docker", "cp", f"{container_id}:{OUT}", str(where)], check=True)
    return time.perf_counter() - start


def radiops(container_id: str, where: Path) -> dict[str, float]:
    child = subprocess.run(
        [sys.executable, __file__, "--child", container_id, str(where)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(child.stdout)
    return result


def child(container_id: str, where: Path) -> None:
    """The capture itself, in a fresh process: its time, files, bytes and RSS growth."""
    container = connect().containers.get(container_id)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    capture = capture_tree(
        container,
        OUT,
        run_dir=where / "run",
        prefix="outputs",
        store=ArtifactStore(where / "store"),
        inline_max=0,
    )
    seconds = time.perf_counter() - start
    growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert not capture.refused, capture.refused
    print(
        json.dumps(
            {
                "seconds": seconds,
                "files": len(capture.files),
                "bytes": capture.total_bytes,
                "rss_growth_mb": growth_kib / 1024,
            }
        )
    )


def fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    os.sync()  # the previous round's dirty pages are not this round's cost
    return folder


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    client = connect()
    container_id = make_container(client, files)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base_s: list[float] = []
            ours: list[dict[str, float]] = []
            for _ in range(rounds):
                base_s.append(baseline(container_id, fresh(Path(tmp, "cp"))))
                ours.append(radiops(container_id, fresh(Path(tmp, "radiops"))))
            fresh(Path(tmp, "cp"))
    finally:
        client.containers.get(container_id).remove(force=True)
    assert all(r["files"] == files and r["bytes"] == files << 20 for r in ours), ours
    base = statistics.median(base_s)
    capture_s = statistics.median(r["seconds"] for r in ours)
    rss = max(r["rss_growth_mb"] for r in ours)
    print(f"files x size:               {files} x 1 MiB ({rounds} rounds, medians)")
    print(f"baseline (docker cp):       {base:.2f} s   {[round(b, 2) for b in base_s]}")
    ours_s = [round(r["seconds"], 2) for r in ours]
    print(f"radiops (capture_tree):     {capture_s:.2f} s   {ours_s}")
    print(f"ratio capture/baseline:     {capture_s / base:.2f}   (target <= 1.3)")
    print(f"peak RSS growth (capture):  {rss:.1f} MB   (target < 200 MB)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], Path(sys.argv[3]))
    else:
        main()
