"""What ``radiops run`` costs on top of ``docker run``, for a one-node experiment.

The container sleeps 2 s. Baseline: ``docker run --rm --network none IMAGE sh -c 'sleep 2'``
(the docker CLI, a process per run). radiops: ``radiops run`` of a scenario with
the same image and command (a process per run: validation, reservation,
hardened container, log and output capture, manifest). The image is built
before timing. Prints the medians and their ratio (target: at most 1.15).

A third line times what the engine alone spends on a run that records what
changed: the same container created, started attached, ``docker diff`` and
removed, by the docker CLI. On Docker's overlay2 the diff walks the whole image
(moby/moby#39428), whatever changed; the ratio against it is radiops' own share.

Usage: .venv/bin/python bench/run_overhead.py [REPEATS]   (default 5)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.testing.repos import add_scenario, make_run_repo, shell_scenario  # noqa: E402

SLEEP = "sleep 2"


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, timeout=300)
    return time.perf_counter() - start


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    radiops = [str(Path(sys.executable).parent / "radiops"), "run", "experiments/nap"]
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_run_repo(Path(tmp))
        add_scenario(repo, "nap", shell_scenario("nap", script=SLEEP))
        timed(radiops, repo)  # builds the image
        image = next(
            line.split()[0]
            for line in subprocess.run(
                ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "radiops/tools"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.splitlines()
        )
        docker = ["docker", "run", "--rm", "--network", "none", image, "sh", "-c", SLEEP]
        with_diff = [
            "sh",
            "-c",
            'id=$(docker create --network none "$1" sh -c "$2") && docker start -a "$id" '
            '&& docker diff "$id" && docker rm "$id"',
            "with-diff",
            image,
            SLEEP,
        ]
        base = [timed(docker, repo) for _ in range(repeats)]
        engine = [timed(with_diff, repo) for _ in range(repeats)]
        ours = [timed(radiops, repo) for _ in range(repeats)]
    base_s, ours_s = statistics.median(base), statistics.median(ours)
    engine_s = statistics.median(engine)
    print(f"container: sh -c '{SLEEP}', {repeats} runs each, medians")
    print(f"docker run:   {base_s:.2f} s   (all: {', '.join(f'{t:.2f}' for t in base)})")
    print(f"docker + diff: {engine_s:.2f} s  (all: {', '.join(f'{t:.2f}' for t in engine)})")
    print(f"radiops run:  {ours_s:.2f} s   (all: {', '.join(f'{t:.2f}' for t in ours)})")
    print(f"ratio radiops/docker: {ours_s / base_s:.2f}  (target <= 1.15)")
    print(f"ratio radiops/(docker run + diff): {ours_s / engine_s:.2f}  (radiops' own share)")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    main()
