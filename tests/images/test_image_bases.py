"""Images built FROM another image of the repository (runner/engine/image_bases.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.engine.build_context import ContextRefused, context_sha256
from runner.engine.image_bases import repo_bases, rewrite_from

DOCKERFILE = """\
# a comment: FROM images/not-this
FROM images/sdr-base AS build
RUN make
from --platform=linux/amd64 images/sdr-base
COPY --from=build /x /x
FROM debian:bookworm-slim
FROM images/sdr-base:latest
"""


def test_repository_bases_are_found_and_named_by_image_id() -> None:
    assert repo_bases(DOCKERFILE) == ["images/sdr-base"]
    sent = rewrite_from(DOCKERFILE, {"images/sdr-base": "sha256:" + "a" * 64})
    assert "FROM sha256:" + "a" * 64 + " AS build" in sent
    assert "from --platform=linux/amd64 sha256:" + "a" * 64 in sent
    assert "FROM images/not-this" in sent  # comments are left alone
    assert "FROM debian:bookworm-slim" in sent
    assert "FROM images/sdr-base:latest" in sent  # a tag: not a repository image


def test_a_base_change_changes_the_dependent_hash(tmp_path: Path) -> None:
    images = tmp_path / "images"
    (images / "base").mkdir(parents=True)
    (images / "app").mkdir()
    (images / "base" / "Dockerfile").write_text("FROM debian:bookworm-slim\n")
    (images / "app" / "Dockerfile").write_text("FROM images/base\n")
    before = context_sha256(images / "app")
    (images / "base" / "extra.txt").write_text("changed\n")
    assert context_sha256(images / "app") != before


def test_images_that_build_on_each_other_in_a_circle_are_refused(tmp_path: Path) -> None:
    images = tmp_path / "images"
    for name, base in (("a", "b"), ("b", "a")):
        (images / name).mkdir(parents=True)
        (images / name / "Dockerfile").write_text(f"FROM images/{base}\n")
    with pytest.raises(ContextRefused, match="images/a -> images/b -> images/a"):
        context_sha256(images / "a")
