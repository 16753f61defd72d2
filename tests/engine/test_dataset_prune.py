"""``radiops testbed prune-datasets`` on a real, fresh Docker engine: a used dataset volume
is kept, an old unused one is removed, --dry-run removes nothing, a half-filled one whose
fill helper is gone is removed. The rule itself, on facts: :func:`judge`."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.types import Mount

from localtestbed import Settings
from localtestbed.images import copy_image
from localtestbed.layout import BASE_IMAGE
from runner.engine.dataset_prune import FILL_GRACE_S, judge, plan_engine, prune
from runner.engine.datasets import (
    LABEL,
    USE_PREFIX,
    fill_volume,
    record_use,
    use_stamps,
    volume_name,
)
from runner.model.experiment import Dataset
from tests.testing.repos import commit_all, make_run_repo, radiops
from tests.testing.testbed_fixtures import Testbed

DAY = 86400.0
NOW = 1_800_000_000.0


def test_the_rule_keeps_what_is_mounted_recent_or_unreadable_and_removes_the_rest() -> None:
    old, recent = NOW - 40 * DAY, NOW - DAY
    facts = {"now": NOW, "keep_s": 30 * DAY, "created": old}
    assert judge(in_use=True, complete=True, last_used=old, **facts)[0] == "keep"
    assert judge(in_use=True, complete=False, last_used=None, **facts)[0] == "keep"
    assert judge(in_use=False, complete=True, last_used=recent, **facts)[0] == "keep"
    assert judge(in_use=False, complete=True, last_used=old, **facts)[0] == "remove"
    assert judge(in_use=False, complete=None, last_used=old, **facts)[0] == "keep"
    assert judge(in_use=False, complete=True, last_used=None, **facts)[0] == "keep"
    assert judge(in_use=False, complete=False, last_used=None, **facts)[0] == "remove"
    young = facts | {"created": NOW - FILL_GRACE_S / 2}
    assert judge(in_use=False, complete=False, last_used=None, **young)[0] == "keep"
    zero = facts | {"keep_s": 0.0}
    assert judge(in_use=False, complete=True, last_used=NOW - 1, **zero)[0] == "remove"


@pytest.fixture
def engine(fresh_engine: str) -> Iterator[tuple[str, docker.DockerClient]]:
    """A fresh engine with the base image (a helper needs an image to mount a volume)."""
    copy_image(Settings.from_env(), "fresh", fresh_engine)
    client = docker.DockerClient(base_url=fresh_engine, version="auto", timeout=120)
    try:
        yield fresh_engine, client
    finally:
        client.close()


def _dataset(client: docker.DockerClient, tmp_path: Path, name: str) -> Dataset:
    data = secrets.token_bytes(200_000)
    path = tmp_path / name
    path.write_bytes(data)
    dataset = Dataset(name=name, sha256=hashlib.sha256(data).hexdigest())
    fill_volume(client, dataset, BASE_IMAGE, path)
    return dataset


def _volumes(client: docker.DockerClient) -> set[str]:
    return {v.name for v in client.volumes.list()}


def test_prune_keeps_the_used_removes_the_old_and_a_dry_run_removes_nothing(
    testbed: Testbed, engine: tuple[str, docker.DockerClient], tmp_path: Path
) -> None:
    url, client = engine
    mounted, old, recent = (_dataset(client, tmp_path, n) for n in ("mounted", "old", "recent"))
    long_ago = time.time() - 40 * DAY
    record_use(client, mounted.sha256, at=long_ago)
    record_use(client, old.sha256, at=long_ago - DAY)
    record_use(client, old.sha256, at=long_ago)  # replaces the older stamp
    record_use(client, recent.sha256)
    assert len(use_stamps(client, old.sha256)) == 1
    mount = Mount(target="/in", source=volume_name(mounted.sha256), type="volume")
    holder = client.containers.create(BASE_IMAGE, ["true"], mounts=[mount])  # never started
    inventory = f"nodes:\n  n1:\n    engine: {url}\n"
    repo = make_run_repo(tmp_path, testbed=inventory)
    commit_all(repo, "an inventory of one fresh engine")
    everything = _volumes(client)

    dry = radiops(repo, "testbed", "prune-datasets", "--keep-days", "30", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert _volumes(client) == everything  # nothing removed
    assert f"would remove {volume_name(old.sha256)}" in dry.stdout
    assert "would remove 1 dataset volume(s)" in dry.stdout

    real = radiops(repo, "testbed", "prune-datasets", "--keep-days", "30")
    assert real.returncode == 0, real.stdout + real.stderr
    left = _volumes(client)
    assert volume_name(old.sha256) not in left
    assert not use_stamps(client, old.sha256)  # its stamp went with it
    assert {volume_name(mounted.sha256), volume_name(recent.sha256)} <= left
    assert f"removed {volume_name(old.sha256)}" in real.stdout
    (summary,) = [line for line in real.stdout.splitlines() if line.startswith("removed 1 ")]
    freed = int(summary.split("freed ")[1].split(" bytes")[0])
    assert freed >= 200_000  # the engine told the volume's size: at least its data
    assert f"kept {volume_name(mounted.sha256)}" in real.stdout

    holder.remove()  # no container mounts it any more: its old stamp decides
    again = radiops(repo, "testbed", "prune-datasets", "--keep-days", "30")
    assert again.returncode == 0, again.stdout + again.stderr
    assert volume_name(mounted.sha256) not in _volumes(client)
    assert volume_name(recent.sha256) in _volumes(client)
    assert all(not v.startswith(USE_PREFIX + mounted.sha256[:16]) for v in _volumes(client))


def test_a_half_filled_volume_is_removed_once_no_fill_helper_mounts_it(
    testbed: Testbed, engine: tuple[str, docker.DockerClient]
) -> None:
    url, client = engine
    sha256 = hashlib.sha256(b"never finished").hexdigest()
    name = volume_name(sha256)
    client.volumes.create(name=name, labels={LABEL: sha256})  # a fill that broke off
    mount = Mount(target="/radiops-fill", source=name, type="volume")
    helper = client.containers.create(BASE_IMAGE, ["true"], mounts=[mount], labels={LABEL: sha256})
    later = time.time() + 2 * FILL_GRACE_S  # past the grace a fill under way gets
    (verdict,) = plan_engine(client, url, keep_s=30 * DAY, now=later)
    assert verdict.action == "keep" and "mounted" in verdict.reason
    helper.remove()
    (young,) = plan_engine(client, url, keep_s=30 * DAY)
    assert young.action == "keep"  # just created: a fill may be about to mount it
    (verdict,) = plan_engine(client, url, keep_s=30 * DAY, now=later)
    assert verdict.action == "remove" and "half-filled" in verdict.reason
    (done,) = prune(client, [verdict])
    assert done.removed and name not in _volumes(client)
