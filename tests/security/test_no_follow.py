"""The runner's writers walk from a trusted folder and never follow a link (issue, item 2).

The commands' view is in test_links.py; here the writers themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.engine.artifacts import ArtifactStore, artifact_store
from runner.model.files import LinkInTheWay, open_folder, write_atomic
from tests.testing.repos import repo_with_links


def test_the_store_and_atomic_writes_refuse_a_link_on_their_way(tmp_path: Path) -> None:
    repo, outside = repo_with_links(tmp_path, ".radiops")
    store = artifact_store(repo / ".radiops" / "artifacts", repo)
    with pytest.raises(LinkInTheWay, match=r"\.radiops: is a link or a file"):
        store.put([b"results"])
    with pytest.raises(LinkInTheWay):
        write_atomic(repo / ".radiops" / "probes.json", "{}\n", within=repo)
    assert list(outside.iterdir()) == []
    # a store given as its own root (an inventory's path) still works as before
    digest, size = ArtifactStore(tmp_path / "store").put([b"results"])
    assert (size, (tmp_path / "store").joinpath("sha256", digest[:2], digest).read_bytes()) == (
        7,
        b"results",
    )


@pytest.mark.parametrize("planted", ["a", "a/b"])
def test_open_folder_refuses_a_link_at_any_depth(tmp_path: Path, planted: str) -> None:
    base, outside = tmp_path / "base", tmp_path / "outside"
    outside.mkdir()
    (base / planted).parent.mkdir(parents=True)
    (base / planted).symlink_to(outside)
    with pytest.raises(LinkInTheWay, match=f"{base / planted}: is a link or a file"):
        open_folder(base, "a/b/c")
    assert list(outside.iterdir()) == []
