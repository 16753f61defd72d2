"""Wake the supervisor the moment a container exits, instead of at its next look."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from contextlib import suppress

from runner.engine.engines import ENGINE_ERRORS
from runner.engine.node import NodeContainer


class ExitWatch:
    """Wakes the supervisor when a container exits (a blocking ``wait`` each), not at its
    next look; a failed ``wait`` (the engine went away) too: ``reload`` then says why."""

    def __init__(self, containers: Iterable[NodeContainer]) -> None:
        self._woken = threading.Event()
        for container in containers:
            name = f"wait-{container.name}"
            threading.Thread(target=self._wait, args=(container,), daemon=True, name=name).start()

    def _wait(self, container: NodeContainer) -> None:
        try:
            with suppress(*ENGINE_ERRORS):
                container.wait()
        finally:
            self._woken.set()

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when a container exits meanwhile."""
        self._woken.wait(seconds)
        self._woken.clear()
