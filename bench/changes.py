"""Which experiments a change touches, in a repository of many experiments.

One commit (made with ``git fast-import``) holds EXPERIMENTS experiments, 50
images, 100 input files and a 20-node testbed.yaml; every scenario uses one
image, every fourth declares an input, every tenth is pinned to a node. A
second commit edits one image's Dockerfile, three scenarios and one input;
another, on its own branch, edits one README.

Baseline: ``git diff --name-only base...head`` in a subprocess, then the same
mapping in Python on the name list: every scenario read from the checked-out
work tree, bytes-searched for the changed image and input, the candidates
parsed with libyaml's safe loader. radiops: ``changed_experiments`` (pygit2
tree diff, scenario blobs read from the head commit, candidates parsed with
position-keeping yamldoc). Both are timed best of ROUNDS; the first radiops
call is shown too. Both must find the same experiments. Target: radiops
under 1 s.

Usage: .venv/bin/python bench/changes.py [EXPERIMENTS] [ROUNDS]   (default 10000, 5)
"""

from __future__ import annotations

import posixpath
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runner.gitops.changes import changed_experiments  # noqa: E402

IMAGES = 50
INPUTS = 100
NODES = 20
EDITED_IMAGE = "images/img-07"
EDITED_INPUT = "data/input-040.csv"  # declared by every experiment i with i % 100 == 40
TARGET_S = 1.0


def scenario(i: int) -> str:
    text = (
        f"# yaml-language-server: $schema=../../schemas/experiment.schema.json\n"
        f"name: exp-{i:05d}\n"
        f"title: Generated experiment {i}\n"
        "description: >-\n"
        "  A generated experiment: one role on one node, a few parameters swept\n"
        "  over a small matrix, one output file.\n"
        "authors:\n  - name: bench\n"
        "tags: [generated]\n"
        "duration: 30s\n"
        "parameters:\n"
        "  gain:\n    type: number\n    default: 10\n    minimum: 0\n    maximum: 60\n"
        "  rate:\n    type: number\n    default: 1e6\n"
        "matrix:\n  gain: [0, 10, 20]\n"
        "roles:\n"
        "  main:\n"
        f"    image: images/img-{i % IMAGES:02d}\n"
        '    command: [sh, -c, "run --gain $GAIN --rate $RATE"]\n'
        "    resources: {cpus: 0.5, memory: 64M}\n"
    )
    if i % 10 == 0:
        text += f"    node: node-{i % NODES:02d}\n"
    if i % 4 == 0:
        text += f"inputs:\n  - data/input-{i % INPUTS:03d}.csv\n"
    return text + "outputs:\n  - path: result.txt\n"


def testbed() -> str:
    return "nodes:\n" + "".join(
        f"  node-{n:02d}:\n    engine: unix:///run/node-{n:02d}.sock\n    tags: [lab]\n"
        for n in range(NODES)
    )


def fast_import(repo: Path, count: int) -> None:
    """Write the base commit (branch main) and the changes (branches change, readme)."""
    chunks: list[bytes] = []

    def put(path: str, text: str) -> None:
        data = text.encode()
        chunks.append(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))

    def commit(branch: str, message: str, parent: str | None) -> None:
        chunks.append(
            b"commit refs/heads/%s\ncommitter Bench <bench@example.org> 1700000000 +0000\n"
            b"data %d\n%s\n" % (branch.encode(), len(message), message.encode())
        )
        if parent is not None:
            chunks.append(b"from refs/heads/%s\n" % parent.encode())

    commit("main", "many experiments", None)
    put("testbed.yaml", testbed())
    for n in range(IMAGES):
        put(f"images/img-{n:02d}/Dockerfile", f"FROM debian:bookworm-slim\nLABEL n={n}\n")
        put(f"images/img-{n:02d}/run.sh", f"#!/bin/sh\necho {n}\n")
    for n in range(INPUTS):
        put(f"data/input-{n:03d}.csv", f"x,y\n{n},{n * n}\n")
    for i in range(count):
        put(f"experiments/exp-{i:05d}/experiment.yaml", scenario(i))
        put(f"experiments/exp-{i:05d}/README.md", f"# exp-{i:05d}\n\nGenerated.\n")
    commit("change", "one image, three scenarios, one input", "main")
    put(f"{EDITED_IMAGE}/Dockerfile", "FROM debian:trixie-slim\nLABEL n=7\n")
    put(EDITED_INPUT, "x,y\n40,1601\n")
    for i in (1, count // 2, count - 1):
        put(f"experiments/exp-{i:05d}/experiment.yaml", scenario(i) + "tags: [edited]\n")
    commit("readme", "one README", "main")
    put("experiments/exp-00002/README.md", "# exp-00002\n\nNow explained.\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(chunks), check=True)


def make_repo(where: Path, count: int) -> Path:
    repo = where / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    fast_import(repo, count)
    subprocess.run(["git", "checkout", "-q", "-f", "change"], cwd=repo, check=True)
    return repo


def baseline(repo: Path, base: str, head: str) -> set[str]:
    """git diff --name-only, then the same mapping in Python on the work tree."""
    names = subprocess.run(
        ["git", "diff", "--name-only", "--no-renames", f"{base}...{head}"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    found: set[str] = set()
    images: set[str] = set()
    files: set[str] = set()
    for path in names:
        parts = path.split("/")
        if (
            parts[0] == "experiments"
            and len(parts) > 2
            and not (parts[2] == "runs" and len(parts) > 3)
        ):
            if (repo / "experiments" / parts[1] / "experiment.yaml").is_file():
                found.add(parts[1])
        elif parts[0] == "images" and len(parts) > 1:
            images.add(f"images/{parts[1]}")
        files.add(path)
    needles = [image.encode() for image in images]
    inputs = [posixpath.basename(path).encode() for path in files]
    if not needles and not inputs:
        return found
    for folder in (repo / "experiments").iterdir():
        data = (folder / "experiment.yaml").read_bytes()
        if not any(n in data for n in needles) and not (
            b"inputs" in data and any(n in data for n in inputs)
        ):
            continue
        scenario = yaml.load(data, Loader=yaml.CSafeLoader)
        roles = scenario.get("roles", {}).values()
        uses = {posixpath.normpath(role.get("image", "")) for role in roles}
        declared = {posixpath.normpath(item) for item in scenario.get("inputs", [])}
        if uses & images or declared & files:
            found.add(folder.name)
    return found


def radiops(repo: Path, base: str, head: str) -> set[str]:
    return {change.experiment for change in changed_experiments(repo, base, head)}


def best(rounds: int, run: Callable[[], set[str]]) -> tuple[float, float, set[str]]:
    """(best, first) seconds over ``rounds`` calls, and the answer."""
    times = []
    answer: set[str] = set()
    for _ in range(rounds):
        start = time.perf_counter()
        answer = run()
        times.append(time.perf_counter() - start)
    return min(times), times[0], answer


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        repo = make_repo(Path(tmp), count)
        made_s = time.perf_counter() - start
        rows = []
        for label, base, head in (
            ("image + 3 scenarios + input", "main", "change"),
            ("one README edited", "main", "readme"),
        ):
            base_s, _, expected = best(rounds, partial(baseline, repo, base, head))
            ours_s, first_s, found = best(rounds, partial(radiops, repo, base, head))
            assert found == expected, (sorted(found ^ expected)[:10], len(found), len(expected))
            rows.append((label, len(found), base_s, ours_s, first_s))
    print(f"experiments: {count} (repository made in {made_s:.1f} s), best of {rounds}")
    for label, touched, base_s, ours_s, first_s in rows:
        print(f"\n{label}: {touched} experiments touched")
        print(f"  baseline (git diff --name-only + Python): {1000 * base_s:7.1f} ms")
        print(
            f"  radiops changed_experiments:              {1000 * ours_s:7.1f} ms "
            f"(first call {1000 * first_s:.1f} ms)"
        )
        print(f"  ratio radiops/baseline:                   {ours_s / base_s:7.2f}")
        verdict = "yes" if ours_s < TARGET_S else "NO"
        print(f"  radiops under {TARGET_S:.0f} s:                         {verdict:>7}")


if __name__ == "__main__":
    main()
