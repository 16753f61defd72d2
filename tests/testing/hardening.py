"""The hardening every run container has, as a test reads it from the engine."""

from __future__ import annotations

from typing import Any

from runner.engine.engine_kind import DOCKER, EngineKind, hardening


def assert_cannot_escalate(
    attrs: dict[str, Any], *, cap_add: list[str] | None, kind: EngineKind = DOCKER
) -> None:
    """The hardening every run container has, read from ``kind``'s inspect in its own words."""
    host = attrs["HostConfig"]
    assert hardening(kind, attrs) == {
        "engine": kind,
        "all_capabilities_dropped": True,
        "capabilities_added": sorted(cap_add or []),
        "no_new_privileges": True,
        "privileged": False,
        "private_ipc": True,
        "own_pid_namespace": True,
        "own_uts_namespace": True,
        "init": True,
    }
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["PidsLimit"] is not None and 0 < host["PidsLimit"] <= 100_000
    assert host["Memory"] > 0 and host["MemorySwap"] == host["Memory"]  # no swap on top
    assert not host["Binds"] and not host.get("VolumesFrom") and not host.get("Mounts")
    assert attrs["Mounts"] == []  # no docker socket, no host path, no volume
    assert not host["Devices"]
    assert not host.get("PortBindings")
    assert host["UsernsMode"] == ""
