"""The security posture every container radiops starts begins from, in one place.

Run containers, the radio probe and the channel emulator all start from this
and add only what their node grants: capabilities and radio devices. Each
sets its own network (none unless granted; the emulator its run's internal one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def hardened(*, capabilities: Sequence[str] = (), devices: Sequence[str] = ()) -> dict[str, Any]:
    """``containers.create`` options: no capability but ``capabilities``, no new
    privileges, not privileged, a private IPC namespace, only ``devices`` (host
    paths, mapped to themselves), and an init as PID 1 (it passes signals on to a
    shell entry point, which would ignore them as PID 1, and reaps zombies)."""
    return {
        "cap_drop": ["ALL"],
        "cap_add": list(capabilities) or None,
        "security_opt": ["no-new-privileges"],
        "privileged": False,
        "devices": [f"{path}:{path}:rwm" for path in devices] or None,
        "ipc_mode": "private",
        "init": True,
    }
