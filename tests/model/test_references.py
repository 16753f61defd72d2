"""The one image-reference parser and the one loopback rule (runner/model/references.py)."""

from __future__ import annotations

import pytest

from runner.model.references import (
    ImageReference,
    is_loopback,
    parse_reference,
    split_pinned,
    tag_of,
)

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (
            f"localhost:5000/x:ctx-1@{DIGEST}",
            ImageReference(
                name="localhost:5000/x",
                registry="localhost:5000",
                repository="x",
                tag="ctx-1",
                digest=DIGEST,
            ),
        ),
        (
            f"debian@{DIGEST}",
            ImageReference(
                name="debian",
                registry="docker.io",
                repository="library/debian",
                tag=None,
                digest=DIGEST,
            ),
        ),
        (
            "localhost/x",
            ImageReference(
                name="localhost/x", registry="localhost", repository="x", tag=None, digest=None
            ),
        ),
    ],
)
def test_parse_reference_splits_tag_and_digest(ref: str, expected: ImageReference) -> None:
    assert parse_reference(ref) == expected


def test_the_helpers_agree_with_the_parser() -> None:
    ref = f"reg.example.org/a/b:v2@{DIGEST}"
    assert split_pinned(ref) == ("reg.example.org/a/b", DIGEST)
    assert tag_of(ref) == "v2"
    assert tag_of("debian") == "latest"
    assert parse_reference("debian").host == "registry-1.docker.io"
    assert parse_reference("localhost:5000/x").host == "localhost:5000"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("127.0.0.1", True),
        ("127.3.4.5:5000", True),
        ("::1", True),
        ("[::1]", True),
        ("[::1]:5000", True),
        ("127.example.org", False),  # a name that starts like a loopback address is not one
        ("registry.example.org:5000", False),
        ("10.0.0.1", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
