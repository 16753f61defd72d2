"""The site at scale: 1,000 experiments x 10 runs, against plain mkdocs-material.

Generates a repository of EXPERIMENTS experiments with RUNS runs each (real,
schema-valid manifests, each run with its own stdout log; a few runs carry a
SigMF recording), then times:

- baseline: plain mkdocs-material building 1,000 Markdown pages, every page in
  the navigation (about 86 s on a 2-core machine: the navigation is
  rendered into every page, so the time grows with the square of the pages);
- full: ``mkdocs build`` of the repository with the radiops plugin and an empty
  build cache (every page rendered, every recording plotted);
- rebuild: ``mkdocs build`` again after one new run was added (the cache holds
  the plots, the scenarios, the unchanged experiment and run pages).

Each build runs in its own process, as a user would run it. Prints the
figures, the ratio full/baseline and the ratio rebuild/full, and checks the
targets at the default size: full build at most 90 s, rebuild at most 25% of
the full build (exit 1 when one is missed).

Usage: .venv/bin/python bench/site_scale.py [EXPERIMENTS [RUNS]] [--no-baseline]
(default 1000 10; --no-baseline skips the 1,000-page mkdocs-material build, to
try smaller sites quickly)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the example-repository helpers live in tests/testing

from tests.testing.sites import add_experiment, add_run, make_site_repo, tone  # noqa: E402

RECORDINGS = 5
BASELINE_PAGES = 1000


def make_repo(where: Path, experiments: int, runs: int) -> Path:
    repo = make_site_repo(where)
    recordings = 0
    for e in range(experiments):
        name = f"exp-{e:04d}"
        sweep = (0.0, 5.0, 10.0, 15.0, 20.0)
        add_experiment(repo, name, title=f"Experiment {e} link budget", sweep=sweep)
        for r in range(runs):
            gain = sweep[r % len(sweep)]
            recording = tone(samples=1 << 16) if recordings < RECORDINGS and r == 0 else None
            recordings += recording is not None
            run_id = f"20260101T{e // 60 % 24:02d}{e % 60:02d}{r:02d}Z-{e:04x}{r:04x}"
            add_run(
                repo,
                name,
                run_id,
                point={"gain": gain},
                metrics={"snr_db": gain * 0.9 + r * 0.01, "ber": 1e-3 / (gain + 1)},
                stdout=f"run {run_id}: wrote greeting.txt\n",  # each run's own log
                recording=recording,
            )
    return repo


def make_baseline(where: Path, pages: int) -> Path:
    """A plain mkdocs-material project: ``pages`` pages of about a run table each."""
    project = where / "baseline"
    docs = project / "docs"
    docs.mkdir(parents=True)
    (docs / "index.md").write_text("# Baseline\n")
    nav = ["  - Home: index.md"]
    rows = "\n".join(f"| run-{r} | succeeded | {r * 0.9:.2f} |" for r in range(10))
    for i in range(pages):
        text = f"# Experiment {i}\n\nA page.\n\n| run | status | snr |\n|---|---|---|\n{rows}\n"
        (docs / f"page-{i:04d}.md").write_text(text)
        nav.append(f"  - Experiment {i}: page-{i:04d}.md")
    (project / "mkdocs.yml").write_text(
        "site_name: baseline\ntheme:\n  name: material\n  font: false\n"
        "plugins:\n  - search\nnav:\n" + "\n".join(nav) + "\n"
    )
    return project


def build(project: Path) -> float:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--quiet", "--strict"],
        cwd=project,
        env=env,
        check=True,
        timeout=3600,
    )
    return time.perf_counter() - start


FULL_TARGET_S = 90.0  # 1,000 experiments x 10 runs
REBUILD_TARGET = 0.25  # of the full build


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiments", nargs="?", type=int, default=1000)
    parser.add_argument("runs", nargs="?", type=int, default=10)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    experiments, runs = args.experiments, args.runs
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        start = time.perf_counter()
        repo = make_repo(where, experiments, runs)
        made_s = time.perf_counter() - start
        baseline_s = None if args.no_baseline else build(make_baseline(where, BASELINE_PAGES))
        shutil.rmtree(repo / ".cache", ignore_errors=True)
        full_s = build(repo)
        add_run(repo, "exp-0000", "20991231T235959Z-ffffffff", point={"gain": 0.0})
        rebuild_s = build(repo)
        pages = len(list((repo / "public" / "experiments").glob("*/runs/*/index.html")))
    print(
        f"repository:                 {experiments} experiments x {runs} runs "
        f"({RECORDINGS} recordings), generated in {made_s:.1f} s"
    )
    print(f"run pages built:            {pages}")
    if baseline_s is not None:
        print(f"baseline (material, {BASELINE_PAGES} pages in nav): {baseline_s:.1f} s")
    print(f"full build (empty cache):   {full_s:.1f} s")
    if baseline_s is not None:
        print(f"ratio full/baseline:        {full_s / baseline_s:.2f}")
    print(f"rebuild after one new run:  {rebuild_s:.1f} s")
    print(f"ratio rebuild/full:         {rebuild_s / full_s:.2f}")
    if (experiments, runs) != (1000, 10):
        return 0  # the targets are for the default size
    met = full_s <= FULL_TARGET_S and rebuild_s <= REBUILD_TARGET * full_s
    print(
        f"targets (full <= {FULL_TARGET_S:.0f} s, rebuild <= {REBUILD_TARGET:.0%} of full): "
        + ("met" if met else "MISSED")
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
