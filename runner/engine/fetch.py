"""A dataset's bytes on the runner: from the artifact store, or downloaded from its URL.

The URL comes from a scenario, which a pull request may have written: it is
hostile. Only http and https are opened (no file:, ftp: or data:, and no
redirect to them), with a timeout on every read, an overall deadline and a
size cap. Nothing is handed on before its sha256 matched the one declared.
"""

from __future__ import annotations

import hashlib
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from runner.engine.artifacts import ArtifactStore
from runner.model.errors import EnvironmentProblem, InvalidInput
from runner.model.experiment import Dataset
from runner.model.remotes import without_credentials

DATASET_MAX_BYTES = 64 << 30
FETCH_TIMEOUT_S = 30.0  # per read of the connection
FETCH_DEADLINE_S = 3600.0  # for the whole download
CHUNK = 1 << 20
SCHEMES = ("http", "https")


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to another http(s) URL."""

    def redirect_request(  # type: ignore[override]
        self,
        req: urllib.request.Request,
        fp: BinaryIO,
        code: int,
        msg: str,
        headers: object,
        newurl: str,
    ) -> urllib.request.Request | None:
        if newurl.split(":", 1)[0].lower() not in SCHEMES:
            raise urllib.error.URLError(f"redirected to {newurl.split(':', 1)[0]}:, not http(s)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)  # type: ignore[arg-type]


def _opener() -> urllib.request.OpenerDirector:
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.HTTPDefaultErrorHandler(),
        _SafeRedirects(),
    ):
        opener.add_handler(handler)
    return opener


def source_of(dataset: Dataset) -> str:
    """Where a dataset comes from, as the manifest says it: store, or url."""
    return "url" if dataset.url else "store"


def dataset_bytes(
    dataset: Dataset,
    store: ArtifactStore,
    into: Path,
    *,
    max_bytes: int = DATASET_MAX_BYTES,
    timeout_s: float = FETCH_TIMEOUT_S,
) -> Path:
    """A file holding the dataset, its sha256 checked: the store's copy, else a download
    into the folder ``into``. InvalidInput on a hash mismatch; EnvironmentProblem when it
    cannot be had."""
    held = store.path(dataset.sha256)
    if held.is_file():
        with held.open("rb") as handle:
            digest = _hash(handle)
        if digest == dataset.sha256:
            return held
        if not dataset.url:
            raise EnvironmentProblem(
                f"input {dataset.name}: the artifact store's object {held} is damaged (its "
                f"sha256 is {digest}); remove it and store the dataset again"
            )
    if not dataset.url:
        raise InvalidInput(
            f"input {dataset.name}: the artifact store ({store.root}) holds no object "
            f"sha256:{dataset.sha256}; store it there, or give the input a url"
        )
    target = into / f"{dataset.sha256}.part"
    digest = download(dataset.url, target, max_bytes=max_bytes, timeout_s=timeout_s)
    if digest != dataset.sha256:
        target.unlink(missing_ok=True)
        raise InvalidInput(
            f"input {dataset.name}: {without_credentials(dataset.url)} has sha256 {digest}, "
            f"not the declared {dataset.sha256}; correct the sha256 or the url"
        )
    return target


def download(url: str, target: Path, *, max_bytes: int, timeout_s: float) -> str:
    """Save ``url`` (http or https only) to ``target``; its sha256. At most ``max_bytes``."""
    shown = without_credentials(url)
    if url.split(":", 1)[0].lower() not in SCHEMES:
        raise InvalidInput(f"input url {shown}: only http:// and https:// URLs are fetched")
    deadline = time.monotonic() + FETCH_DEADLINE_S
    digest = hashlib.sha256()
    size = 0
    try:
        with _opener().open(url, timeout=timeout_s) as response, target.open("wb") as out:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise EnvironmentProblem(f"{shown}: {declared} bytes, {_over(max_bytes)}")
            while chunk := response.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise EnvironmentProblem(f"{shown}: {_over(max_bytes)}")
                if time.monotonic() > deadline:
                    raise EnvironmentProblem(f"{shown}: not fetched within {FETCH_DEADLINE_S:.0f}s")
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        target.unlink(missing_ok=True)
        raise EnvironmentProblem(f"cannot fetch {shown}: {exc}") from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def _over(max_bytes: int) -> str:
    return f"more than the {max_bytes} bytes a dataset may have; split it"


def _hash(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()
