"""radiops validate on many scenarios, against the least any validator must do.

Baseline: yaml.safe_load + jsonschema validation of each scenario (no
positions, no duplicate-key check, no cross-file checks). radiops: the whole
``validate`` command on the same repository. Prints both and the ratio.

Usage: .venv/bin/python bench/validate_scale.py [EXPERIMENTS]   (default 1000)
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import jsonschema
import yaml

from runner.model.schemas import load_schema
from runner.pipeline.validation import validate

ROOT = Path(__file__).resolve().parent.parent


def make_repo(where: Path, count: int) -> Path:
    repo = where / "repo"
    (repo / "experiments").mkdir(parents=True)
    shutil.copytree(ROOT / "images", repo / "images")
    text = (ROOT / "experiments" / "hello" / "experiment.yaml").read_text()
    for i in range(count):
        name = f"exp-{i:05d}"
        folder = repo / "experiments" / name
        folder.mkdir()
        (folder / "experiment.yaml").write_text(text.replace("name: hello", f"name: {name}"))
    return repo


def baseline(repo: Path) -> int:
    validator = jsonschema.Draft202012Validator(load_schema("experiment"))
    count = 0
    for scenario in sorted(repo.glob("experiments/*/experiment.yaml")):
        validator.validate(yaml.safe_load(scenario.read_text()))
        count += 1
    return count


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp), count)
        start = time.perf_counter()
        checked = baseline(repo)
        base_s = time.perf_counter() - start
        start = time.perf_counter()
        summary = validate([], cwd=repo)
        ours_s = time.perf_counter() - start
    assert checked == summary.experiments == count
    print(f"scenarios:                  {count}")
    print(f"baseline (safe_load+schema): {base_s:.2f} s  ({1000 * base_s / count:.2f} ms each)")
    print(f"radiops validate:            {ours_s:.2f} s  ({1000 * ours_s / count:.2f} ms each)")
    print(f"ratio radiops/baseline:      {ours_s / base_s:.2f}")


if __name__ == "__main__":
    main()
