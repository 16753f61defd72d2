"""``radiops diff`` with a bundle (``radiops bundle``) on either side: the same diff as between
two runs of the repository, the repository's part (files changed between commits) left out
and said so; a hostile or damaged bundle refused with a clear message, never a traceback.

The bundles of the docker test are made by the real ``radiops bundle`` from real runs of
hello; the hostile ones are written here, member by member.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from runner.cli.commands.diff import BUNDLE_CODE_NOTE, BUNDLE_KEEPS, RECORDING_MAX_BYTES
from runner.reproduce.bundle_reader import unpack
from tests.testing.repos import PROJECT, commit_all, published, radio_repo, radiops
from tests.testing.testbed_fixtures import DockerCleanup

TINY = (
    "RUN printf 'Package: radiops-tiny\\nStatus: install ok installed\\nArchitecture: all\\n"
    "Version: 1.0-1\\nDescription: a package only the status database knows\\n\\n' "
    ">> /var/lib/dpkg/status\n"
)


def sections(out: str) -> dict[str, dict[str, Any]]:
    return {section["section"]: section for section in json.loads(out)["sections"]}


def same_diff(found: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]]) -> None:
    """``found`` (a bundle on a side) is ``expected`` (runs of the repository), but for git's
    part and where the tolerances were read: the bundle's scenario, at its commit."""
    for name in ("parameters", "images", "nodes", "outcome", "outputs"):
        assert found[name] == expected[name], name
    assert found["metrics"]["items"] == expected["metrics"]["items"]
    assert all("from bundle" in note for note in found["metrics"]["notes"])


def bundled(repo: Path, run_id: str, archive: Path) -> Path:
    made = radiops(repo, "bundle", run_id, "--output", str(archive))
    assert made.returncode == 0, made.stderr
    return archive


@pytest.mark.docker
def test_a_bundle_diffs_as_the_run_it_came_from(
    tmp_path: Path, docker_cleanup: DockerCleanup
) -> None:
    repo, first = published(tmp_path)
    bundle = bundled(repo, first, tmp_path / "first.tar")

    # the bundle against the run it came from: nothing differs, on either side
    for a, b in ((str(bundle), first), (first, str(bundle))):
        result = radiops(repo, "diff", a, b)
        assert result.returncode == 0, result.stderr
        assert f"hello/{first} (bundle first.tar)" in result.stdout
        for name in ("code", "parameters", "images", "nodes", "outcome", "metrics", "outputs"):
            assert f"{name:<11} same" in result.stdout, result.stdout
    result = radiops(repo, "diff", "--json", str(bundle), first)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["same"] is True
    assert data["a"]["run"] == f"hello/{first} (bundle first.tar)"
    assert data["a"]["run_id"] == data["b"]["run_id"] == first

    # a changed run: another parameter and one more package in its image, a new commit
    dockerfile = repo / "images/hello/Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("USER 65534", TINY + "USER 65534"))
    commit_all(repo, "hello: one more package")
    result = radiops(repo, "run", "experiments/hello", "--set", "repeat=5")
    assert result.returncode == 0, result.stdout + result.stderr
    second = result.stdout.split()[0]
    manifest = json.loads((repo / "experiments/hello/runs" / second / "manifest.json").read_text())
    docker_cleanup.image(manifest["images"][0]["ref"])
    commit_all(repo, f"results: hello {second}")

    in_repo = radiops(repo, "diff", "--json", first, second)
    from_bundle = radiops(repo, "diff", "--json", str(bundle), second)
    assert from_bundle.returncode == 0, from_bundle.stderr
    expected, found = sections(in_repo.stdout), sections(from_bundle.stdout)
    assert "file images/hello/Dockerfile" in {item["key"] for item in expected["code"]["items"]}
    same_diff(found, expected)

    result = radiops(repo, "diff", str(bundle), second)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "repeat" in out and "3 -> 5" in out
    assert "hello deb radiops-tiny (all)  (none) -> 1.0-1" in out
    assert "code        commit" in out and BUNDLE_CODE_NOTE in out
    assert "file images/hello/Dockerfile" not in out  # git's part: not for a bundle
    # the tolerances are the bundle's scenario's, at its commit
    assert "beyond tolerance ±0" in out

    # both sides bundles, away from any repository: the inventories come from the bundles
    other = bundled(repo, second, tmp_path / "second.tar")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = radiops(elsewhere, "diff", "--json", str(bundle), str(other))
    assert result.returncode == 0, result.stderr
    found = sections(result.stdout)
    assert {
        "key": "hello deb radiops-tiny (all)",
        "a": None,
        "b": "1.0-1",
        "change": "added",
        "detail": "",
    } in found["images"]["items"]
    assert found["images"]["notes"] == []  # both inventories were read
    assert found["code"]["notes"] == [BUNDLE_CODE_NOTE]
    assert {"key": "repeat", "a": 3, "b": 5, "change": "changed", "detail": ""} in found[
        "parameters"
    ]["items"]
    (lines,) = [item for item in found["metrics"]["items"] if item["key"] == "lines"]
    assert lines["change"] == "beyond"  # judged by the tolerance in the bundle's scenario
    text = radiops(elsewhere, "diff", str(bundle), str(other)).stdout
    assert "tolerance" in text and "no scenario was found" not in text


# -- hostile and damaged bundles (no docker) ------------------------------------------------


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE) -> tuple[Any, Any]:
    info = tarfile.TarInfo(name)
    info.type = kind
    if kind == tarfile.SYMTYPE:
        info.linkname = "/etc/passwd"
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, io.BytesIO(data) if kind == tarfile.REGTYPE else None


def archive(path: Path, *members: tuple[Any, Any], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as written:  # type: ignore[call-overload]
        for info, data in members:
            written.addfile(info, data)
    return path


def index() -> tuple[Any, Any]:
    return member("radiops-bundle.json", b'{"format": 1, "experiment": "hello"}')


def refused(tmp_path: Path, bundle: Path) -> str:
    """``radiops diff BUNDLE BUNDLE`` outside a repository: its message; it must refuse with
    exit 2 and no traceback, and leave no unpacked file behind."""
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    result = radiops(tmp_path, "diff", str(bundle), str(bundle), env={"TMPDIR": str(scratch)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert list(scratch.iterdir()) == []  # the unpacked part is removed
    return result.stderr


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        ("../escape.txt", tarfile.REGTYPE, "leaves the bundle"),
        ("run/../../escape.txt", tarfile.REGTYPE, "leaves the bundle"),
        ("/tmp/escape.txt", tarfile.REGTYPE, "leaves the bundle"),
        ("run/manifest.json", tarfile.SYMTYPE, "is a link or special file"),
        ("run/link", tarfile.LNKTYPE, "is a link or special file"),
    ],
)
def test_a_hostile_member_is_refused(tmp_path: Path, name: str, kind: bytes, message: str) -> None:
    bundle = archive(tmp_path / "hostile.tar", index(), member(name, b"x", kind))
    stderr = refused(tmp_path, bundle)
    assert message in stderr and str(bundle) in stderr
    assert not (tmp_path / "escape.txt").exists() and not Path("/tmp/escape.txt").exists()


def test_an_oversized_manifest_is_refused_unread(tmp_path: Path) -> None:
    manifest = b"{" + b" " * (17 << 20) + b"}"  # over the 16 MiB a manifest may have
    bundle = archive(
        tmp_path / "big.tar.gz", index(), member("run/manifest.json", manifest), mode="w:gz"
    )
    assert bundle.stat().st_size < 1 << 20
    stderr = refused(tmp_path, bundle)
    assert "run/manifest.json: over 16777216 bytes, too large for a manifest" in stderr


def test_a_decompression_bomb_is_refused_before_it_fills_the_disk(tmp_path: Path) -> None:
    bomb = member("store/sha256/00/zeros", bytes(200 << 20))  # 200 MiB that gzip makes small
    bundle = archive(tmp_path / "bomb.tar.gz", index(), bomb, mode="w:gz")
    assert bundle.stat().st_size < 1 << 20
    assert "more bytes than a bundle of its size may" in refused(tmp_path, bundle)


def test_damaged_and_wrong_bundles_say_what_to_do(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not an archive\n")
    assert "not a radiops bundle" in refused(tmp_path, text)
    assert "radiops bundle" in refused(tmp_path, text)

    no_index = archive(tmp_path / "plain.tar", member("run/manifest.json", b"{}"))
    assert "no readable radiops-bundle.json" in refused(tmp_path, no_index)

    no_run = archive(tmp_path / "empty.tar", index())
    assert "holds no run/manifest.json" in refused(tmp_path, no_run)

    not_a_manifest = archive(tmp_path / "odd.tar", index(), member("run/manifest.json", b"{}"))
    stderr = refused(tmp_path, not_a_manifest)
    assert "odd.tar: run/manifest.json: does not match the manifest schema" in stderr

    whole = archive(
        tmp_path / "whole.tar", index(), member("run/outputs.bin", os.urandom(64 << 10))
    )
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole.read_bytes()[: 20 << 10])  # the copy stopped half way
    assert "damaged or incomplete" in refused(tmp_path, cut)
    gz = tmp_path / "cut.tar.gz"
    gz.write_bytes(gzip.compress(whole.read_bytes())[: 40 << 10])
    assert "damaged or incomplete" in refused(tmp_path, gz)


def test_a_run_named_beside_a_bundle_still_needs_the_repository(tmp_path: Path) -> None:
    bundle = archive(tmp_path / "hostile.tar", index(), member("../escape.txt", b"x"))
    result = radiops(tmp_path, "diff", str(bundle), "hello/20261121T233100Z-1a2b3c4d")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["hostile.tar"]


@pytest.mark.docker
def test_recordings_in_bundles_are_compared_by_psd(tmp_path: Path) -> None:
    repo = radio_repo(tmp_path)
    runs = []
    for tone in ("100000", "150000"):
        result = radiops(repo, "run", "experiments/tone-link", "--set", f"tone_offset={tone}")
        assert result.returncode == 0, result.stdout + result.stderr
        runs.append(result.stdout.split()[0])
    commit_all(repo, "results: tone-link")
    in_repo = radiops(repo, "diff", "--json", *runs)
    assert in_repo.returncode == 0, in_repo.stderr
    (capture,) = [
        item
        for item in sections(in_repo.stdout)["outputs"]["items"]
        if item["key"] == "rx-0/capture.sigmf-data"
    ]
    distance = float(capture["detail"].split()[2])
    assert distance > 10 and capture["change"] == "beyond"  # the tone moved

    bundles = [bundled(repo, run, tmp_path / f"{run}.tar") for run in runs]
    elsewhere = tmp_path / "elsewhere"  # no repository, no artifact store: bundles only
    elsewhere.mkdir()
    result = radiops(elsewhere, "diff", "--json", *map(str, bundles))
    assert result.returncode == 0, result.stderr
    # the same diff, recordings and all, as between the two runs in the repository
    found, expected = sections(result.stdout), sections(in_repo.stdout)
    same_diff(found, expected)
    assert found["code"] == expected["code"]  # one commit: nothing of git's was needed
    result = radiops(repo, "diff", str(bundles[0]), runs[0])
    assert result.returncode == 0, result.stderr
    assert "outputs     same" in result.stdout and "metrics     same" in result.stdout


def test_an_index_naming_another_run_is_refused(tmp_path: Path) -> None:
    manifest = (PROJECT / "tests/examples/manifest/valid/simulated-hello.json").read_bytes()
    run_id = json.loads(manifest)["run_id"]
    for said, refusal in ((run_id, False), ("20250101T000000Z-00000000", True)):
        index = json.dumps({"format": 1, "experiment": "hello", "run_id": said}).encode()
        bundle = archive(
            tmp_path / "altered.tar",
            member("radiops-bundle.json", index),
            member("run/manifest.json", manifest),
        )
        if refusal:
            stderr = refused(tmp_path, bundle)
            assert f"names the run hello/{said} but its manifest is hello/{run_id}" in stderr
            assert "the bundle was altered" in stderr
        else:  # the index agrees: the bundle is read (and is the same run as itself)
            result = radiops(tmp_path, "diff", str(bundle), str(bundle))
            assert result.returncode == 0, result.stderr
            assert json.loads(radiops(tmp_path, "diff", "--json", str(bundle), str(bundle)).stdout)[
                "same"
            ]


def test_only_what_the_diff_reads_is_unpacked(tmp_path: Path) -> None:
    big = bytes(RECORDING_MAX_BYTES + 4096)  # zeros: the gzipped bundle stays small
    bundle = archive(
        tmp_path / "parts.tar.gz",
        index(),
        member("run/manifest.json", b"{}"),
        member("run/outputs/capture.sigmf-data", big),
        member(f"store/sha256/ab/{'ab' * 32}", big),
        member("source/experiments/hello/experiment.yaml", b"name: hello\n"),
        member("source/experiments/hello/run.sh", b"echo hi\n"),
        member("source/images/hello/Dockerfile", b"FROM scratch\n"),
        member("images/hello.tar", big),
        mode="w:gz",
    )
    dest = tmp_path / "out"
    unpack(bundle, dest, keep=BUNDLE_KEEPS)
    written = {
        path.relative_to(dest).as_posix(): path.stat().st_size
        for path in dest.rglob("*")
        if path.is_file()
    }
    assert written == {
        "radiops-bundle.json": len(index()[1].getvalue()),
        "run/manifest.json": 2,
        "run/outputs/capture.sigmf-data": RECORDING_MAX_BYTES,  # what the PSD reads of it
        f"store/sha256/ab/{'ab' * 32}": RECORDING_MAX_BYTES + 4096,  # under an inventory's cap
        "source/experiments/hello/experiment.yaml": 12,
    }
