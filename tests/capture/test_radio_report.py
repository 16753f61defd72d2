"""The simulated USRP's report of the libuhd an application opened it with.

The container writes it, so it is hostile input: a real container for what a
container can leave at the report's path, plain bytes for what the file may say.
"""

from __future__ import annotations

import docker
import pytest
from docker.models.containers import Container

from runner.model.radio_report import (
    MAX_BYTES,
    RADIO_REPORT,
    RADIO_REPORT_DIR,
    BadReport,
    DeviceReport,
    parse_report,
)
from runner.pipeline.collect import device_report
from tests.testing.containers import run
from tests.testing.testbed_fixtures import DockerCleanup

WRITTEN = b'{"device": "simulated USRP", "uhd_version": "4.3.0.0+ds1-5", "uhd_abi": "4.3.0"}\n'


def test_the_report_the_simulated_usrp_writes_is_read() -> None:
    assert parse_report(WRITTEN) == DeviceReport(uhd_version="4.3.0.0+ds1-5", uhd_abi="4.3.0")


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", '"device": "simulated USRP"'),
        (b'{"device": "X310", "uhd_version": "4.3", "uhd_abi": "4.3"}', '"device"'),
        (WRITTEN.replace(b"4.3.0.0+ds1-5", b"<script>"), "uhd_version must be a version"),
        (WRITTEN.replace(b'"4.3.0"', b"4"), "uhd_abi must be a version"),
        (WRITTEN.replace(b"4.3.0.0+ds1-5", b"4" * 200), "uhd_version must be a version"),
        (b" " * (MAX_BYTES + 1), f"over the limit of {MAX_BYTES}"),
    ],
)
def test_a_report_that_is_not_the_devices_is_refused(data: bytes, says: str) -> None:
    with pytest.raises(BadReport) as refused:
        parse_report(data)
    assert says in str(refused.value)


def ended(client: docker.DockerClient, cleanup: DockerCleanup, script: str) -> Container:
    """A container that made the report's folder, ran ``script`` and exited 0."""
    return run(client, cleanup, f"mkdir -p {RADIO_REPORT_DIR}\n{script}")


@pytest.mark.docker
@pytest.mark.parametrize(
    ("script", "says"),
    [
        (f"ln -s /etc/passwd {RADIO_REPORT}", "not a regular file"),
        (f"mkdir {RADIO_REPORT}", "not a regular file"),
        (f"head -c {MAX_BYTES + 1} /dev/zero > {RADIO_REPORT}", "over the limit"),
        (f"printf '{{\"device\": 1}}' > {RADIO_REPORT}", '"device": "simulated USRP"'),
    ],
)
def test_what_a_container_leaves_instead_of_a_report_is_refused(
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
    script: str,
    says: str,
) -> None:
    container = ended(docker_clients["default"], docker_cleanup, script)
    with pytest.raises(BadReport) as refused:
        device_report(container)
    assert says in str(refused.value)


@pytest.mark.docker
def test_a_report_is_read_from_the_container_and_its_absence_is_none(
    docker_clients: dict[str, docker.DockerClient], docker_cleanup: DockerCleanup
) -> None:
    client = docker_clients["default"]
    written = WRITTEN.decode().replace('"', '\\"')
    container = ended(client, docker_cleanup, f'printf "{written}" > {RADIO_REPORT}')
    assert device_report(container) == parse_report(WRITTEN)
    assert device_report(ended(client, docker_cleanup, "true")) is None
