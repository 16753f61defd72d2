"""A dataset's URL is hostile: only http(s), no redirect elsewhere, a size cap, a hash check."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.engine.artifacts import ArtifactStore
from runner.engine.fetch import dataset_bytes, download
from runner.model.errors import EnvironmentProblem, InvalidInput
from runner.model.experiment import Dataset

BODY = b"a recorded capture\n" * 1000


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path in ("/to-file", "/to-ftp"):
            self.send_response(302)
            where = "file:///etc/passwd" if self.path == "/to-file" else "ftp://127.0.0.1/x"
            self.send_header("Location", where)
            self.end_headers()
            return
        self.send_response(200)
        if self.path != "/no-length":
            self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture
def base_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "data:,x"])
def test_only_http_and_https_are_opened(url: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="only http:// and https:// URLs are fetched"):
        download(url, tmp_path / "x", max_bytes=1 << 20, timeout_s=5)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("path", ["/to-file", "/to-ftp"])
def test_a_redirect_elsewhere_than_http_is_refused(
    path: str, base_url: str, tmp_path: Path
) -> None:
    with pytest.raises(EnvironmentProblem, match=rf"cannot fetch http://127\.0\.0\.1:\d+{path}"):
        download(f"{base_url}{path}", tmp_path / "x", max_bytes=1 << 20, timeout_s=5)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("path", ["/declared", "/no-length"])
def test_more_than_the_cap_is_refused_and_nothing_is_kept(
    path: str, base_url: str, tmp_path: Path
) -> None:
    with pytest.raises(EnvironmentProblem, match="more than the 1000 bytes a dataset may have"):
        download(f"{base_url}{path}", tmp_path / "x", max_bytes=1000, timeout_s=5)
    assert not (tmp_path / "x").exists()


def test_a_download_with_the_declared_hash_is_handed_on(base_url: str, tmp_path: Path) -> None:
    sha256 = hashlib.sha256(BODY).hexdigest()
    dataset = Dataset(name="capture", sha256=sha256, url=f"{base_url}/capture")
    store = ArtifactStore(tmp_path / "store")
    got = dataset_bytes(dataset, store, tmp_path)
    assert got.read_bytes() == BODY
    wrong = Dataset(name="capture", sha256="0" * 64, url=f"{base_url}/capture")
    with pytest.raises(InvalidInput, match=r"has sha256 .* not the declared 0000"):
        dataset_bytes(wrong, store, tmp_path)
    assert list(tmp_path.glob("0000*")) == []  # nothing half-fetched is kept


def test_a_damaged_store_object_is_never_used(tmp_path: Path) -> None:
    sha256 = hashlib.sha256(BODY).hexdigest()
    store = ArtifactStore(tmp_path / "store")
    store.path(sha256).parent.mkdir(parents=True)
    store.path(sha256).write_bytes(BODY + b"tampered")
    with pytest.raises(EnvironmentProblem, match="is damaged"):
        dataset_bytes(Dataset(name="capture", sha256=sha256), store, tmp_path)
    missing = Dataset(name="capture", sha256="1" * 64)
    with pytest.raises(InvalidInput, match=r"holds no object sha256:1111.*give the input a url"):
        dataset_bytes(missing, store, tmp_path)
