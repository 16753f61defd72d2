"""What an image's software inventory costs a run, and what ``radiops diff`` costs.

Inventory, on the local engine, per IMAGE (default: debian:bookworm-slim, and every
radiops/* image the engine has, the largest GNU Radio one included):

- baseline: a plain ``docker create`` of the image and its removal (what reading
  anything out of an image costs at the least);
- new: ``image_inventory`` with an empty artifact store (a new image ID): the stopped
  container, the dpkg database and Python folders read, the CycloneDX document stored
  and indexed;
- known: ``image_inventory`` again on that store (the index says it is known).

Each is the best of ROUNDS. Targets: new under 2 s, known nothing (under 5 ms).

Diff: two runs (the manifests of tests/examples, their images given the smallest and
the largest inventory made above, one run's metrics and parameters changed) in a scratch
repository; ``radiops diff`` in-process (best of ROUNDS), and as a person runs it
(a new interpreter, cold) against ``python -c 'import runner.cli'``, the interpreter
and import cost every command pays. Target: under 1 s.

Usage: .venv/bin/python bench/inventory.py [ROUNDS] [IMAGE...]   (default 5)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runner.cli.commands.diff import diff  # noqa: E402
from runner.engine.artifacts import ArtifactStore  # noqa: E402
from runner.engine.inventory import image_inventory  # noqa: E402
from runner.model.run_diff_render import render_text  # noqa: E402

EXAMPLE = ROOT / "tests/examples/manifest/valid/usrp-tx-rx-sigmf.json"
RUN_A = "20261122T101502Z-9f8e7d6c"
RUN_B = "20261122T111502Z-0a0b0c0d"


def best(rounds: int, action: Callable[[], Any]) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def bench_inventory(
    client: docker.DockerClient, ref: str, rounds: int, scratch: Path
) -> tuple[str, str, int]:
    image = client.images.get(ref)
    image_id = str(image.id)

    def create_and_remove() -> None:
        made = client.api.create_container(image_id, entrypoint=["/none"], network_disabled=True)
        client.api.remove_container(made["Id"], force=True)

    baseline = best(rounds, create_and_remove)
    stores = iter(ArtifactStore(scratch / f"{ref.replace('/', '_')}-{n}") for n in range(rounds))
    new = best(rounds, lambda: image_inventory(client, image_id, next(stores)))
    store = ArtifactStore(scratch / f"{ref.replace('/', '_')}-known")
    found = image_inventory(client, image_id, store)
    known = best(rounds * 20, lambda: image_inventory(client, image_id, store))
    print(
        f"{ref[:40]:<40} {found.packages:>5} pkgs  create+rm {baseline * 1000:7.1f} ms  "
        f"new {new * 1000:7.1f} ms ({new / baseline:5.1f}x)  known {known * 1000:6.3f} ms "
        f"({known / baseline:.4f}x)  {'ok' if new < 2 and known < 0.005 else 'OVER TARGET'}"
    )
    return image_id, found.sha256, found.packages


def bench_diff(
    scratch: Path,
    store: ArtifactStore,
    first: tuple[str, str],
    second: tuple[str, str],
    rounds: int,
) -> None:
    repo = scratch / "repo"
    (repo / ".radiops").mkdir(parents=True)
    (repo / ".radiops" / "artifacts").symlink_to(store.root)
    base = json.loads(EXAMPLE.read_text())
    for run_id, (image_id, sha256), change in (
        (RUN_A, first, False),
        (RUN_B, second, True),
    ):
        manifest = json.loads(json.dumps(base))
        manifest["run_id"] = run_id
        for image in manifest["images"]:
            image["image_id"] = image_id
            image["inventory"] = {"sha256": sha256, "format": "CycloneDX 1.5", "packages": 1}
        if change:
            manifest["parameters"]["tx_gain"] = 40
            manifest["metrics"]["ber"] = 0.002
        folder = repo / "experiments" / "tx-rx-link" / "runs" / run_id
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    text = render_text(diff(RUN_A, RUN_B, cwd=repo))
    changes = sum(1 for line in text.splitlines() if " -> " in line)
    warm = best(rounds, lambda: render_text(diff(RUN_A, RUN_B, cwd=repo)))
    python = [sys.executable]
    env = {"PYTHONPATH": str(ROOT)}
    imports = best(
        rounds, lambda: subprocess.run([*python, "-c", "import runner.cli"], env=env, check=True)
    )
    cold = best(
        rounds,
        lambda: subprocess.run(
            [*python, "-m", "runner", "diff", RUN_A, RUN_B],
            cwd=repo,
            env=env,
            check=True,
            capture_output=True,
        ),
    )
    print(
        f"diff of two runs with inventories ({changes} lines of changes): in-process "
        f"{warm * 1000:.1f} ms; command {cold * 1000:.1f} ms against python + import "
        f"{imports * 1000:.1f} ms ({cold / imports:.2f}x)  {'ok' if cold < 1 else 'OVER TARGET'}"
    )


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    client = docker.from_env(timeout=120)
    local = {tag for image in client.images.list("radiops/*") for tag in image.tags[:1]}
    refs = sys.argv[2:] or ["debian:bookworm-slim", *sorted(local)]
    with tempfile.TemporaryDirectory(prefix="radiops-bench-inventory-") as folder:
        scratch = Path(folder)
        found = [bench_inventory(client, ref, rounds, scratch) for ref in refs]
        found.sort(key=lambda item: item[2])
        store = ArtifactStore(scratch / "diff-store")
        ends = [found[0], found[-1]]  # the smallest and the largest: most packages differ
        for image_id, _, _ in ends:
            image_inventory(client, image_id, store)
        pairs = [(image_id, sha256) for image_id, sha256, _ in ends]
        bench_diff(scratch, store, pairs[0], pairs[-1], rounds)


if __name__ == "__main__":
    main()
