"""Four one-node runs on four free nodes against one run: parallelism, measured.

A testbed of four virtual nodes on the local engine; a scenario whose
container sleeps 2 s. One run (``--set x=1``), then the matrix of four points
(one per node), each timed in-process. Prints both and the ratio (target:
at most 1.3).

Usage: .venv/bin/python bench/parallel.py
"""

from __future__ import annotations

import io
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


def main() -> None:
    extra = "parameters:\n  x: {type: integer, default: 0}\nmatrix:\n  x: [1, 2, 3, 4]\n"
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_run_repo(Path(tmp), testbed=TESTBED)
        add_scenario(repo, "nap", shell_scenario("nap", script="sleep 2", extra=extra))
        timed(repo, "x=1")  # builds the image
        one = min(timed(repo, "x=1") for _ in range(2))
        four = min(timed(repo) for _ in range(2))
    print("container: sleep 2 s; testbed: four virtual nodes on the local engine; best of 2")
    print(f"one run:             {one:.2f} s")
    print(f"four runs, 4 nodes:  {four:.2f} s")
    print(f"ratio four/one:      {four / one:.2f}  (target <= 1.3)")


if __name__ == "__main__":
    main()
