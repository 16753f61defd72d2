"""Copying results out of containers: real containers for what a container can
do, hand-built archives for what only a forged archive can hold."""

from __future__ import annotations

import hashlib
import io
import os
import resource
import stat
import tarfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from runner.engine.artifacts import ArtifactStore
from runner.engine.capture import (
    Capture,
    ChunkReader,
    capture_stream,
    capture_tree,
    changed_paths,
    media_type,
)
from runner.engine.container_logs import stream_logs
from runner.engine.member_gate import CaptureBudget, CaptureLimits, MemberGate
from runner.model.errors import EnvironmentProblem
from tests.testing.containers import OUT, run
from tests.testing.testbed_fixtures import BASE_IMAGE, DockerCleanup

MiB = 1 << 20


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` (links not followed) -> (mode, mtime_ns)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            info = path.lstat()
            found[str(path.relative_to(root))] = (info.st_mode, info.st_mtime_ns)
    return found


def only_plain_files(root: Path) -> None:
    for path in root.rglob("*"):
        mode = path.lstat().st_mode
        assert stat.S_ISREG(mode) or stat.S_ISDIR(mode), f"{path} is not a plain file or folder"


@pytest.fixture
def client(docker_clients: dict[str, docker.DockerClient]) -> docker.DockerClient:
    return docker_clients["default"]


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store")


# --- real containers ------------------------------------------------------------------


@pytest.mark.docker
def test_outputs_are_hashed_and_split_between_run_dir_and_store(
    client: docker.DockerClient, docker_cleanup: DockerCleanup, tmp_path: Path, store: ArtifactStore
) -> None:
    container = run(
        client,
        docker_cleanup,
        """
        mkdir -p sub/deeper
        printf 'hello\\n' > a.txt
        printf 'x,y\\n1,2\\n' > sub/deeper/b.csv
        printf '{"k": 1}' > data.json
        : > empty.txt
        head -c 3000 /dev/zero | tr '\\0' a > big1.bin
        cp big1.bin sub/big2.bin
        head -c 2000 /dev/zero | tr '\\0' b > sub/deeper/other.sigmf-data
        """,
    )
    run_dir = tmp_path / "run"
    capture = capture_tree(
        container, OUT, run_dir=run_dir, prefix="outputs/rx-0", store=store, inline_max=1000
    )
    expected = {
        "a.txt": (b"hello\n", "text/plain"),
        "sub/deeper/b.csv": (b"x,y\n1,2\n", "text/csv"),
        "data.json": (b'{"k": 1}', "application/json"),
        "empty.txt": (b"", "text/plain"),
        "big1.bin": (b"a" * 3000, "application/octet-stream"),
        "sub/big2.bin": (b"a" * 3000, "application/octet-stream"),
        "sub/deeper/other.sigmf-data": (b"b" * 2000, "application/octet-stream"),
    }
    assert capture.refused == ()
    assert {f.path for f in capture.files} == set(expected)
    assert capture.total_bytes == sum(len(data) for data, _ in expected.values())
    for captured in capture.files:
        data, kind = expected[captured.path]
        assert (captured.size, captured.sha256, captured.media_type) == (len(data), sha(data), kind)
        if len(data) <= 1000:
            assert captured.storage_kind == "inline"
            assert captured.location == f"outputs/rx-0/{captured.path}"
            assert (run_dir / captured.location).read_bytes() == data
        else:
            assert captured.storage_kind == "store"
            assert captured.location == f"cas://sha256/{sha(data)}"
            assert store.path(captured.sha256).read_bytes() == data
    objects = sorted(p.name for p in (store.root / "sha256").rglob("*") if p.is_file())
    assert objects == sorted({sha(b"a" * 3000), sha(b"b" * 2000)})  # big1 and big2: one object
    assert list((store.root / "tmp").iterdir()) == []
    only_plain_files(run_dir)


@pytest.mark.docker
def test_hostile_outputs_are_refused_and_the_good_ones_kept(
    client: docker.DockerClient, docker_cleanup: DockerCleanup, tmp_path: Path, store: ArtifactStore
) -> None:
    container = run(
        client,
        docker_cleanup,
        """
        printf 'good\\n' > good.txt
        ln -s /etc etc-link
        ln -s ../../ up-link
        ln /etc/passwd passwd-hard
        ln -s /etc/shadow shadow-link
        ln shadow-link z-hard-to-link
        mkfifo fifo
        if mknod null c 1 3 && mknod loop b 7 0; then echo MKNOD=yes; else echo MKNOD=no; fi
        printf 'upper\\n' > Case.txt
        printf 'lower\\n' > case.TXT
        truncate -s 2G huge.bin
        """,
    )
    mknod_worked = b"MKNOD=yes" in container.logs()
    canary = tmp_path / "canary"
    canary.write_text("untouched\n")
    before = tree(tmp_path)
    passwd_mtime = Path("/etc/passwd").stat().st_mtime_ns
    run_dir = tmp_path / "run"

    capture = capture_tree(
        container,
        OUT,
        run_dir=run_dir,
        prefix="outputs/c",
        store=store,
        inline_max=1 << 16,
        limits=CaptureLimits(max_file_bytes=64 * MiB),
    )

    kept = {f.path: f for f in capture.files}
    assert (run_dir / kept["good.txt"].location).read_bytes() == b"good\n"
    # A hard link to a file outside the archive comes as a copy of the
    # container's own file: harmless, it could have copied it as well.
    assert (run_dir / kept["passwd-hard"].location).read_text().startswith("root:")
    assert "Case.txt" in kept
    assert set(kept) == {"good.txt", "passwd-hard", "Case.txt"}
    refused = set(capture.refused)
    assert {
        "link etc-link -> /etc: links are not kept",
        "link up-link -> ../../: links are not kept",
        "link shadow-link -> /etc/shadow: links are not kept",
        "hard link z-hard-to-link -> shadow-link: links are not kept",
        "fifo: FIFOs are not kept",
        "case.TXT: same name as Case.txt but for case, the first one was kept",
        f"huge.bin: {2 << 30} bytes is over the {64 * MiB}-byte cap",
    } <= refused
    if mknod_worked:  # with the engine's default capabilities (CAP_MKNOD) it does
        assert {"null: device files are not kept", "loop: device files are not kept"} <= refused
    assert len(capture.refused) == 7 + 2 * mknod_worked

    after = tree(tmp_path)
    outside = {p for p in after if not p.startswith(("run", "store"))}
    assert {p: after[p] for p in outside} == before
    assert canary.read_text() == "untouched\n"
    assert Path("/etc/passwd").stat().st_mtime_ns == passwd_mtime
    only_plain_files(run_dir)
    only_plain_files(store.root)


@pytest.mark.docker
def test_a_two_gib_file_is_refused_in_flat_memory(
    client: docker.DockerClient, docker_cleanup: DockerCleanup, tmp_path: Path, store: ArtifactStore
) -> None:
    container = run(client, docker_cleanup, "truncate -s 2G huge.bin\nprintf 'ok\\n' > z.txt")
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    try:
        capture = capture_tree(
            container, OUT, run_dir=tmp_path / "run", prefix="o", store=store, inline_max=1 << 16
        )
        _, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert capture.refused == (f"huge.bin: {2 << 30} bytes is over the {1 << 30}-byte cap",)
    assert [f.path for f in capture.files] == ["z.txt"]
    assert rss_growth * 1024 < 100 * MiB
    assert python_peak < 16 * MiB


@pytest.mark.docker
def test_a_link_planted_in_the_run_dir_is_not_followed(
    client: docker.DockerClient, docker_cleanup: DockerCleanup, tmp_path: Path, store: ArtifactStore
) -> None:
    container = run(client, docker_cleanup, "printf 'data\\n' > a.txt")
    run_dir, outside = tmp_path / "run", tmp_path / "outside"
    (run_dir / "outputs" / "c1").mkdir(parents=True)
    (run_dir / "elsewhere").mkdir()
    outside.mkdir()
    (outside / "target").write_text("precious\n")
    (run_dir / "outputs" / "c0").symlink_to(outside)  # a folder leading out
    (run_dir / "outputs" / "c1" / "a.txt").symlink_to(outside / "target")  # the file itself
    (run_dir / "outputs" / "c2").symlink_to(run_dir / "elsewhere")  # a link, even inside

    def refusals(prefix: str) -> tuple[str, ...]:
        capture = capture_tree(
            container, OUT, run_dir=run_dir, prefix=prefix, store=store, inline_max=100
        )
        assert capture.files == ()
        return capture.refused

    assert refusals("outputs/c0") == (
        "a.txt: not written, outputs/c0/a.txt leads out of the run directory",
    )
    assert refusals("outputs/c1") == (
        "a.txt: not written, outputs/c1/a.txt leads out of the run directory",
    )
    assert refusals("outputs/c2") == (
        "a.txt: not written, a link or a file is in the way of outputs/c2/a.txt",
    )
    assert sorted(p.name for p in outside.iterdir()) == ["target"]
    assert (outside / "target").read_text() == "precious\n"
    assert list((run_dir / "elsewhere").iterdir()) == []


@pytest.mark.docker
def test_a_single_file_a_missing_source_and_a_selection(
    client: docker.DockerClient, docker_cleanup: DockerCleanup, tmp_path: Path, store: ArtifactStore
) -> None:
    container = run(client, docker_cleanup, "mkdir d\nprintf 1 > d/a.csv\nprintf 2 > d/b.txt")
    run_dir = tmp_path / "run"

    one = capture_tree(
        container, f"{OUT}/d/a.csv", run_dir=run_dir, prefix="one", store=store, inline_max=10
    )
    assert [(f.path, f.location) for f in one.files] == [("a.csv", "one/a.csv")]

    missing = capture_tree(
        container, "/nowhere", run_dir=run_dir, prefix="none", store=store, inline_max=10
    )
    assert missing == Capture(
        files=(), refused=("/nowhere: not found in the container",), total_bytes=0
    )

    csv_only = capture_tree(
        container,
        OUT,
        run_dir=run_dir,
        prefix="sel",
        store=store,
        inline_max=10,
        select=lambda path: path.endswith(".csv"),
    )
    assert [f.path for f in csv_only.files] == ["d/a.csv"]
    assert csv_only.refused == ()


@pytest.mark.docker
def test_logs_are_split_hashed_tailed_and_truncated(
    client: docker.DockerClient, docker_cleanup: DockerCleanup, tmp_path: Path
) -> None:
    container = run(
        client,
        docker_cleanup,
        'i=1; while [ $i -le 100 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done',
    )
    stdout = "".join(f"out {i}\n" for i in range(1, 101)).encode()
    stderr = "".join(f"err {i}\n" for i in range(1, 101)).encode()
    run_dir = tmp_path / "run"

    logs = stream_logs(container, run_dir=run_dir, prefix="logs/c-0", tail_lines=3)
    assert [(log.stream, log.path) for log in logs] == [
        ("stdout", "logs/c-0.stdout"),
        ("stderr", "logs/c-0.stderr"),
    ]
    for log, data, name in zip(logs, (stdout, stderr), ("out", "err"), strict=True):
        assert (run_dir / log.path).read_bytes() == data
        assert (log.size, log.sha256, log.truncated) == (len(data), sha(data), False)
        assert log.tail == f"{name} 98\n{name} 99\n{name} 100\n"

    cut = stream_logs(container, run_dir=run_dir, prefix="cut/c-0", tail_lines=2, max_bytes=50)
    for log, data, name in zip(cut, (stdout, stderr), ("out", "err"), strict=True):
        assert (run_dir / log.path).read_bytes() == data[:50]
        assert (log.size, log.sha256, log.truncated) == (50, sha(data[:50]), True)
        assert log.tail == f"{name} 99\n{name} 100\n"  # the end of the stream, not of the file


@pytest.mark.docker
def test_a_running_container_is_not_copied_from(
    client: docker.DockerClient, docker_cleanup: DockerCleanup, tmp_path: Path, store: ArtifactStore
) -> None:
    container = docker_cleanup.container(
        "default",
        client.containers.create(
            BASE_IMAGE, ["sleep", "300"], network_mode="none", labels=docker_cleanup.labels
        ),
    )
    container.start()
    with pytest.raises(EnvironmentProblem, match=r"is running: .* only after it has exited"):
        capture_tree(container, OUT, run_dir=tmp_path, prefix="o", store=store, inline_max=0)
    with pytest.raises(EnvironmentProblem, match="is running"):
        stream_logs(container, run_dir=tmp_path, prefix="logs/x")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.docker
def test_changed_paths_lists_what_was_added_or_changed(
    client: docker.DockerClient, docker_cleanup: DockerCleanup
) -> None:
    container = run(client, docker_cleanup, "echo x > f\nrm /etc/debian_version\necho >> /etc/motd")
    changed = changed_paths(container)
    assert {f"{OUT}/f", OUT, "/radiops", "/etc/motd"} <= set(changed)
    assert "/etc/debian_version" not in changed  # deleted
    assert changed == sorted(changed)


# --- forged archives ------------------------------------------------------------------


def archive(*members: tuple[str, bytes | str | None], chunk: int = 700) -> Iterator[bytes]:
    """A tar stream in ``chunk``-byte pieces. A member is (name, data): bytes for a
    file, None for a folder, "->target" for a symbolic link."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(data, str):
                info.type, info.linkname = tarfile.SYMTYPE, data.removeprefix("->")
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    return iter([raw[i : i + chunk] for i in range(0, len(raw), chunk)])


def capture_forged(
    tmp_path: Path, *members: tuple[str, bytes | str | None], **limits: int
) -> Capture:
    return capture_stream(
        archive(*members),
        top="out",
        run_dir=tmp_path / "run",
        prefix="p",
        store=ArtifactStore(tmp_path / "store"),
        inline_max=1 << 16,
        limits=CaptureLimits(**limits),
    )


def test_forged_names_are_refused_and_nothing_lands_outside(tmp_path: Path) -> None:
    capture = capture_forged(
        tmp_path,
        ("out", None),
        ("out/ok.txt", b"ok"),
        ("../x", b"1"),
        ("/abs", b"2"),
        ("out/../y", b"3"),
        ("out/sub/../../z", b"4"),
        ("outside.txt", b"5"),
        ("out/back\\slash", b"6"),
        ("out/new\nline", b"7"),
        ("out/./dot", b"8"),
        ("out/" + "d/" * 32 + "deep", b"9"),
        ("out/" + "d/" * 31 + "fine", b"10"),
    )
    assert sorted(f.path for f in capture.files) == ["d/" * 31 + "fine", "ok.txt"]
    assert capture.refused == (
        "../x: path leaves the output directory",
        "/abs: path leaves the output directory",
        "../y: path leaves the output directory",
        "sub/../../z: path leaves the output directory",
        "outside.txt: path leaves the output directory",
        "back\\slash: name has a backslash or a control character",
        "new\\nline: name has a backslash or a control character",
        "./dot: name is not a plain relative path",
        "d/" * 32 + "deep: 33 levels deep, over the limit of 32",
    )
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == [
        "run/p/" + "d/" * 31 + "fine",
        "run/p/ok.txt",
    ]


def test_duplicates_case_clashes_and_file_folder_clashes(tmp_path: Path) -> None:
    capture = capture_forged(
        tmp_path,
        ("out/dup.txt", b"first"),
        ("out/dup.txt", b"second"),
        ("out/Case.txt", b"A"),
        ("out/CASE.TXT", b"B"),
        ("out/f", b"file"),
        ("out/f/g", b"under a file"),
        ("out/dir/h", b"in a folder"),
        ("out/DIR", b"file named like a folder"),
        ("out/Stra\u00dfe", b"C"),
        ("out/STRASSE", b"D"),
    )
    assert [f.path for f in capture.files] == ["dup.txt", "Case.txt", "f", "dir/h", "Stra\u00dfe"]
    assert capture.refused == (
        "dup.txt: duplicate name, the first one was kept",
        "CASE.TXT: same name as Case.txt but for case, the first one was kept",
        "f/g: clashes with the file f",
        "DIR: clashes with the folder of dir/h",
        "STRASSE: same name as Stra\u00dfe but for case, the first one was kept",
    )
    assert (tmp_path / "run" / "p" / "dup.txt").read_bytes() == b"first"


def test_archives_of_one_container_share_one_budget(tmp_path: Path) -> None:
    # two copies out of one container (two changed paths): the caps count both together
    budget = CaptureBudget()
    limits = CaptureLimits(max_total_bytes=100)
    kept = []
    for name in ("one", "two"):
        capture = capture_stream(
            archive(("out", None), ("out/f", b"x" * 60)),
            top="out",
            run_dir=tmp_path / "run",
            prefix=name,
            store=ArtifactStore(tmp_path / "store"),
            inline_max=1 << 16,
            limits=limits,
            budget=budget,
        )
        kept += [f"{name}/{f.path}" for f in capture.files]
    assert kept == ["one/f"]
    assert budget.total_bytes == 60 and budget.total_reached


def test_member_count_and_total_caps(tmp_path: Path) -> None:
    many = [(f"out/f{i}", b"x") for i in range(10)]
    capped = capture_forged(tmp_path / "a", ("out", None), *many, max_members=5)
    assert len(capped.files) == 4  # the top folder is a member too
    assert capped.refused == (
        "more than 5 archive members from this container: the rest were not read",
    )

    total = capture_forged(
        tmp_path / "b",
        ("out/a", b"x" * 40),
        ("out/b", b"x" * 40),
        ("out/c", b"x" * 40),
        ("out/d", b"x"),
        max_total_bytes=100,
    )
    assert [f.path for f in total.files] == ["a", "b"]
    assert total.total_bytes == 80
    assert total.refused == (
        "c: not kept, the container's total reached the 100-byte cap",
        "d: not kept, the container's total reached the 100-byte cap",
    )


def test_a_broken_archive_keeps_what_came_before_and_no_partial_file(tmp_path: Path) -> None:
    whole = b"".join(archive(("out/a", b"a" * 600), ("out/b", b"b" * 5000)))
    cut = whole[: 512 * 4 + 1000]  # a's header and data, b's header, part of b's data
    capture = capture_stream(
        iter([cut]),
        top="out",
        run_dir=tmp_path / "run",
        prefix="p",
        store=ArtifactStore(tmp_path / "store"),
        inline_max=1 << 16,
    )
    assert [f.path for f in capture.files] == ["a"]
    assert capture.refused == (
        "the archive of out broke off (unexpected end of data): the rest was not read",
    )
    assert sorted(p.name for p in (tmp_path / "run" / "p").iterdir()) == ["a"]


def test_gate_reports_links_and_devices() -> None:
    gate = MemberGate(top="out", limits=CaptureLimits())
    members = []
    for name, kind, target in [
        ("out/s", tarfile.SYMTYPE, "/etc/passwd"),
        ("out/h", tarfile.LNKTYPE, "out/s"),
        ("out/c", tarfile.CHRTYPE, ""),
        ("out/b", tarfile.BLKTYPE, ""),
        ("out/p", tarfile.FIFOTYPE, ""),
        ("out/r", tarfile.REGTYPE, ""),
    ]:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        members.append(info)
    assert [gate.admit(m) for m in members] == [None] * 5 + ["r"]
    assert gate.refused == [
        "link s -> /etc/passwd: links are not kept",
        "hard link h -> s: links are not kept",
        "c: device files are not kept",
        "b: device files are not kept",
        "p: FIFOs are not kept",
    ]


def test_chunk_reader_reads_exactly_and_seeks_forward_only() -> None:
    reader = ChunkReader(iter([b"abc", b"", b"defg", b"h"]))
    assert reader.read(2) == b"ab"
    assert reader.read(3) == b"cde"
    assert reader.seek(6) == 6
    assert [bytes(p) for p in reader.pieces(1)] == [b"g"]
    with pytest.raises(io.UnsupportedOperation):
        reader.seek(0)
    assert reader.read(5) == b"h"
    assert reader.read(1) == b""
    with pytest.raises(tarfile.ReadError):
        list(reader.pieces(1))


def test_store_keeps_one_object_per_content(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    digest, size = store.put([b"some ", memoryview(b"bytes")])
    assert (digest, size) == (sha(b"some bytes"), 10)
    path = store.path(digest)
    assert path == tmp_path / "sha256" / digest[:2] / digest
    assert store.location(digest) == f"cas://sha256/{digest}"
    first = path.stat()
    assert store.put([b"some bytes"]) == (digest, 10)
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    path.chmod(0o644)
    path.write_bytes(b"some")  # cut short, as by a crash before the data reached the disk
    store.put([b"some bytes"])
    assert path.read_bytes() == b"some bytes"
    assert list((tmp_path / "tmp").iterdir()) == []
    with pytest.raises(ValueError, match="not a sha256"):
        store.path("../../etc/passwd")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.csv", "text/csv"),
        ("b.JSON", "application/json"),
        ("c.png", "image/png"),
        ("d.sigmf-data", "application/octet-stream"),
        ("e.tar.gz", "application/gzip"),
        ("f", "application/octet-stream"),
    ],
)
def test_media_types(name: str, kind: str) -> None:
    assert media_type(name) == kind
