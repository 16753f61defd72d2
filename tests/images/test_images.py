"""Images: context hashes, builds, pushes and pulls by digest, images.lock, pin.

The hashing, lock and reference tests are pure; the rest drive the local
testbed's real engines and registry (scripts/testbed).
"""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from pathlib import Path

import docker
import docker.errors
import pytest

from runner.cli.commands.images import LockStale, images_build, images_lock, images_push
from runner.cli.commands.pin import pin
from runner.engine.build_context import ContextRefused, context_sha256
from runner.engine.images import BuildFailed, BuiltImage, build, dockerfile_base, local_reference
from runner.engine.registry import RegistryProblem, UnpinnedImage, pull_pinned, push, require_pinned
from runner.model.errors import FatalError
from runner.model.lock import LOCK_FILE, LockEntry, LockInvalid, lock_text, read_lock, update_lock
from runner.model.references import is_pinned, parse_reference
from runner.model.repo import Repository
from runner.model.testbed import Registry
from tests.testing.repos import copy_from_project
from tests.testing.testbed_fixtures import DockerCleanup, Testbed

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)
DIGEST = "sha256:" + "ab" * 32


# -- helpers --------------------------------------------------------------------------


def make_context(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "Dockerfile").write_text("FROM debian:bookworm-slim\nCOPY . /ctx\n")
    (folder / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (folder / "run.sh").chmod(0o755)
    (folder / "data").mkdir()
    (folder / "data" / "table.csv").write_text("a,b\n1,2\n")
    return folder


def make_repo(where: Path, image_dir: str) -> Repository:
    """A repository with one image: a copy of this project's images/hello."""
    root = where / "repo"
    (root / "experiments").mkdir(parents=True)
    copy_from_project("images/hello", root / "images" / image_dir)
    return Repository(root=root)


def registry_digest(testbed: Testbed, repository: str, tag: str) -> str:
    request = urllib.request.Request(  # noqa: S310 (loopback registry)
        f"{testbed.registry_url}/v2/{repository}/manifests/{tag}",
        headers={"Accept": ", ".join(MANIFEST_TYPES)},
        method="HEAD",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return str(response.headers["Docker-Content-Digest"])


def track(cleanup: DockerCleanup, built: BuiltImage, registry: str | None = None) -> None:
    cleanup.image(built.local_ref)
    if registry is not None:
        cleanup.image(f"{registry}/{built.name}:ctx-{built.context_sha256[:12]}")


def track_pushed(cleanup: DockerCleanup, pinned: str, registry: str) -> None:
    repository, digest = pinned.split("@", 1)
    cleanup.image(pinned)
    cleanup.manifest(repository.removeprefix(f"{registry}/"), digest)


# -- context hashes (pure) ------------------------------------------------------------


def test_context_hash_ignores_times_and_creation_order(tmp_path: Path) -> None:
    first = make_context(tmp_path / "a")
    before = context_sha256(first)
    os.utime(first / "run.sh", (1, 1))
    os.utime(first / "data" / "table.csv", None)
    assert context_sha256(first) == before

    # the same files created in another order, another place, other times
    second = tmp_path / "b"
    (second / "data").mkdir(parents=True)
    (second / "data" / "table.csv").write_text("a,b\n1,2\n")
    (second / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (second / "Dockerfile").write_text("FROM debian:bookworm-slim\nCOPY . /ctx\n")
    (second / "run.sh").chmod(0o700)  # only the owner's x bit counts, as in git
    (second / "empty").mkdir()  # git keeps no empty directory: neither does the hash
    assert context_sha256(second) == before


@pytest.mark.parametrize(
    "change",
    ["content", "exec-bit", "new-file", "rename", "link-target"],
)
def test_context_hash_changes_with_what_the_image_would_get(tmp_path: Path, change: str) -> None:
    context = make_context(tmp_path / "ctx")
    (context / "current").symlink_to("data/table.csv")
    before = context_sha256(context)
    if change == "content":
        (context / "data" / "table.csv").write_text("a,b\n1,3\n")
    elif change == "exec-bit":
        (context / "run.sh").chmod(0o644)
    elif change == "new-file":
        (context / "data" / "more.csv").write_text("")
    elif change == "rename":
        (context / "data" / "table.csv").rename(context / "data" / "table2.csv")
    else:
        (context / "current").unlink()
        (context / "current").symlink_to("run.sh")
    assert context_sha256(context) != before


def test_dockerignore_leaves_ignored_files_out_of_the_hash(tmp_path: Path) -> None:
    context = make_context(tmp_path / "ctx")
    (context / ".dockerignore").write_text("# build outputs\n*.log\ncache/\n!cache/keep.txt\n")
    before = context_sha256(context)
    (context / "debug.log").write_text("noise")
    (context / "cache").mkdir()
    (context / "cache" / "blob.bin").write_bytes(b"\0" * 10)
    assert context_sha256(context) == before
    (context / "cache" / "keep.txt").write_text("kept by the ! exception")
    assert context_sha256(context) != before


@pytest.mark.parametrize("target", ["../outside.txt", "/etc/passwd", "data/../../outside.txt"])
def test_a_link_out_of_the_context_is_refused(tmp_path: Path, target: str) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    context = make_context(tmp_path / "ctx")
    (context / "leak").symlink_to(target)
    with pytest.raises(ContextRefused, match=r": leak is a link to .*outside the build context"):
        context_sha256(context)


def test_a_link_through_a_linked_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    context = make_context(tmp_path / "ctx")
    (context / "up").symlink_to("..")
    with pytest.raises(ContextRefused, match="up is a link"):
        context_sha256(context)


def test_a_pipe_in_the_context_is_refused(tmp_path: Path) -> None:
    context = make_context(tmp_path / "ctx")
    os.mkfifo(context / "pipe")
    with pytest.raises(ContextRefused, match="pipe is not a regular file"):
        context_sha256(context)


@pytest.mark.parametrize(
    ("dockerfile", "base"),
    [
        ("FROM debian:bookworm-slim\n", "debian:bookworm-slim"),
        ("# c\nfrom --platform=linux/amd64 debian:12 AS build\nRUN x\n", "debian:12"),
        ("FROM a:1 AS build\nFROM b:2\nCOPY --from=build / /\n", "b:2"),
        ("FROM a:1 AS build\nFROM build AS final\n", "a:1"),
        ("ARG BASE=debian:bookworm-slim\nFROM ${BASE}\n", "debian:bookworm-slim"),
        ("FROM \\\n  debian@sha256:" + "0" * 64 + "\n", "debian@sha256:" + "0" * 64),
        ("FROM golang AS b\nFROM scratch\nCOPY --from=b /x /x\n", None),
        ("", None),
    ],
)
def test_dockerfile_base_is_the_last_stage_s(dockerfile: str, base: str | None) -> None:
    assert dockerfile_base(dockerfile) == base


# -- references and images.lock (pure) ------------------------------------------------


def test_pinned_references() -> None:
    assert is_pinned(f"localhost:5000/x@{DIGEST}")
    assert is_pinned(f"debian:12@{DIGEST}")
    assert not is_pinned("localhost:5000/x:1")
    assert not is_pinned("debian@sha256:abc")
    require_pinned(f"x@{DIGEST}")
    require_pinned("images/hello")  # pinned through images.lock
    with pytest.raises(UnpinnedImage, match=r"mutable tag.*strict mode.*radiops pin") as info:
        require_pinned("registry.example.org/lab/tool:1.2")
    assert info.value.exit_code == 1


@pytest.mark.parametrize(
    ("ref", "name", "domain", "path", "tag"),
    [
        ("debian", "debian", "docker.io", "library/debian", "latest"),
        ("debian:12", "debian", "docker.io", "library/debian", "12"),
        ("lab/tool:1", "lab/tool", "docker.io", "lab/tool", "1"),
        ("localhost:5000/x", "localhost:5000/x", "localhost:5000", "x", "latest"),
        ("reg.example.org/a/b:v2", "reg.example.org/a/b", "reg.example.org", "a/b", "v2"),
    ],
)
def test_parse_reference(ref: str, name: str, domain: str, path: str, tag: str) -> None:
    parsed = parse_reference(ref)
    assert (parsed.name, parsed.registry, parsed.repository) == (name, domain, path)
    assert parsed.tag_or_latest == tag


def test_lock_is_sorted_indented_and_rewritten_only_on_change(tmp_path: Path) -> None:
    repo = Repository(root=tmp_path)
    assert read_lock(repo) == {}
    assert not update_lock(repo, {})  # nothing to record: no file
    assert not (tmp_path / LOCK_FILE).exists()
    b = LockEntry(context_sha256="1" * 64, digest=f"localhost:5000/b@{DIGEST}")
    a = LockEntry(context_sha256="2" * 64, digest=f"localhost:5000/a@{DIGEST}")
    assert update_lock(repo, {"images/b": b, "images/a": a})
    path = tmp_path / LOCK_FILE
    text = path.read_text()
    assert text == lock_text({"images/a": a, "images/b": b})
    assert text.startswith('{\n  "images/a": {\n    "context_sha256": "2222')
    assert text.endswith("}\n")
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert read_lock(repo) == {"images/a": a, "images/b": b}

    os.utime(path, (1, 1))
    assert not update_lock(repo, {"images/a": a})
    assert path.stat().st_mtime == 1
    newer = LockEntry(context_sha256="3" * 64, digest=f"localhost:5000/a@{DIGEST}")
    assert update_lock(repo, {"images/a": newer})
    assert read_lock(repo)["images/a"] == newer
    assert update_lock(repo, {}, remove=["images/b"])
    assert set(read_lock(repo)) == {"images/a"}
    assert [p.name for p in tmp_path.iterdir()] == [LOCK_FILE]  # no temporary left


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"images/a": {', r"images\.lock:1:\d+: not valid JSON"),
        ("[]", r"images\.lock: must be a JSON object"),
        ('{"images/a": {"digest": "x"}}', r'images\.lock: the entry "images/a" must be'),
        (
            '{"../a": {"context_sha256": "' + "0" * 64 + '", "digest": "a@' + DIGEST + '"}}',
            r'the entry "\.\./a"',
        ),
        ('{"images/a": {"context_sha256": "0", "digest": "a:latest"}}', "must be"),
    ],
)
def test_a_corrupt_lock_is_named_not_a_traceback(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / LOCK_FILE).write_text(text)
    with pytest.raises(LockInvalid, match=message) as info:
        read_lock(Repository(root=tmp_path))
    assert isinstance(info.value, FatalError)


def test_lock_check_compares_context_hashes(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, "hello")
    context = repo.root / "images" / "hello"
    with pytest.raises(LockStale, match=r"images/hello: not in images\.lock"):
        images_lock(cwd=repo.root, check=True)
    entry = LockEntry(
        context_sha256=context_sha256(context), digest=f"localhost:5000/hello@{DIGEST}"
    )
    gone = LockEntry(context_sha256="0" * 64, digest=f"localhost:5000/gone@{DIGEST}")
    update_lock(repo, {"images/hello": entry, "images/gone": gone})
    with pytest.raises(LockStale, match=r"images/gone: in images\.lock, but the directory is gone"):
        images_lock(cwd=repo.root, check=True)
    assert images_lock(cwd=repo.root, check=False)  # drops the orphan
    assert set(read_lock(repo)) == {"images/hello"}
    assert images_lock(cwd=repo.root / "images", check=True)
    (context / "hello.sh").write_text("#!/bin/sh\necho changed\n")
    with pytest.raises(LockStale, match="images/hello: the context changed"):
        images_lock(cwd=repo.root, check=True)
    assert not images_lock(cwd=repo.root, check=False)


# -- builds (real engines) ------------------------------------------------------------


@pytest.mark.docker
def test_build_streams_its_log_then_skips_an_unchanged_context(
    tmp_path: Path,
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
) -> None:
    name = docker_cleanup.unique("hello")
    repo = make_repo(tmp_path, name)
    context = repo.root / "images" / name
    with (context / "hello.sh").open("a") as script:  # a cold build: no layer cache
        script.write(f"# {uuid.uuid4().hex}\n")
    client = docker_clients["default"]
    log: list[str] = []
    built = build(client, repo, f"images/{name}", progress=log.append, labels=docker_cleanup.labels)
    track(docker_cleanup, built)
    assert built.built
    assert built.local_ref == local_reference(name, built.context_sha256)
    assert built.context_sha256 == context_sha256(context)
    assert built.image_id.startswith("sha256:")
    assert any(line.startswith("Step 1/") and "FROM debian:bookworm-slim" in line for line in log)
    assert any("Successfully built" in line for line in log)
    assert all("\n" not in line for line in log)
    assert built.base_image is not None
    assert built.base_image.ref == "debian:bookworm-slim"
    assert built.base_image.image_id == client.images.get("debian:bookworm-slim").id
    image = client.images.get(built.local_ref)
    assert image.id == built.image_id
    assert image.labels["org.radiops.context-sha256"] == built.context_sha256
    assert image.labels["org.radiops.image"] == f"images/{name}"

    before = {i.id for i in client.images.list(all=True)}
    log.clear()
    again = build(client, repo, f"images/{name}", progress=log.append)
    assert not again.built
    assert again.image_id == built.image_id
    assert again.dockerfile_sha256 == built.dockerfile_sha256
    assert len(log) == 1 and "unchanged, skipped" in log[0], log
    assert {i.id for i in client.images.list(all=True)} == before

    (context / "hello.sh").write_text((context / "hello.sh").read_text() + "# changed\n")
    changed = build(
        client, repo, f"images/{name}", progress=log.append, labels=docker_cleanup.labels
    )
    track(docker_cleanup, changed)
    assert changed.built
    assert changed.context_sha256 != built.context_sha256
    assert changed.image_id != built.image_id
    assert changed.dockerfile_sha256 == built.dockerfile_sha256


@pytest.mark.docker
def test_a_label_alone_does_not_make_an_image_reusable(
    tmp_path: Path,
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
) -> None:
    # A pulled image or a failed build's intermediate step can carry any label.
    name = docker_cleanup.unique("forged")
    repo = make_repo(tmp_path, name)
    context_hash = context_sha256(repo.root / "images" / name)
    client = docker_clients["default"]
    forged = tmp_path / "forged"
    forged.mkdir()
    (forged / "Dockerfile").write_text(
        "FROM debian:bookworm-slim\n"
        f"LABEL org.radiops.context-sha256={context_hash} org.radiops.image=images/{name}\n"
    )
    image, _ = client.images.build(
        path=str(forged), network_mode="host", rm=True, labels=docker_cleanup.labels
    )
    built = build(
        client, repo, f"images/{name}", progress=lambda _: None, labels=docker_cleanup.labels
    )
    track(docker_cleanup, built)
    assert built.built
    assert built.image_id != image.id


@pytest.mark.docker
def test_a_failing_step_is_named_with_the_end_of_the_log(
    tmp_path: Path,
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
) -> None:
    name = docker_cleanup.unique("broken")
    repo = make_repo(tmp_path, name)
    (repo.root / "images" / name / "Dockerfile").write_text(
        f"FROM debian:bookworm-slim\nRUN echo about to fail {name}\nRUN false\nRUN echo never\n"
    )
    client = docker_clients["default"]
    log: list[str] = []
    try:
        with pytest.raises(BuildFailed) as info:
            build(client, repo, f"images/{name}", progress=log.append)
    finally:
        # the step that succeeded stays behind as the builder's cache, unlabelled
        for image in client.images.list(all=True, filters={"dangling": True}):
            if name in " ".join((image.attrs.get("ContainerConfig") or {}).get("Cmd") or []):
                client.images.remove(str(image.id), force=True)
    message = str(info.value)
    print(message)
    assert message.startswith(f"images/{name}: the build failed at Step 3/")
    assert "RUN false" in message.splitlines()[0]
    assert "returned a non-zero code: 1" in message
    assert "last lines of the build log:" in message
    assert "about to fail" in message
    assert "Traceback" not in message
    assert info.value.exit_code == 1


@pytest.mark.docker
def test_a_dockerfile_that_does_not_parse_is_reported(
    tmp_path: Path, docker_clients: dict[str, docker.DockerClient], docker_cleanup: DockerCleanup
) -> None:
    name = docker_cleanup.unique("unparsable")
    repo = make_repo(tmp_path, name)
    (repo.root / "images" / name / "Dockerfile").write_text("FRM debian:bookworm-slim\n")
    with pytest.raises(BuildFailed, match=r"failed before its first step\n.*unknown instruction"):
        build(docker_clients["node1"], repo, f"images/{name}", progress=lambda _: None)


# -- push and pull by digest ----------------------------------------------------------


@pytest.mark.docker
def test_push_gives_the_registry_digest_and_another_engine_pulls_it(
    tmp_path: Path,
    testbed: Testbed,
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
) -> None:
    name = docker_cleanup.unique("pushed")
    repo = make_repo(tmp_path, name)
    default = docker_clients["default"]
    built = build(
        default, repo, f"images/{name}", progress=lambda _: None, labels=docker_cleanup.labels
    )
    track(docker_cleanup, built, testbed.registry)
    registry = Registry(address=testbed.registry, insecure=True)
    log: list[str] = []
    pinned = push(default, built, registry, progress=log.append)
    track_pushed(docker_cleanup, pinned, testbed.registry)
    assert pinned.startswith(f"{testbed.registry}/{name}@sha256:")
    assert is_pinned(pinned)
    digest = pinned.split("@", 1)[1]
    assert registry_digest(testbed, name, f"ctx-{built.context_sha256[:12]}") == digest
    assert any(f"digest: {digest}" in line for line in log), log
    assert push(default, built, registry, progress=lambda _: None) == pinned  # idempotent

    node2 = docker_clients["node2"]
    with pytest.raises(docker.errors.ImageNotFound):
        node2.images.get(pinned)
    log.clear()
    assert pull_pinned(node2, pinned, progress=log.append) == built.image_id
    assert log == [f"pulling {pinned}"]
    log.clear()
    assert pull_pinned(node2, pinned, progress=log.append) == built.image_id
    assert log == []  # already there: no pull

    wrong = f"{testbed.registry}/{name}@sha256:{'0' * 64}"
    with pytest.raises(RegistryProblem, match=rf"cannot pull {wrong}: .*(not found|unknown)"):
        pull_pinned(node2, wrong, progress=lambda _: None)


@pytest.mark.docker
def test_pull_refuses_the_reserved_local_namespace(
    docker_clients: dict[str, docker.DockerClient],
) -> None:
    with pytest.raises(FatalError, match="reserved for images built from this repository"):
        pull_pinned(docker_clients["node1"], "radiops/hello:ctx-0123456789ab", progress=print)


@pytest.mark.docker
def test_an_unpinned_tag_is_the_engine_s_copy_like_docker_run(
    docker_clients: dict[str, docker.DockerClient],
) -> None:
    node1 = docker_clients["node1"]
    log: list[str] = []
    image_id = pull_pinned(node1, "debian:bookworm-slim", progress=log.append)
    assert image_id == node1.images.get("debian:bookworm-slim").id
    assert log == [f"debian:bookworm-slim: mutable tag, using image {image_id}"]


@pytest.mark.docker
def test_images_push_rewrites_the_lock_only_when_a_digest_changes(
    tmp_path: Path,
    testbed: Testbed,
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = docker_cleanup.unique("locked")
    repo = make_repo(tmp_path, name)
    image = f"images/{name}"

    def push_all() -> str:
        pushed = images_push(
            [], cwd=repo.root, testbed_file=testbed.testbed_file, engine=testbed.default_engine
        )
        assert list(pushed) == [image]
        track_pushed(docker_cleanup, pushed[image], testbed.registry)
        context_hash = read_lock(repo)[image].context_sha256
        docker_cleanup.image(local_reference(name, context_hash))
        docker_cleanup.image(f"{testbed.registry}/{name}:ctx-{context_hash[:12]}")
        return pushed[image]

    first = push_all()
    lock = repo.root / LOCK_FILE
    assert "images.lock updated" in capsys.readouterr().out
    assert json.loads(lock.read_text()) == {
        image: {"context_sha256": context_sha256(repo.root / image), "digest": first}
    }
    os.utime(lock, (1, 1))
    content = lock.read_bytes()
    assert push_all() == first
    assert "images.lock unchanged" in capsys.readouterr().out
    assert lock.stat().st_mtime == 1 and lock.read_bytes() == content
    assert images_lock(cwd=repo.root, check=True)

    script = repo.root / image / "hello.sh"
    script.write_text(script.read_text() + "# changed\n")
    with pytest.raises(LockStale):
        images_lock(cwd=repo.root, check=True)
    second = push_all()
    assert second != first
    assert read_lock(repo)[image].digest == second
    assert images_lock(cwd=repo.root, check=True)


@pytest.mark.docker
def test_images_build_and_push_refuse_what_they_cannot_do(
    tmp_path: Path, testbed: Testbed, docker_cleanup: DockerCleanup
) -> None:
    name = docker_cleanup.unique("cmd")
    repo = make_repo(tmp_path, name)
    built = images_build([f"images/{name}"], cwd=repo.root, engine=testbed.default_engine)
    for image in built:
        track(docker_cleanup, image)
    assert [b.image for b in built] == [f"images/{name}"]
    with pytest.raises(FatalError, match="no registry to push to"):
        images_push([], cwd=repo.root, testbed_file=None, engine=testbed.default_engine)
    with pytest.raises(FatalError, match="no such image directory"):
        images_build(["images/nope"], cwd=repo.root, engine=testbed.default_engine)


# -- pin ------------------------------------------------------------------------------


SCENARIO = """\
# yaml-language-server: $schema=../../schemas/experiment.schema.json
name: pinned
description: Two roles, one from a registry.
duration: 10s
roles:
  rx:
    image: &radio {ref}   # receiver: was a tag
    command: ["true"]
  tx:
    image: "images/{local}"
  probe: {{image: '{ref}', count: 1}}
  echo:
    image: *radio
"""


@pytest.mark.docker
def test_pin_rewrites_only_the_tag_and_then_has_nothing_to_do(
    tmp_path: Path,
    testbed: Testbed,
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
) -> None:
    name = docker_cleanup.unique("pinme")
    repo = make_repo(tmp_path, name)
    default = docker_clients["default"]
    built = build(
        default, repo, f"images/{name}", progress=lambda _: None, labels=docker_cleanup.labels
    )
    track(docker_cleanup, built)
    tagged = docker_cleanup.image(f"{testbed.registry}/{name}:v1")
    default.api.tag(built.image_id, f"{testbed.registry}/{name}", "v1")
    for chunk in default.api.push(f"{testbed.registry}/{name}", tag="v1", stream=True, decode=True):
        assert "error" not in chunk, chunk
    digest = registry_digest(testbed, name, "v1")
    docker_cleanup.manifest(name, digest)

    folder = repo.root / "experiments" / "pinned"
    folder.mkdir()
    scenario = folder / "experiment.yaml"
    original = SCENARIO.format(ref=tagged, local=name).replace("\n", "\r\n", 3)
    scenario.write_bytes(original.encode())
    changes = pin([], cwd=repo.root, testbed_file=testbed.testbed_file)

    pinned = f"{testbed.registry}/{name}@{digest}"
    assert changes == [
        f"experiments/pinned/experiment.yaml:7: {tagged} -> {pinned}",
        f"experiments/pinned/experiment.yaml:11: {tagged} -> {pinned}",
    ]
    expected = original.replace(f"&radio {tagged}   #", f"&radio {pinned}   #").replace(
        f"'{tagged}'", f"'{pinned}'"
    )
    assert scenario.read_bytes() == expected.encode()  # CRLF lines and comments kept
    assert oct(scenario.stat().st_mode & 0o777) == oct(0o644)
    assert pull_pinned(docker_clients["node1"], pinned, progress=lambda _: None) == built.image_id
    docker_cleanup.image(pinned)

    mtime = scenario.stat().st_mtime_ns
    assert pin([str(folder)], cwd=repo.root, testbed_file=testbed.testbed_file) == []
    assert scenario.stat().st_mtime_ns == mtime


@pytest.mark.docker
def test_pin_writes_nothing_when_a_tag_is_unknown(
    tmp_path: Path, testbed: Testbed, docker_cleanup: DockerCleanup
) -> None:
    name = docker_cleanup.unique("unknown")
    repo = make_repo(tmp_path, name)
    folder = repo.root / "experiments" / "pinned"
    folder.mkdir()
    scenario = folder / "experiment.yaml"
    text = SCENARIO.format(ref=f"{testbed.registry}/{name}:nope", local=name)
    scenario.write_text(text)
    with pytest.raises(FatalError, match=r"roles\.rx\.image: .*no such image or tag"):
        pin([], cwd=repo.root, testbed_file=testbed.testbed_file)
    assert scenario.read_text() == text
