"""Readiness probes: a Docker engine's API on its unix socket, a registry over HTTP."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.parse
import urllib.request

#: seconds a probe waits for an answer (a hung engine must not hang `up` or `status`)
PROBE_TIMEOUT_S = 10.0


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def socket_path(url: str) -> str:
    """``unix:///run/x/docker.sock`` -> ``/run/x/docker.sock``."""
    if not url.startswith("unix://"):
        raise ValueError(f"not a unix:// engine URL: {url}")
    return url.removeprefix("unix://")


def engine_get(url: str, path: str, timeout: float = PROBE_TIMEOUT_S) -> tuple[int, bytes]:
    """GET ``path`` of the Docker API at ``url``: status and body. Raises OSError."""
    connection = _UnixConnection(socket_path(url), timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    except http.client.HTTPException as exc:
        raise OSError(f"{url}: {exc}") from exc
    finally:
        connection.close()


def engine_answers(url: str) -> bool:
    """True when the engine at ``url`` answers its API; PermissionError passes through."""
    try:
        status, _body = engine_get(url, "/_ping")
    except PermissionError:
        raise
    except OSError:
        return False
    return status == 200


def image_id(url: str, reference: str) -> str | None:
    """The ID of image ``reference`` on the engine at ``url``, None when it has none."""
    try:
        status, body = engine_get(url, f"/images/{urllib.parse.quote(reference)}/json", 30)
    except OSError:
        return None
    if status != 200:
        return None
    identity = json.loads(body).get("Id")
    return identity if isinstance(identity, str) else None


def http_answers(url: str) -> bool:
    """True when ``url`` (on loopback) answers with a success."""
    try:
        with urllib.request.urlopen(url, timeout=3):  # noqa: S310 (http on loopback)
            return True
    except (urllib.error.URLError, OSError):
        return False
