"""Soak: 200 short runs back to back, from two runner processes at once, on three nodes.

Two ``radiops run`` processes share one repository and the local default
testbed's three virtual nodes; each runs a 100-point matrix of a container
that sleeps 0.2 s. Afterwards it checks what a long day on a testbed must
not do, and prints the counts (all must be zero):

- lost runs: points without a manifest, manifests not succeeded, pending records left;
- double-booked nodes: two containers on one node at overlapping times (from the manifests);
- leaked containers and networks: anything labelled ``org.radiops.*`` left on the engine;
- runner memory: each runner's resident memory sampled every 0.5 s; the growth from the
  second to the last quarter of the soak (the first is start-up).

Prints runs per minute. Usage: .venv/bin/python bench/soak.py [--runs 200]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.testing.repos import add_scenario, commit_all, make_run_repo, shell_scenario  # noqa: E402


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def sample(process: subprocess.Popen[bytes], into: list[int]) -> None:
    while process.poll() is None:
        value = rss_kib(process.pid)
        if value:
            into.append(value)
        time.sleep(0.5)


def overlaps(manifests: list[dict[str, Any]]) -> int:
    """Pairs of containers that held one node at the same time."""
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for manifest in manifests:
        for container in manifest["containers"]:
            if container["started"] and container["finished"]:
                start = datetime.fromisoformat(container["started"].replace("Z", "+00:00"))
                end = datetime.fromisoformat(container["finished"].replace("Z", "+00:00"))
                spans.setdefault(container["node"], []).append((start, end))
    count = 0
    for intervals in spans.values():
        intervals.sort()
        for (_, end), (start, _) in itertools.pairwise(intervals):
            count += start < end
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200, help="in all, split over two runners")
    args = parser.parse_args()
    half = args.runs // 2
    extra = f"parameters:\n  i: {{type: integer, default: 0}}\nmatrix:\n  i: {list(range(half))}\n"
    client = docker.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_run_repo(Path(tmp))
        for name in ("left", "right"):
            add_scenario(repo, name, shell_scenario(name, script="sleep 0.2", extra=extra))
        commit_all(repo, "soak scenarios")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "runner", "run", "--wait", "3600"]
        # build the image first, so the soak measures runs
        subprocess.run(
            [*command, "experiments/left", "--set", "i=0"],
            cwd=repo,
            env=env,
            check=True,
            capture_output=True,
        )
        for run_dir in (repo / "experiments/left/runs").iterdir():
            for path in sorted(run_dir.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            run_dir.rmdir()
        start = time.monotonic()
        runners, memory = [], []
        for name in ("left", "right"):
            process = subprocess.Popen(
                [*command, f"experiments/{name}"],
                cwd=repo,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            samples: list[int] = []
            threading.Thread(target=sample, args=(process, samples), daemon=True).start()
            runners.append(process)
            memory.append(samples)
        codes = [process.wait() for process in runners]
        elapsed = time.monotonic() - start
        manifests = [
            json.loads(p.read_text()) for p in repo.glob("experiments/*/runs/*/manifest.json")
        ]
        pending = list(repo.glob("experiments/*/runs/*/pending.json"))
        lost = (
            2 * half
            - len(manifests)
            + sum(m["outcome"]["status"] != "succeeded" for m in manifests)
        )
        containers = client.containers.list(all=True, filters={"label": "org.radiops.experiment"})
        leaked_containers = [
            c for c in containers if c.labels.get("org.radiops.experiment") in ("left", "right")
        ]
        networks = client.networks.list(filters={"label": "org.radiops.run"})
    client.close()
    print(
        f"runs: {len(manifests)} of {2 * half} from 2 runner processes on 3 nodes in "
        f"{elapsed:.1f} s (runner exit codes {codes})"
    )
    print(f"runs per minute:          {len(manifests) / elapsed * 60:.1f}")
    print(f"lost runs:                {lost} (+ {len(pending)} pending records left)")
    print(f"double-booked nodes:      {overlaps(manifests)}")
    print(f"leaked containers:        {len(leaked_containers)}")
    print(f"leaked networks:          {len(networks)}")
    for name, samples in zip(("left", "right"), memory, strict=True):
        quarter = max(1, len(samples) // 4)  # the first quarter is start-up (imports, image)
        first = sum(samples[quarter : 2 * quarter]) / max(1, len(samples[quarter : 2 * quarter]))
        last = sum(samples[-quarter:]) / quarter
        print(
            f"runner {name} memory:      {first / 1024:.1f} MiB second quarter, "
            f"{last / 1024:.1f} MiB last quarter ({(last - first) / 1024:+.1f} MiB)"
        )


if __name__ == "__main__":
    main()
