"""Example repositories for the site: scenarios and runs with real, schema-valid manifests."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from tests.testing.repos import EXAMPLES, PROJECT, copy_from_project

SCENARIO = """\
name: {name}
title: {title}
description: An experiment of the site's tests.
tags: [{tags}]
duration: 30s
parameters:
  greeting:
    type: string
    default: hello
  gain:
    type: number
    default: 10
    unit: dB
{matrix}roles:
  hello:
    image: images/hello
outputs:
  - path: greeting.txt
metrics: metrics.json
"""


def make_site_repo(where: Path) -> Path:
    """A repository laid out like this one (mkdocs.yml, site/, images/hello), no experiments."""
    repo = where / "siterepo"
    (repo / "experiments").mkdir(parents=True)
    copy_from_project("images/hello", repo / "images" / "hello")
    copy_from_project("site", repo / "site")
    shutil.copy(PROJECT / "mkdocs.yml", repo / "mkdocs.yml")
    return repo


def add_experiment(
    repo: Path,
    name: str,
    *,
    title: str,
    tags: tuple[str, ...] = ("example",),
    sweep: tuple[float, ...] = (),
    readme: str | None = None,
    tolerances: Mapping[str, str] | None = None,
) -> Path:
    """experiments/<name>/ with a valid scenario (sweeping ``gain`` when ``sweep`` is given).

    ``tolerances``: metric name -> its ``reproduce.metrics`` entry as YAML flow text.
    """
    folder = repo / "experiments" / name
    folder.mkdir(parents=True)
    matrix = f"matrix:\n  gain: [{', '.join(map(str, sweep))}]\n" if sweep else ""
    text = SCENARIO.format(name=name, title=json.dumps(title), tags=", ".join(tags), matrix=matrix)
    if tolerances:
        text += "reproduce:\n  metrics:\n" + "".join(
            f"    {metric}: {entry}\n" for metric, entry in tolerances.items()
        )
    (folder / "experiment.yaml").write_text(text, encoding="utf-8")
    if readme is not None:
        (folder / "README.md").write_text(readme, encoding="utf-8")
    return folder


def tone(*, samples: int = 8192, rate: float = 1e6, frequency: float = 125e3) -> np.ndarray:
    """A complex tone at ``frequency`` Hz sampled at ``rate``, with a little noise."""
    t = np.arange(samples) / rate
    noise = np.random.default_rng(7).normal(scale=0.01, size=(2, samples))
    signal: np.ndarray = np.exp(2j * np.pi * frequency * t) + noise[0] + 1j * noise[1]
    return signal


def add_run(
    repo: Path,
    name: str,
    run_id: str,
    *,
    title: str | None = None,
    point: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
    status: str = "succeeded",
    stdout: str = "wrote greeting.txt\n",
    recording: np.ndarray | None = None,
    sample_rate: float = 1e6,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """experiments/<name>/runs/<run_id>/ with its manifest, logs and inline outputs."""
    run_dir = repo / "experiments" / name / "runs" / run_id
    run_dir.mkdir(parents=True)
    scenario = repo / "experiments" / name / "experiment.yaml"
    manifest = copy.deepcopy(_template())
    day, clock = run_id[:8], run_id[9:15]
    moment = f"{day[:4]}-{day[4:6]}-{day[6:]}T{clock[:2]}:{clock[2:4]}:{clock[4:]}Z"
    manifest["run_id"] = run_id
    manifest["experiment"].update(
        name=name,
        title=title or name,
        scenario_path=f"experiments/{name}/experiment.yaml",
        scenario_sha256=hashlib.sha256(scenario.read_bytes()).hexdigest(),
        matrix_point=dict(point or {}),
    )
    manifest["parameters"] = {"greeting": "hello", "gain": 10, **(point or {})}
    manifest["metrics"] = dict(metrics if metrics is not None else {"lines": 3})
    manifest["outcome"]["status"] = status
    manifest["timing"].update(queued=moment, started=moment, finished=moment, duration_s=1.5)
    manifest["trigger"]["pull_request_title"] = None
    manifest["reproduce"]["command"] = f"radiops run experiments/{name}"
    outputs = [_inline(run_dir, "greeting.txt", b"hello\nhello\nhello\n", "text/plain")]
    if recording is not None:
        data = np.asarray(recording, dtype=np.complex64).tobytes()
        document = meta if meta is not None else {"global": {"core:datatype": "cf32_le"}}
        entry = _inline(run_dir, "rx.sigmf-data", data, "application/octet-stream")
        entry["sigmf"] = {
            "sample_rate": sample_rate,
            "center_frequency": 2.45e9,
            "datatype": "cf32_le",
            "num_samples": len(recording),
            "meta_path": "rx.sigmf-meta",
        }
        meta_bytes = json.dumps(document).encode()
        outputs += [entry, _inline(run_dir, "rx.sigmf-meta", meta_bytes, "application/json")]
    manifest["outputs"] = outputs
    manifest["logs"] = [_log(run_dir, "stdout", stdout), _log(run_dir, "stderr", "")]
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return run_dir


def add_store_output(
    repo: Path, run_dir: Path, name: str, data: bytes, *, store: Path | None = None
) -> Path:
    """An output of the run at ``run_dir`` kept in the artifact store; the object's path.

    The manifest gets an entry ``cas://sha256/<hex>`` for ``data``, and the
    store (default the repository's ``.radiops/artifacts``) the object.
    """
    digest = hashlib.sha256(data).hexdigest()
    obj = (store or repo / ".radiops" / "artifacts") / "sha256" / digest[:2] / digest
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_bytes(data)
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    manifest["outputs"].append(
        {
            "path": name,
            "role": "hello",
            "index": 0,
            "size": len(data),
            "sha256": digest,
            "media_type": "application/octet-stream",
            "storage": {"kind": "store", "location": f"cas://sha256/{digest}"},
            "sigmf": None,
        }
    )
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return obj


def set_output_sha256(run_dir: Path, name: str, data: bytes) -> None:
    """The manifest of ``run_dir`` now says that its output ``name`` holds ``data``."""
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    (entry,) = [o for o in manifest["outputs"] if o["path"] == name]
    entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


@cache
def _template() -> dict[str, Any]:
    path = EXAMPLES / "manifest" / "valid" / "simulated-hello.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _inline(run_dir: Path, name: str, data: bytes, media_type: str) -> dict[str, Any]:
    location = f"outputs/hello/0/{name}"
    (run_dir / location).parent.mkdir(parents=True, exist_ok=True)
    (run_dir / location).write_bytes(data)
    return {
        "path": name,
        "role": "hello",
        "index": 0,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "media_type": media_type,
        "storage": {"kind": "inline", "location": location},
        "sigmf": None,
    }


def _log(run_dir: Path, stream: str, text: str) -> dict[str, Any]:
    path = f"logs/hello/0/{stream}.log"
    (run_dir / path).parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    (run_dir / path).write_bytes(data)
    return {
        "role": "hello",
        "index": 0,
        "stream": stream,
        "path": path,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "truncated": False,
        "tail": text[-4000:],
    }


def build_site(repo: Path) -> tuple[Path, str]:
    """``radiops site build`` in ``repo``: the built site and what the command printed."""
    result = subprocess.run(
        [sys.executable, "-m", "runner", "site", "build"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr
    return repo / "public", result.stdout + result.stderr


HOSTILE = "<script>window.__pwned = 1</script>"
LINK_TITLE = "Two-node link budget"


def make_example_site_repo(where: Path) -> Path:
    """The site tests' repository: a recording, a sweep, hostile text, broken manifests."""
    repo = make_site_repo(where)
    add_experiment(
        repo, "link", title=LINK_TITLE, tags=("link", "sigmf"), readme="# Link\n\nA *tone*.\n"
    )
    add_run(repo, "link", "20261122T101502Z-9f8e7d6c", title=LINK_TITLE, recording=tone())
    add_experiment(repo, "sweep", title="Gain sweep", sweep=(0, 10, 20))
    for i, gain in enumerate((0, 10, 20)):
        add_run(
            repo,
            "sweep",
            f"20261121T09000{i}Z-0000000{i}",
            point={"gain": gain},
            metrics={"snr_db": 3 + 0.8 * gain, "ber": 0.1 / (gain + 1)},
        )
    add_experiment(repo, "hostile", title=f"Hostile {HOSTILE}", readme=f"# Readme\n\n{HOSTILE}\n")
    add_run(
        repo,
        "hostile",
        "20261120T080000Z-0000abcd",
        title=f"Hostile {HOSTILE}",
        stdout=f"printed {HOSTILE.replace('1', '2')}\n",
    )
    return repo


def break_manifests(repo: Path) -> None:
    """experiments/broken: one manifest that is not JSON, one the schema refuses."""
    add_experiment(repo, "broken", title="Broken manifests")
    bad_json = add_run(repo, "broken", "20261119T070000Z-00000001")
    (bad_json / "manifest.json").write_text('{"run_id": ', encoding="utf-8")
    bad_schema = add_run(repo, "broken", "20261119T070000Z-00000002")
    data = json.loads((bad_schema / "manifest.json").read_text(encoding="utf-8"))
    data["outcome"]["status"] = "exploded"
    (bad_schema / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
