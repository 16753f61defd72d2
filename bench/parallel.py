"""Four one-node runs on four free nodes against one run: parallelism, measured.

A testbed of four virtual nodes on the local engine; a scenario whose
container sleeps 2 s. Each repetition times, in-process, one run (``--set x=1``)
and then the matrix of four points (one per node), so both meet the same load.
Prints every time, each repetition's ratio and the ratio of the medians (target:
at most 1.2, in every repetition).

For scale, the same with the engine alone: one, then four at once, of the
docker CLI's create, start (attached), ``diff`` and remove of the same image
and command: what four containers started and diffed together cost the one
engine of this machine, with no radiops in the way.

Usage: .venv/bin/python bench/parallel.py [REPEATS]   (default 5)
"""

from __future__ import annotations

import io
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runner.gitops.gitinfo import code_info, current_user  # noqa: E402
from runner.model.report import LineReporter  # noqa: E402
from runner.pipeline.experiment_run import RunOptions, run_experiment  # noqa: E402
from tests.testing.repos import add_scenario, make_run_repo, shell_scenario  # noqa: E402

TESTBED = "nodes:\n" + "".join(
    f"  v{i}:\n    engine: unix:///var/run/docker.sock\n" for i in range(1, 5)
)


def timed(repo: Path, *sets: str) -> float:
    start = time.perf_counter()
    results = run_experiment(
        Path("experiments/nap"),
        RunOptions(provenance=code_info, actor=current_user(), sets=sets, live_logs=False),
        cwd=repo,
        reporter=LineReporter(io.StringIO()),
        cancel=threading.Event(),
    )
    elapsed = time.perf_counter() - start
    assert all(r.status == "succeeded" for r in results), [r.reason for r in results]
    assert len({n for r in results for n in r.nodes}) == len(results)
    return elapsed


ENGINE_ALONE = (
    'id=$(docker create --network none "$1" sh -c "sleep 2") && docker start -a "$id" '
    '&& docker diff "$id" && docker rm "$id"'
)


def engine_alone(image: str, count: int) -> float:
    """``count`` create-start-diff-remove sequences at once, by the docker CLI."""
    start = time.perf_counter()
    command = ["sh", "-c", ENGINE_ALONE, "engine-alone", image]
    processes = [subprocess.Popen(command, stdout=subprocess.DEVNULL) for _ in range(count)]
    assert all(process.wait(timeout=300) == 0 for process in processes)
    return time.perf_counter() - start


def built_image() -> str:
    listed = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "radiops/tools"],
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.split()[0]


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    extra = "parameters:\n  x: {type: integer, default: 0}\nmatrix:\n  x: [1, 2, 3, 4]\n"
    ones: list[float] = []
    fours: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_run_repo(Path(tmp), testbed=TESTBED)
        add_scenario(repo, "nap", shell_scenario("nap", script="sleep 2", extra=extra))
        timed(repo, "x=1")  # builds the image
        image = built_image()
        engine_ones, engine_fours = [], []
        for _ in range(repeats):
            ones.append(timed(repo, "x=1"))
            fours.append(timed(repo))
            engine_ones.append(engine_alone(image, 1))
            engine_fours.append(engine_alone(image, 4))
    one, four = statistics.median(ones), statistics.median(fours)
    engine_one, engine_four = statistics.median(engine_ones), statistics.median(engine_fours)
    ratios = [f / o for o, f in zip(ones, fours, strict=True)]
    print(f"container: sleep 2 s; testbed: four virtual nodes on the local engine; {repeats} runs")
    print(f"one run:             {one:.2f} s   (all: {', '.join(f'{t:.2f}' for t in ones)})")
    print(f"four runs, 4 nodes:  {four:.2f} s   (all: {', '.join(f'{t:.2f}' for t in fours)})")
    print(
        f"ratio per repetition: {', '.join(f'{r:.2f}' for r in ratios)} (worst {max(ratios):.2f})"
    )
    print(f"ratio four/one:      {four / one:.2f}  (medians; target <= 1.2)")
    print(
        f"engine alone (docker CLI create, start, diff, rm): one {engine_one:.2f} s, "
        f"four at once {engine_four:.2f} s, ratio {engine_four / engine_one:.2f}"
    )


if __name__ == "__main__":
    main()
