"""Which engine answers on a node's socket, and where radiops treats Podman unlike Docker.

A node's engine is Docker Engine or Podman serving its Docker-compatible API
(``podman system service``). Both take the same requests; they differ in what
they report and inject, and in their security history:

* **version and advisories**: Podman reports its own version (4.3.1), which is
  no Docker Engine release: Docker's ``docker cp`` advisories
  (:mod:`runner.engine.advisories`) apply to Docker only, Podman's own below
  to Podman;
* **what the engine injects**: Docker adds its init (``/sbin/docker-init``);
  Podman writes ``/etc/hosts``, ``/etc/resolv.conf`` and ``/etc/hostname`` as
  mounts, so every container's diff reports ``/etc`` itself as changed;
* **how it reports hardening**: Docker echoes ``CapDrop: ["ALL"]`` and
  ``IpcMode: "private"``; Podman lists each dropped capability by name and
  says ``"shareable"`` (a private IPC namespace all the same), ``"private"``
  for the PID and UTS namespaces Docker leaves empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from runner.engine.advisories import Advisory, Version, engine_version_problem, parse_version

EngineKind = Literal["docker", "podman"]
DOCKER: EngineKind = "docker"
PODMAN: EngineKind = "podman"
PODMAN_COMPONENT = "Podman Engine"

#: The oldest Podman radiops runs on. Podman 3 rewrote ``podman cp`` and the
#: archive endpoints radiops copies through on a copier that resolves paths
#: inside the container's root (chrooted); the 4.x series is the one radiops is
#: tested on (Debian 12's 4.3), and the first 4.x release with every fix below is 4.0.3.
PODMAN_MINIMUM: Version = (4, 0, 3)

#: Podman's own flaws on the paths radiops uses: copying into and out of a
#: container (the archive endpoints) and the privileges a container starts with.
#: Not listed, as radiops does not use them: CVE-2023-0778 (``podman volume
#: export``), CVE-2022-1227 (``podman top``), CVE-2021-20199 (rootless port forwarding).
PODMAN_ADVISORIES = (
    Advisory(
        cve="CVE-2019-10152",
        summary="podman cp resolves symlinks in the container on the host: reads and writes "
        "host files",
        fixed=((1, 4, 0),),
    ),
    Advisory(
        cve="CVE-2019-18466",
        summary="podman cp from a container resolves a symlink in the host's context",
        fixed=((1, 6, 0),),
    ),
    Advisory(
        cve="CVE-2022-27649",
        summary="containers start with non-empty inheritable capabilities",
        fixed=((3, 4, 7), (4, 0, 3)),
    ),
)

#: Docker's default capability set: what Podman lists by name for a drop of ALL.
DEFAULT_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
        "NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
    }
)  # fmt: skip

#: Paths a container's diff reports changed that the engine made, not the experiment.
#: Podman's ``/etc`` is only ever reported this way when nothing below it changed:
#: a file the experiment writes there is reported itself and is still captured.
INJECTED: Mapping[EngineKind, frozenset[str]] = {
    DOCKER: frozenset({"/sbin/docker-init", "/usr/sbin/docker-init"}),
    PODMAN: frozenset({"/etc"}),
}

#: What each engine reports for a private IPC namespace and for the host's PID and
#: UTS namespaces not being shared.
_PRIVATE_IPC: Mapping[EngineKind, frozenset[str]] = {
    DOCKER: frozenset({"private"}),
    PODMAN: frozenset({"private", "shareable"}),
}
_OWN_NAMESPACE: Mapping[EngineKind, frozenset[str]] = {
    DOCKER: frozenset({""}),
    PODMAN: frozenset({"", "private"}),
}


def kind_of(version: Mapping[str, Any]) -> EngineKind:
    """The engine that answered ``docker version`` with ``version``."""
    return PODMAN if _podman_version(version) is not None else DOCKER


def _podman_version(version: Mapping[str, Any]) -> str | None:
    for component in version.get("Components") or ():
        if isinstance(component, Mapping) and component.get("Name") == PODMAN_COMPONENT:
            return str(component.get("Version") or version.get("Version") or "")
    return None


def version_problem(version: Mapping[str, Any]) -> str | None:
    """Why the engine that answered ``version`` must not run untrusted containers; None if none."""
    podman = _podman_version(version)
    if podman is None:
        return engine_version_problem(str(version.get("Version", "")))
    return podman_version_problem(podman)


def podman_version_problem(version: str) -> str | None:
    """Why Podman ``version`` must not run radiops' containers; None if it may."""
    parsed = parse_version(version)
    if parsed is None:
        return f"cannot tell which security fixes Podman '{version}' has; upgrade it"
    release, prerelease = parsed
    flaws = [a for a in PODMAN_ADVISORIES if a.affects(release, prerelease=prerelease)]
    too_old = release < PODMAN_MINIMUM or (release == PODMAN_MINIMUM and prerelease)
    if not flaws and not too_old:
        return None
    minimum = ".".join(map(str, PODMAN_MINIMUM))
    text = f"Podman {version} is older than {minimum}, the oldest release radiops runs on"
    if flaws:
        listed = "; ".join(f"{a.cve} ({a.summary})" for a in flaws)
        text += f", and has known flaws: {listed}"
    return f"{text}; upgrade Podman to {minimum} or later"


def missing(kind: EngineKind, info: Mapping[str, Any]) -> str | None:
    """What radiops needs that the engine described by ``docker info`` lacks; None if nothing.

    Rootless Podman on cgroup v1 cannot set the memory, CPU and process limits
    every run container gets: the engine would accept them and enforce none.
    """
    if kind != PODMAN:
        return None
    options = [str(option) for option in info.get("SecurityOptions") or ()]
    rootless = any(option.startswith("name=rootless") for option in options)
    if rootless and str(info.get("CgroupVersion", "")) == "1":
        return (
            "rootless Podman on cgroup v1 cannot enforce the memory, CPU and process limits "
            "radiops gives every container; run the Podman service as root, or boot the "
            "node with cgroup v2 (systemd.unified_cgroup_hierarchy=1)"
        )
    return None


def drops_all_capabilities(kind: EngineKind, cap_drop: Sequence[str] | None) -> bool:
    """Whether ``HostConfig.CapDrop`` of an inspect says every capability was dropped."""
    dropped = {str(c).upper().removeprefix("CAP_") for c in cap_drop or ()}
    return "ALL" in dropped or (kind == PODMAN and dropped >= DEFAULT_CAPABILITIES)


def hardening(kind: EngineKind, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The security posture a container's inspect reports, in the same words for every engine."""
    host: Mapping[str, Any] = attrs.get("HostConfig") or {}
    return {
        "engine": kind,
        "all_capabilities_dropped": drops_all_capabilities(kind, host.get("CapDrop")),
        "capabilities_added": sorted(host.get("CapAdd") or []),
        "no_new_privileges": "no-new-privileges" in (host.get("SecurityOpt") or []),
        "privileged": bool(host.get("Privileged")),
        "private_ipc": host.get("IpcMode") in _PRIVATE_IPC[kind],
        "own_pid_namespace": (host.get("PidMode") or "") in _OWN_NAMESPACE[kind],
        "own_uts_namespace": (host.get("UTSMode") or "") in _OWN_NAMESPACE[kind],
        "init": bool(host.get("Init")),
    }
