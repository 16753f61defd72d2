"""Docker Engine or Podman: which one a node runs, and the rules that differ (no engine needed).

The same rules on the real Podman node: tests/podman/test_podman_runs.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from runner.engine.engine_kind import (
    DEFAULT_CAPABILITIES,
    DOCKER,
    INJECTED,
    PODMAN,
    drops_all_capabilities,
    hardening,
    kind_of,
    missing,
    podman_version_problem,
    version_problem,
)
from runner.pipeline.collect import change_roots


def podman_version(version: str) -> dict[str, Any]:
    """What Podman's Docker-compatible service answers to ``docker version`` (trimmed)."""
    return {
        "Version": version,
        "ApiVersion": "1.41",
        "Components": [
            {"Name": "Podman Engine", "Version": version, "Details": {"APIVersion": version}},
            {"Name": "Conmon", "Version": "conmon version 2.1.6"},
        ],
    }


DOCKER_VERSION = {
    "Version": "20.10.24+dfsg1",
    "Components": [{"Name": "Engine", "Version": "20.10.24+dfsg1"}],
}


def test_podman_is_told_from_docker_by_its_component() -> None:
    assert kind_of(podman_version("4.3.1")) == PODMAN
    assert kind_of(DOCKER_VERSION) == DOCKER
    assert kind_of({"Version": "4.3.1"}) == DOCKER  # no components: read as Docker


def test_podman_4_3_is_accepted_and_not_judged_by_docker_advisories() -> None:
    assert version_problem(podman_version("4.3.1")) is None
    assert podman_version_problem("4.3.1+ds1") is None
    # the same number from a Docker Engine is an old, unsafe Docker
    docker_problem = version_problem({"Version": "4.3.1"})
    assert docker_problem is not None and "CVE-2018-15664" in docker_problem


@pytest.mark.parametrize(
    ("version", "named"),
    [
        ("1.3.2", ["CVE-2019-10152", "CVE-2019-18466", "CVE-2022-27649"]),
        ("3.4.4", ["CVE-2022-27649"]),
        ("4.0.2", ["CVE-2022-27649"]),
        ("4.0.3-rc1", ["CVE-2022-27649"]),  # a pre-release of the fix lacks it
        ("3.4.7", []),  # fixed, but older than the release radiops runs on
    ],
)
def test_an_unsupported_podman_is_refused_with_the_minimum_and_its_flaws(
    version: str, named: list[str]
) -> None:
    problem = version_problem(podman_version(version))
    assert problem is not None
    assert f"Podman {version} is older than 4.0.3" in problem
    assert problem.endswith("upgrade Podman to 4.0.3 or later")
    for cve in ("CVE-2019-10152", "CVE-2019-18466", "CVE-2022-27649"):
        assert (cve in problem) == (cve in named), problem
    assert "Docker" not in problem and "\n" not in problem


def test_an_unreadable_podman_version_is_refused() -> None:
    problem = version_problem(podman_version("main-dev"))
    assert problem == "cannot tell which security fixes Podman 'main-dev' has; upgrade it"


def test_rootless_podman_on_cgroup_v1_is_refused_for_the_limits_it_cannot_enforce() -> None:
    rootless = {"SecurityOptions": ["name=seccomp,profile=default", "name=rootless"]}
    lacking = missing(PODMAN, {**rootless, "CgroupVersion": "1"})
    assert lacking is not None
    assert "cannot enforce the memory, CPU and process limits" in lacking
    assert "cgroup v2" in lacking
    assert missing(PODMAN, {**rootless, "CgroupVersion": "2"}) is None
    assert missing(PODMAN, {"SecurityOptions": ["name=seccomp"], "CgroupVersion": "1"}) is None
    assert missing(DOCKER, {**rootless, "CgroupVersion": "1"}) is None


def test_podmans_etc_is_injected_but_a_file_the_experiment_writes_there_is_kept() -> None:
    idle = [{"Path": "/etc", "Kind": 0}]
    assert change_roots(idle, INJECTED[PODMAN]) == []
    assert change_roots(idle, INJECTED[DOCKER]) == ["/etc"]  # Docker never reports it so
    wrote = [
        {"Path": "/etc", "Kind": 0},
        {"Path": "/etc/mine", "Kind": 1},
        {"Path": "/etc/hostname", "Kind": 0},
        {"Path": "/tmp", "Kind": 0},
        {"Path": "/tmp/d", "Kind": 1},
        {"Path": "/tmp/d/f", "Kind": 1},
    ]
    assert change_roots(wrote, INJECTED[PODMAN]) == ["/etc/hostname", "/etc/mine", "/tmp/d"]
    docker_init = [{"Path": "/sbin/docker-init", "Kind": 1}]
    assert change_roots(docker_init, INJECTED[DOCKER]) == []
    assert change_roots(docker_init, INJECTED[PODMAN]) == ["/sbin/docker-init"]


def test_a_drop_of_all_capabilities_reads_the_same_from_both_engines() -> None:
    listed = sorted(DEFAULT_CAPABILITIES)
    assert drops_all_capabilities(DOCKER, ["ALL"])
    assert drops_all_capabilities(PODMAN, ["ALL"])
    assert drops_all_capabilities(PODMAN, listed)
    assert drops_all_capabilities(PODMAN, [f"CAP_{c}" for c in listed])
    assert not drops_all_capabilities(PODMAN, [c for c in listed if c != "NET_RAW"])
    assert not drops_all_capabilities(DOCKER, listed)  # Docker echoes what it was asked
    assert not drops_all_capabilities(PODMAN, None)


def test_hardening_reads_podmans_words_as_dockers() -> None:
    docker_host = {
        "CapDrop": ["ALL"],
        "CapAdd": None,
        "SecurityOpt": ["no-new-privileges"],
        "Privileged": False,
        "IpcMode": "private",
        "PidMode": "",
        "UTSMode": "",
        "Init": True,
    }
    podman_host = {
        **docker_host,
        "CapDrop": sorted(DEFAULT_CAPABILITIES),
        "CapAdd": [],
        "IpcMode": "shareable",
        "PidMode": "private",
        "UTSMode": "private",
    }
    docker_posture = hardening(DOCKER, {"HostConfig": docker_host})
    podman_posture = hardening(PODMAN, {"HostConfig": podman_host})
    assert {**docker_posture, "engine": PODMAN} == podman_posture
    assert all(docker_posture[k] for k in ("all_capabilities_dropped", "private_ipc", "init"))
    # what Podman says is not what Docker would mean by it
    assert not hardening(DOCKER, {"HostConfig": podman_host})["private_ipc"]
    host_ipc = hardening(PODMAN, {"HostConfig": {**podman_host, "IpcMode": "host"}})
    assert not host_ipc["private_ipc"]
    host_pid = hardening(PODMAN, {"HostConfig": {**podman_host, "PidMode": "host"}})
    assert not host_pid["own_pid_namespace"]
