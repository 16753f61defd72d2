"""Whether a testbed's registry can be reached from the runner's host."""

from __future__ import annotations

import urllib.error
import urllib.request

from runner.problems import printable
from runner.testbed import Registry


def registry_problem(registry: Registry, *, timeout: float = 10.0) -> str | None:
    """Why ``registry`` cannot be reached, or None when its API answers at all."""
    scheme = "http" if registry.insecure else "https"
    url = f"{scheme}://{registry.address}/v2/"
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 (an http(s) URL)
            return None
    except urllib.error.HTTPError:
        return None  # it answered (e.g. 401: it wants credentials)
    except (OSError, ValueError) as exc:
        return printable(str(getattr(exc, "reason", exc)))
