"""The simulated USRP in an image not built on images/sdr-base.

images/trixie-uhd is Debian trixie with trixie's own UHD (4.8; images/sdr-base
is bookworm with UHD 4.3). It builds the simulated USRP from the source and
recipe images/sdr-base ships (/usr/local/share/radiops/sim_usrp/build.sh),
against its own libuhd, and installs it where radiops points UHD_MODULE_PATH.
Its unchanged uhd-host programs then use a simulated radio in a run, next to
images/sdr-base's. Without the module built in, trixie's UHD finds no device
and the run's trixie roles fail.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import docker
import numpy as np
import pytest

from runner.engine.container_spec import SIMULATED_UHD_MODULES
from runner.engine.images import build
from runner.model.repo import Repository
from tests.testing.radios import SIMULATED_B210, placement, simulated_run
from tests.testing.repos import commit_all, copy_from_project, git
from tests.testing.testbed_fixtures import Testbed, run_testbed

pytestmark = pytest.mark.docker

HERE = Path(__file__).resolve().parent / "foreign"
FOREIGN = "images/trixie-uhd"
#: UHD's banner, e.g. "UHD_4.8.0.0+ds1-2" (Debian) or "UHD_4.3.0.0-0-g1234abcd"
UHD_BANNER = re.compile(r"UHD_(\d+\.\d+\.\d+)")


@pytest.fixture(scope="module")
def repo(testbed: Testbed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # the foreign image's base, another Debian release (made once, then cached)
    made = run_testbed("image", "trixie")
    if made.returncode != 0:
        pytest.fail(f"no debian:trixie-slim: {made.describe()}", pytrace=False)
    repo = tmp_path_factory.mktemp("foreign") / "foreign-lab"
    for name in ("sdr-base", "channel"):
        copy_from_project(f"images/{name}", repo / "images" / name)
    shutil.copytree(HERE / "images", repo / "images", dirs_exist_ok=True)
    shutil.copytree(HERE / "experiments", repo / "experiments")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "an image of another distribution")
    return repo


def uhd_versions(text: str) -> set[str]:
    return set(UHD_BANNER.findall(text))


def test_the_foreign_image_builds_the_module_against_its_own_uhd(
    docker_clients: dict[str, docker.DockerClient], repo: Path
) -> None:
    client = docker_clients["default"]
    built = build(client, Repository(root=repo), FOREIGN, progress=lambda _: None)
    assert built.base_image is not None and built.base_image.ref == "debian:trixie-slim"
    sdr_base = build(client, Repository(root=repo), "images/sdr-base", progress=lambda _: None)

    def find_devices(environment: dict[str, str], image: str = built.image_id) -> str:
        output: bytes = client.containers.run(
            image,
            ["sh", "-c", "uhd_config_info --version; uhd_find_devices; true"],
            environment=environment,
            network_mode="none",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            remove=True,
            stdout=True,
            stderr=True,
        )
        return output.decode()

    simulated = find_devices(SIMULATED_B210)
    assert simulated.count("-- UHD Device ") == 1, simulated
    assert "serial: 3141ABC" in simulated and "product: simulated" in simulated
    # the image's own UHD, not images/sdr-base's
    base_uhd = uhd_versions(find_devices(SIMULATED_B210, sdr_base.image_id))
    assert len(uhd_versions(simulated)) == len(base_uhd) == 1
    assert uhd_versions(simulated) != base_uhd, (simulated, base_uhd)
    # it is the module that answers: without UHD_MODULE_PATH, trixie's UHD finds nothing
    real = {k: v for k, v in SIMULATED_B210.items() if k != "UHD_MODULE_PATH"}
    assert "-- UHD Device " not in find_devices(real)
    assert SIMULATED_B210["UHD_MODULE_PATH"] == SIMULATED_UHD_MODULES


def test_foreign_uhd_programs_send_and_receive_beside_sdr_base(repo: Path) -> None:
    run_dir, manifest = simulated_run(repo, "uhd-foreign")
    rx = placement(manifest, "rx-trixie")
    logs = run_dir / "logs"
    log = (logs / "rx-trixie-0.stdout").read_text() + (logs / "rx-trixie-0.stderr").read_text()
    # trixie's uhd_find_devices and uhd_usrp_probe see the one simulated device
    assert log.count("-- UHD Device ") == 1, log[:3000]
    assert f"serial: {rx['radio']['serial']}" in log
    assert "Device: Simulated USRP (radiops channel emulator)" in log
    # two UHD versions took part: trixie's in the trixie roles, bookworm's in sdr-base's
    base_log = "".join(path.read_text() for path in logs.glob("tx-base-0.*"))
    foreign_log = "".join(path.read_text() for path in logs.glob("tx-trixie-0.*"))
    (base_uhd,) = uhd_versions(base_log)
    (foreign_uhd,) = uhd_versions(foreign_log) | uhd_versions(log)
    assert base_uhd != foreign_uhd, (base_uhd, foreign_uhd)

    (capture,) = run_dir.glob("outputs/rx-trixie-0/rx.dat")
    samples = np.fromfile(capture, np.complex64)
    assert len(samples) == 100_000
    spectrum = np.abs(np.fft.fft(samples))
    frequencies = np.fft.fftfreq(len(samples), 1e-6)
    # each tx_waveforms tuned above the scenario's 915 MHz at run time and sent a 25 kHz
    # tone from its 8192-entry wave table (205 entries a sample: 25.0244 kHz): the
    # receiver at 915 MHz hears sdr-base's at 125.0244 kHz and trixie's at 225.0244 kHz
    tone = 205 / 8192 * 1e6
    strongest = frequencies[np.argsort(spectrum)[-2:]]
    assert sorted(strongest) == [
        pytest.approx(100e3 + tone, abs=10),
        pytest.approx(200e3 + tone, abs=10),
    ], strongest
    # tones, not noise: both peaks stand far above the rest
    assert np.sort(spectrum)[-2] ** 2 > 1000 * np.median(spectrum) ** 2
