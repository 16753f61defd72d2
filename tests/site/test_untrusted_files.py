"""Files a repository holds are published only as what their manifest says, never through a link.

Built for real by ``radiops site build``: a manifest that claims another
run's sha256 for other bytes, store objects with other bytes, links in the
artifact store (``.radiops/artifacts`` is repository content) and in run
directories, a store that is itself a link. None of them gets into the site;
each leaves a note on its run's page, and the rest of the site builds.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from runner.site.downloads import (
    NotPublished,
    check_file,
    open_below,
    publish,
    site_file,
)
from tests.testing.sites import add_run, add_store_output, build_site, make_example_site_repo

GREETING = b"hello\nhello\nhello\n"  # every example run's greeting.txt
GENUINE_RUN = "experiments/link/runs/20261122T101502Z-9f8e7d6c"
SECRET = b"root:x:0:0:root:/root:/bin/bash\n"  # a file of the building machine
REFUSED = "Files of this run not published"


def _site_files(site: Path) -> list[Path]:
    return [Path(folder) / name for folder, _, names in os.walk(site) for name in names]


def _assert_nothing_of(site: Path, secret: Path) -> None:
    """No link in the site, no file with the secret's bytes, none that is the secret's inode."""
    inode = secret.stat().st_ino
    for path in _site_files(site):
        status = path.lstat()
        assert not stat.S_ISLNK(status.st_mode), path
        assert status.st_ino != inode, path
        assert SECRET not in path.read_bytes(), path
    for folder, folders, _ in os.walk(site):
        for name in folders:
            assert not (Path(folder) / name).is_symlink()


def _page(site: Path, run_dir: Path) -> str:
    relative = run_dir.relative_to(run_dir.parents[3])
    return (site / relative / "index.html").read_text(encoding="utf-8")


def _secret(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "passwd"
    secret.write_bytes(SECRET)
    return secret


def test_a_manifest_cannot_put_its_bytes_under_another_runs_file(tmp_path: Path) -> None:
    repo = make_example_site_repo(tmp_path)
    # two runs whose greeting.txt holds other bytes than the sha256 their manifest
    # copied from the genuine runs: one sorts before every genuine run, one after
    forged = []
    for run_id in ("20200101T000000Z-00000001", "20991231T235959Z-00000002"):
        run_dir = add_run(repo, "sweep", run_id, point={"gain": 5})
        (run_dir / "outputs/hello/0/greeting.txt").write_bytes(b"<script>forged</script>\n")
        forged.append(run_dir)
    site, _ = build_site(repo)
    claimed = hashlib.sha256(GREETING).hexdigest()
    published = site / site_file(claimed, ".bin")
    assert published.read_bytes() == GREETING
    for path in _site_files(site / "files"):  # every published file has the bytes it is named by
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name.split(".")[0], path
    for run_dir in forged:
        page = _page(site, run_dir)
        assert REFUSED in page and "do not have the sha256 its manifest gives" in page
        assert 'download="greeting.txt"' not in page
    genuine = (site / GENUINE_RUN / "index.html").read_text(encoding="utf-8")
    assert 'download="greeting.txt"' in genuine and REFUSED not in genuine


def test_a_store_object_with_other_bytes_is_not_published(tmp_path: Path) -> None:
    repo = make_example_site_repo(tmp_path)
    run_dir = repo / GENUINE_RUN
    stored = add_store_output(repo, run_dir, "big.bin", b"the genuine output\n")
    kept = add_store_output(repo, run_dir, "kept.bin", b"another output\n")
    stored.write_bytes(b"other bytes\n")
    site, _ = build_site(repo)
    page = _page(site, run_dir)
    assert REFUSED in page and "output big.bin" in page and "do not have the sha256" in page
    assert not (site / site_file(stored.name, ".bin")).exists()
    assert (site / site_file(kept.name, ".bin")).read_bytes() == b"another output\n"
    assert 'download="kept.bin"' in page


def test_links_in_the_artifact_store_are_never_followed(tmp_path: Path) -> None:
    repo = make_example_site_repo(tmp_path)
    secret = _secret(tmp_path)
    run_dir = repo / GENUINE_RUN
    # the object itself a link; the manifest knows the secret's sha256 (the worst case)
    linked = add_store_output(repo, run_dir, "passwd", SECRET)
    linked.unlink()
    linked.symlink_to(secret)
    # a folder on the way a link, to a folder holding a file under the right name
    other = add_store_output(repo, run_dir, "other", SECRET + b"2")
    elsewhere = tmp_path / "outside" / "folder"
    elsewhere.mkdir()
    (elsewhere / other.name).write_bytes(SECRET + b"2")
    other.unlink()
    other.parent.rmdir()
    other.parent.symlink_to(elsewhere, target_is_directory=True)
    site, _ = build_site(repo)
    page = _page(site, run_dir)
    assert REFUSED in page
    assert f"sha256/{linked.name[:2]}/{linked.name} leads through a symbolic link" in page
    assert f"leads through a symbolic link ({other.name[:2]})" in page
    _assert_nothing_of(site, secret)
    assert not (site / site_file(linked.name, ".bin")).exists()


def test_a_default_store_that_is_a_link_is_not_read(tmp_path: Path) -> None:
    repo = make_example_site_repo(tmp_path)
    run_dir = repo / GENUINE_RUN
    elsewhere = tmp_path / "outside-store"
    stored = add_store_output(repo, run_dir, "out.bin", b"stored\n", store=elsewhere)
    (repo / ".radiops").mkdir()
    (repo / ".radiops/artifacts").symlink_to(elsewhere, target_is_directory=True)
    site, _ = build_site(repo)
    page = _page(site, run_dir)
    assert ".radiops/artifacts leads through a symbolic link" in page
    assert not (site / site_file(stored.name, ".bin")).exists()


def test_a_link_in_a_run_directory_is_not_published(tmp_path: Path) -> None:
    repo = make_example_site_repo(tmp_path)
    secret = _secret(tmp_path)
    run_dir = add_run(repo, "sweep", "20261124T000000Z-00000003", point={"gain": 5})
    log = run_dir / "logs/hello/0/stderr.log"
    log.unlink()
    log.symlink_to(secret)
    site, _ = build_site(repo)
    page = _page(site, run_dir)
    assert REFUSED in page and "logs/hello/0/stderr.log leads through a symbolic link" in page
    _assert_nothing_of(site, secret)


# ------------------------------------------------------------- the functions themselves


def _store(tmp_path: Path, data: bytes) -> tuple[Path, str]:
    digest = hashlib.sha256(data).hexdigest()
    obj = tmp_path / "store" / "sha256" / digest[:2] / digest
    obj.parent.mkdir(parents=True)
    obj.write_bytes(data)
    return tmp_path / "store", f"sha256/{digest[:2]}/{digest}"


def test_open_below_refuses_a_link_at_every_level(tmp_path: Path) -> None:
    root, relative = _store(tmp_path, b"x")
    os.close(open_below(root, relative))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_bytes(b"x")
    for level in ("sha256", "sha256/" + relative.split("/")[1], relative):
        moved = tmp_path / "moved"
        (root / level).rename(moved)
        (root / level).symlink_to(moved)
        with pytest.raises(NotPublished, match="leads through a symbolic link"):
            open_below(root, relative)
        (root / level).unlink()
        moved.rename(root / level)
    with pytest.raises(FileNotFoundError):
        open_below(root, "sha256/00/missing")
    for unsafe in ("../x", "sha256//x", "/etc/passwd", "sha256/./x"):
        with pytest.raises(NotPublished, match="unsafe path"):
            open_below(root, unsafe)


def test_check_file_hashes_the_bytes(tmp_path: Path) -> None:
    root, relative = _store(tmp_path, b"data")
    checked = check_file(root, relative, hashlib.sha256(b"data").hexdigest())
    assert checked.path == root / relative
    with pytest.raises(NotPublished, match="do not have the sha256"):
        check_file(root, relative, hashlib.sha256(b"other").hexdigest())
    with pytest.raises(NotPublished, match="too big"):
        check_file(root, relative, checked.sha256, max_bytes=3)
    os.mkfifo(tmp_path / "fifo")  # a pipe is refused, not waited on
    with pytest.raises(NotPublished, match="not a regular file"):
        check_file(tmp_path, "fifo", checked.sha256)


def test_publish_puts_the_checked_file_or_nothing(tmp_path: Path) -> None:
    root, relative = _store(tmp_path, b"data")
    checked = check_file(root, relative, hashlib.sha256(b"data").hexdigest())
    site = tmp_path / "site"
    target = site / "files/ab/x.bin"
    publish(checked, target)
    assert target.samefile(root / relative)  # the very file hashed, linked
    publish(checked, target)  # left by an earlier build: replaced
    assert target.samefile(root / relative)
    # replaced after the check by a file with the same bytes: a checked copy
    (root / relative).unlink()
    (root / relative).write_bytes(b"data")
    publish(checked, target)
    assert target.read_bytes() == b"data" and not target.samefile(root / relative)
    # by other bytes, or by a link: nothing
    for swap in ("bytes", "link"):
        target.unlink(missing_ok=True)
        (root / relative).unlink()
        if swap == "bytes":
            (root / relative).write_bytes(b"evil")
        else:
            (tmp_path / "secret").write_bytes(b"data")
            (root / relative).symlink_to(tmp_path / "secret")
        with pytest.raises(NotPublished):
            publish(checked, target)
        assert not target.exists() and not target.is_symlink()
        assert [p.name for p in target.parent.iterdir()] == []  # no temporary file left


def test_publish_copies_across_file_systems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, relative = _store(tmp_path, b"data")
    checked = check_file(root, relative, hashlib.sha256(b"data").hexdigest())

    def no_link(*args: object, **kwargs: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    target = tmp_path / "site/f.bin"
    publish(checked, target)
    assert target.read_bytes() == b"data" and not target.samefile(root / relative)
