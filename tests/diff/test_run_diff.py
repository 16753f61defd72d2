"""``radiops diff``'s judgement on hand-written manifests (runner/run_diff.py), and the
command on run folders of a real git repository: naming runs, hostile manifests, the
inventories in the artifact store, recordings compared by their PSD. No engine here:
tests/diff/test_diff_runs.py makes real runs."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from runner.engine.artifacts import ArtifactStore
from runner.model.experiment import OutputComparison, Tolerance
from runner.model.run_diff import diff_runs
from runner.model.run_diff_records import CodeChanges, RunDiff, RunSide, Yardstick
from runner.model.run_diff_render import render_text, to_json
from runner.model.sbom import Inventory, Package, canonical_bytes, cyclonedx, read_inventory
from tests.testing.repos import EXAMPLES, commit_all, git, radiops_in_process

BASE = json.loads((EXAMPLES / "manifest/valid/usrp-tx-rx-sigmf.json").read_text())
RUN_A = "20261122T101502Z-9f8e7d6c"
RUN_B = "20261122T111502Z-0a0b0c0d"
NO_CODE = CodeChanges()


def manifest(change: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = copy.deepcopy(BASE)
    if change is not None:
        change(found)
    return found


def judged(
    a: dict[str, Any],
    b: dict[str, Any],
    *,
    yardstick: Yardstick = Yardstick(),  # noqa: B008 - frozen
    **sides: Any,
) -> RunDiff:
    return diff_runs(
        RunSide(label="a", manifest=a, inventories=sides.get("inv_a", {})),
        RunSide(label="b", manifest=b, inventories=sides.get("inv_b", {})),
        code=sides.get("code", NO_CODE),
        yardstick=yardstick,
        psd_distance=sides.get("psd"),
    )


def section(diff: RunDiff, name: str) -> list[tuple[str, Any, Any, str, str]]:
    (found,) = [s for s in diff.sections if s.name == name]
    return [(i.key, i.a, i.b, i.change, i.detail) for i in found.items]


def test_the_same_run_is_the_same_everywhere() -> None:
    found = judged(manifest(), manifest())
    assert found.same
    text = render_text(found)
    for name in ("code", "parameters", "images", "nodes", "outcome", "metrics", "outputs"):
        assert f"\n{name:<10}  same\n" in text
    assert to_json(found)["same"] is True


def test_metrics_within_and_beyond_the_tolerance() -> None:
    def moved(m: dict[str, Any]) -> None:
        m["metrics"].update(ber=0.00013, snr_db=19.0, packets=1200, lost=3)

    yardstick = Yardstick(
        metrics={"ber": Tolerance(relative=0.1), "snr_db": Tolerance(absolute=0.5)},
        source="experiments/tx-rx-link/experiment.yaml",
    )
    found = judged(manifest(), manifest(moved), yardstick=yardstick)
    rows = {key: (change, detail) for key, _, _, change, detail in section(found, "metrics")}
    assert rows["ber"][0] == "within" and "within tolerance ±1.2e-05" in rows["ber"][1]
    assert rows["snr_db"][0] == "beyond" and "+1.6, beyond tolerance ±0.5" in rows["snr_db"][1]
    assert rows["lost"] == ("added", "")
    assert "packets" not in rows  # equal
    text = render_text(found)
    assert "metrics     ber" in text and "beyond tolerance" in text


def test_a_metric_without_a_tolerance_is_said_to_differ() -> None:
    found = judged(manifest(), manifest(lambda m: m["metrics"].update(packets=1100)))
    (metrics,) = [s for s in found.sections if s.name == "metrics"]
    assert [(i.key, i.change) for i in metrics.items] == [("packets", "changed")]
    assert "only said to differ" in metrics.notes[0]


def test_parameters_matrix_point_and_seeds() -> None:
    def other(m: dict[str, Any]) -> None:
        m["parameters"].update(tx_gain=40, waveform="bpsk")
        del m["parameters"]["capture"]
        m["experiment"]["matrix_point"]["tx_gain"] = 40
        m["seeds"]["payload"] = 8

    rows = section(judged(manifest(), manifest(other)), "parameters")
    assert [(k, a, b, c) for k, a, b, c, _ in rows] == [
        ("matrix tx_gain", 30, 40, "changed"),
        ("capture", True, None, "removed"),
        ("tx_gain", 30, 40, "changed"),
        ("waveform", "qpsk", "bpsk", "changed"),
        ("seed payload", 7, 8, "changed"),
    ]


def test_radios_nodes_and_outcome() -> None:
    def moved(m: dict[str, Any]) -> None:
        rx = m["placements"][1]
        rx["node"] = "node3"
        rx["radio"].update(serial="3141593", fpga_version="39.3", uhd_version="4.7.0.0")
        m["placements"][0]["radio"]["simulated"] = True
        m["outcome"].update(status="failed", reason="rx#0 exited with code 1")
        m["outcome"]["exit_codes"]["rx#0"] = 1

    found = judged(manifest(), manifest(moved))
    nodes = {key: (a, b) for key, a, b, _, _ in section(found, "nodes")}
    assert nodes == {
        "rx#0 node": ("node2", "node3"),
        "rx#0 radio fpga_version": ("39.2", "39.3"),
        "rx#0 radio serial": ("3141592", "3141593"),
        "rx#0 radio uhd_version": ("4.6.0.0-0ubuntu1~jammy1", "4.7.0.0"),
        "tx#0 radio simulated": (False, True),
    }
    outcome = {key: (a, b) for key, a, b, _, _ in section(found, "outcome")}
    assert outcome["status"] == ("succeeded", "failed")
    assert outcome["exit code rx#0"] == (0, 1)
    assert "reason" in outcome


def test_images_name_the_packages_added_removed_and_changed() -> None:
    def rebuilt(m: dict[str, Any]) -> None:
        m["images"][1]["image_id"] = "sha256:" + "9" * 64
        m["images"][1]["digest"] = "sha256:" + "8" * 64

    old_id, new_id = BASE["images"][1]["image_id"], "sha256:" + "9" * 64
    libc = Package(ecosystem="deb", name="libc6", version="2.36-9", arch="amd64")
    gone = Package(ecosystem="pypi", name="scipy", version="1.10.1")
    new_libc = Package(ecosystem="deb", name="libc6", version="2.36-10", arch="amd64")
    tiny = Package(ecosystem="deb", name="tiny", version="1.0", arch="all")

    def stored(image_id: str, *packages: Package) -> Any:
        inventory = Inventory(image_id=image_id, packages=packages)
        return read_inventory(canonical_bytes(cyclonedx(inventory, tool_version="0")))

    same_tx = stored(BASE["images"][0]["image_id"])
    found = judged(
        manifest(),
        manifest(rebuilt),
        inv_a={old_id: stored(old_id, libc, gone), BASE["images"][0]["image_id"]: same_tx},
        inv_b={new_id: stored(new_id, new_libc, tiny)},
    )
    rows = [(k, a, b, c) for k, a, b, c, _ in section(found, "images")]
    assert rows == [
        ("rx digest", BASE["images"][1]["digest"], "sha256:" + "8" * 64, "changed"),
        ("rx image ID", old_id, new_id, "changed"),
        ("rx deb libc6 (amd64)", "2.36-9", "2.36-10", "changed"),
        ("rx deb tiny (all)", None, "1.0", "added"),
        ("rx pypi scipy", "1.10.1", None, "removed"),
    ]
    text = render_text(found)
    assert "rx deb tiny (all)" in text and "(none) -> 1.0" in text
    missing = judged(manifest(), manifest(rebuilt), inv_a={}, inv_b={new_id: "not in the store"})
    (images,) = [s for s in missing.sections if s.name == "images"]
    assert images.notes == (
        "rx: packages not compared (A: run A's manifest names no inventory for it; "
        "B: not in the store)",
    )


def test_images_name_the_uhd_and_gnuradio_versions_of_their_inventories() -> None:
    entry = {"sha256": "0" * 64, "format": "CycloneDX 1.5", "packages": 9}

    def inventoried(uhd: str | None, gnuradio: str | None, image_id: str) -> Any:
        def change(m: dict[str, Any]) -> None:
            m["images"][0]["image_id"] = image_id
            versions = {"uhd_version": uhd, "gnuradio_version": gnuradio}
            m["images"][0]["inventory"] = entry | {k: v for k, v in versions.items() if v}

        return manifest(change)

    a = inventoried("4.3.0.0+ds1-5", None, "sha256:" + "1" * 64)
    b = inventoried("4.6.0.0-1", "3.10.9.2-1", "sha256:" + "2" * 64)
    rows = {key: (va, vb) for key, va, vb, _, _ in section(judged(a, b), "images")}
    assert rows["tx UHD"] == ("4.3.0.0+ds1-5", "4.6.0.0-1")
    assert rows["tx GNU Radio"] == (None, "3.10.9.2-1")
    # without an inventory on one side, nothing is said of versions it would have named
    del b["images"][0]["inventory"]
    rows = {key: (va, vb) for key, va, vb, _, _ in section(judged(a, b), "images")}
    assert "tx UHD" not in rows


def test_code_lists_the_changed_files_or_says_why_not() -> None:
    other = manifest(lambda m: m["code"].update(commit="b" * 40))
    changes = CodeChanges(files=(("modified", "images/radio/Dockerfile"),), more=3)
    found = judged(manifest(), other, code=changes)
    (code,) = [s for s in found.sections if s.name == "code"]
    assert [(i.key, i.change) for i in code.items] == [
        ("commit", "changed"),
        ("file images/radio/Dockerfile", "modified"),
    ]
    assert code.notes == ("and 3 more changed file(s)",)
    assert "file images/radio/Dockerfile  modified" in render_text(found)


def test_outputs_by_sha256_and_recordings_by_psd_distance() -> None:
    def changed(m: dict[str, Any]) -> None:
        m["outputs"][0]["sha256"] = "1" * 64
        m["outputs"][2]["sha256"] = "2" * 64
        m["outputs"].append({**m["outputs"][2], "path": "extra.txt"})

    yardstick = Yardstick(
        outputs={"captures/*.sigmf-data": OutputComparison(compare="psd-distance", tolerance=0.5)}
    )
    found = judged(manifest(), manifest(changed), yardstick=yardstick, psd=lambda a, b: 2.25)
    rows = {key: (change, detail) for key, _, _, change, detail in section(found, "outputs")}
    assert rows == {
        "rx-0/captures/rx.sigmf-data": ("beyond", "PSD distance 2.250 dB, beyond tolerance 0.5 dB"),
        "rx-0/metrics.json": ("changed", ""),
        "rx-0/extra.txt": ("added", ""),
    }
    close = judged(manifest(), manifest(changed), yardstick=yardstick, psd=lambda a, b: 0.1)
    changes = {key: change for key, _, _, change, _ in section(close, "outputs")}
    assert changes["rx-0/captures/rx.sigmf-data"] == "within"


def test_text_from_manifests_cannot_drive_the_terminal() -> None:
    def hostile(m: dict[str, Any]) -> None:
        m["parameters"]["waveform"] = "qpsk\n\x1b[2Jforged line"

    text = render_text(judged(manifest(), manifest(hostile)))
    assert "\x1b" not in text and "forged line" in text
    assert all(not line.startswith("forged") for line in text.splitlines())


# -- the command, on run folders of a real repository -----------------------------------


def tone(frequency: float, *, noise: float = 0.0, seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    n = 1 << 16
    samples = np.exp(2j * np.pi * frequency * np.arange(n)) + noise * (
        rng.standard_normal(n) + 1j * rng.standard_normal(n)
    )
    data: bytes = samples.astype("<c8").tobytes()
    return data


def write_run(repo: Path, run_id: str, m: dict[str, Any], recording: bytes) -> Path:
    folder = repo / "experiments" / "tx-rx-link" / "runs" / run_id
    (folder / "outputs/rx/0/captures").mkdir(parents=True)
    m["run_id"] = run_id
    m["outputs"][0]["storage"] = {
        "kind": "inline",
        "location": "outputs/rx/0/captures/rx.sigmf-data",
    }
    m["outputs"][0]["sha256"] = hashlib.sha256(recording).hexdigest()
    (folder / "outputs/rx/0/captures/rx.sigmf-data").write_bytes(recording)
    (folder / "manifest.json").write_text(json.dumps(m, indent=2))
    return folder


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "experiments").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    write_run(repo, RUN_A, manifest(), tone(0.1, noise=0.01))
    return repo


def test_the_command_names_runs_three_ways_and_prints_json(runs: Path) -> None:
    write_run(
        runs, RUN_B, manifest(lambda m: m["metrics"].update(ber=0.5)), tone(0.1, noise=0.01, seed=2)
    )
    for a, b in (
        (RUN_A, RUN_B),
        (f"tx-rx-link/{RUN_A}", f"tx-rx-link/{RUN_B}"),
        (
            f"experiments/tx-rx-link/runs/{RUN_A}",
            f"experiments/tx-rx-link/runs/{RUN_B}/manifest.json",
        ),
    ):
        code, out, err = radiops_in_process(runs, "diff", a, b)
        assert code == 0, err
        assert "metrics     ber" in out
    code, out, err = radiops_in_process(runs / "experiments", "diff", "--json", RUN_A, RUN_B)
    assert code == 0, err
    data = json.loads(out)
    assert data["format"] == "radiops-diff/1" and data["a"]["run_id"] == RUN_A
    assert [s["section"] for s in data["sections"]] == [
        "code",
        "parameters",
        "images",
        "nodes",
        "outcome",
        "metrics",
        "outputs",
    ]
    outputs = data["sections"][-1]["items"]
    assert outputs[0]["key"] == "rx-0/captures/rx.sigmf-data"
    assert (
        outputs[0]["detail"].startswith("PSD distance ")
        and float(outputs[0]["detail"].split()[2]) < 0.5
    )


def test_a_moved_tone_is_far_by_psd(runs: Path) -> None:
    write_run(runs, RUN_B, manifest(), tone(0.3, noise=0.01))
    code, out, err = radiops_in_process(runs, "diff", "--json", RUN_A, RUN_B)
    assert code == 0, err
    (item,) = json.loads(out)["sections"][-1]["items"]
    assert float(item["detail"].split()[2]) > 10


def test_inventories_come_from_the_artifact_store(runs: Path) -> None:
    store = ArtifactStore(runs / ".radiops" / "artifacts")
    rx_old, rx_new = BASE["images"][1]["image_id"], "sha256:" + "9" * 64
    old = canonical_bytes(cyclonedx(Inventory(image_id=rx_old, packages=()), tool_version="0"))
    tiny = Package(ecosystem="deb", name="tiny", version="1.0", arch="all")
    new = canonical_bytes(cyclonedx(Inventory(image_id=rx_new, packages=(tiny,)), tool_version="0"))
    digests = [store.put([data])[0] for data in (old, new)]

    def with_inventory(m: dict[str, Any], image_id: str, digest: str) -> None:
        m["images"][1].update(
            image_id=image_id,
            inventory={"sha256": digest, "format": "CycloneDX 1.5", "packages": 0},
        )

    folder_a = runs / "experiments/tx-rx-link/runs" / RUN_A
    m = json.loads((folder_a / "manifest.json").read_text())
    with_inventory(m, rx_old, digests[0])
    (folder_a / "manifest.json").write_text(json.dumps(m))
    write_run(runs, RUN_B, manifest(lambda m: with_inventory(m, rx_new, digests[1])), tone(0.1))
    code, out, err = radiops_in_process(runs, "diff", RUN_A, RUN_B)
    assert code == 0, err
    assert "rx deb tiny (all)" in out and "(none) -> 1.0" in out
    # an altered document is not believed
    path = store.path(digests[1])
    path.chmod(0o644)
    path.write_bytes(new.replace(b"tiny", b"tinz"))
    code, out, err = radiops_in_process(runs, "diff", RUN_A, RUN_B)
    assert code == 0 and "tiny" not in out and "was altered" in out


def test_changed_files_come_from_git(runs: Path) -> None:
    (runs / "experiments/tx-rx-link/experiment.yaml").write_text("a: 1\n")
    (runs / "images/radio").mkdir(parents=True)
    (runs / "images/radio/Dockerfile").write_text("FROM scratch\n")
    (runs / "elsewhere.txt").write_text("x\n")
    first = commit_all(runs, "first")
    (runs / "images/radio/Dockerfile").write_text("FROM debian\n")
    (runs / "elsewhere.txt").write_text("y\n")
    second = commit_all(runs, "second")
    folder_a = runs / "experiments/tx-rx-link/runs" / RUN_A
    m = json.loads((folder_a / "manifest.json").read_text())
    m["code"]["commit"] = first
    (folder_a / "manifest.json").write_text(json.dumps(m))
    write_run(runs, RUN_B, manifest(lambda m: m["code"].update(commit=second)), tone(0.1))
    code, out, err = radiops_in_process(runs, "diff", "--json", RUN_A, RUN_B)
    assert code == 0, err
    items = json.loads(out)["sections"][0]["items"]
    assert [(i["key"], i["change"]) for i in items] == [
        ("commit", "changed"),
        ("file images/radio/Dockerfile", "modified"),
    ]  # not elsewhere.txt, not the run folders
    write_run(
        runs,
        "20261122T121502Z-0a0b0c0e",
        manifest(lambda m: m["code"].update(commit="c" * 40)),
        tone(0.1),
    )
    code, out, err = radiops_in_process(runs, "diff", RUN_A, "20261122T121502Z-0a0b0c0e")
    assert code == 0, err
    assert "note: run B's commit cccccccccccc is not in this repository" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json at all", "not JSON"),
        (b"[" * 200_000, "not JSON"),
        (b'{"run_id": 3}', "does not match the manifest schema"),
        (b"[1, 2]", "a JSON object is expected"),
        (b" " * (16 << 20) + b"{}", "too large for a manifest"),
    ],
)
def test_hostile_manifests_are_refused_with_exit_2(
    runs: Path, content: bytes, message: str
) -> None:
    folder = runs / "experiments/tx-rx-link/runs" / RUN_B
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_bytes(content)
    code, out, err = radiops_in_process(runs, "diff", RUN_A, RUN_B)
    assert code == 2, out + err
    assert message in err and "Traceback" not in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (f"../{RUN_A}", "not a run"),
        (f"tx-rx-link/../../{RUN_A}", "not a run"),
        ("20261122T000000Z-00000000", "no experiment has this run"),
        ("tx-rx-link/20261122T000000Z-00000000", "has no run"),
        ("/etc", "outside the repository"),
        ("hello\x1b[2J", "not a run"),
    ],
)
def test_runs_that_are_not_there_are_refused_with_exit_2(
    runs: Path, name: str, message: str
) -> None:
    code, out, err = radiops_in_process(runs, "diff", RUN_A, name)
    assert code == 2, out + err
    assert message in err and "\x1b" not in err


def test_a_manifest_that_is_a_folder_is_refused(runs: Path) -> None:
    (runs / "experiments/tx-rx-link/runs" / RUN_B / "manifest.json").mkdir(parents=True)
    code, _, err = radiops_in_process(runs, "diff", RUN_A, RUN_B)
    assert code == 2 and "cannot be read" in err


def test_a_linked_manifest_is_not_followed(runs: Path, tmp_path: Path) -> None:
    folder = runs / "experiments/tx-rx-link/runs" / RUN_B
    folder.mkdir(parents=True)
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps(manifest()))
    (folder / "manifest.json").symlink_to(secret)
    code, _, err = radiops_in_process(runs, "diff", RUN_A, RUN_B)
    assert code == 2 and "is it a link?" in err
