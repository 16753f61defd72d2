"""The SDR base image (images/sdr-base), its radio probe, and runner.engine.probe.

The pure tests check how runner.engine.probe reads hostile probe output, compares it with
the inventory, caches it and shapes the probe container. The docker tests build
the image on the local testbed and run the real UHD, the SigMF writer and the
simulated radio's ZeroMQ wire format inside it, on every engine.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
import jsonschema
import pytest

from runner.engine.container_spec import SIMULATED_UHD_MODULES
from runner.engine.images import BuiltImage, build
from runner.engine.probe import (
    LABEL_PROBE,
    OPEN_TIMEOUT_S,
    ProbeFailed,
    engine_id,
    probe_node,
    probe_options,
)
from runner.engine.probe_cache import ProbeCache
from runner.engine.probe_result import OUTPUT_MAX_BYTES, Device, ProbeResult, compare, parse_output
from runner.engine.registry import pull_pinned, push
from runner.model.repo import Repository
from runner.model.schemas import load_schema
from runner.model.testbed import Node, Radio, Registry
from runner.pipeline.manifest_builder import radio_entry
from tests.testing.testbed_fixtures import PROJECT, DockerCleanup, Testbed

IMAGE = "images/sdr-base"
NOW = dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.UTC)
B210 = Radio(type="b210", serial="31ABCDE", args="type=b200,serial=31ABCDE",
             devices=("/dev/bus/usb/001/004",))  # fmt: skip
SIM = Radio(type="sim", serial="SIM1", simulated=True)
UHD_VERSION = re.compile(r"^\d+\.\d+\.\d+")


def node(*radios: Radio, name: str = "node1", **extra: Any) -> Node:
    return Node(name=name, engine="unix:///run/node1.sock", radios=radios, **extra)


def device(**fields: Any) -> dict[str, Any]:
    """One device as the probe prints it."""
    base: dict[str, Any] = {
        "type": "b200",
        "serial": "31ABCDE",
        "product": "B210",
        "name": None,
        "addr": None,
        "motherboard": "B210",
        "daughterboards": ["RX0: FE-RX2", "TX0: FE-TX2"],
        "fpga_version": "16.0",
        "firmware_version": "8.0",
        "error": None,
    }
    return {**base, **fields}


def output(devices: list[Any], **extra: Any) -> bytes:
    return json.dumps({"uhd_version": "4.3.0.0+ds1-5", "devices": devices, **extra}).encode()


# -- parsing hostile output (pure) ----------------------------------------------------


def test_parse_output_reads_a_probe_result() -> None:
    result = parse_output(output([device()]), probed_at=NOW)
    assert result.uhd_version == "4.3.0.0+ds1-5"
    assert result.probed_at == NOW
    (found,) = result.devices
    assert found == Device(
        type="b200",
        serial="31ABCDE",
        product="B210",
        motherboard="B210",
        daughterboards=("RX0: FE-RX2", "TX0: FE-TX2"),
        fpga_version="16.0",
        firmware_version="8.0",
    )
    assert result.describe() == "UHD 4.3.0.0+ds1-5: B210 (b200, serial 31ABCDE)"
    empty = parse_output(b'{"uhd_version": "4.3.0.0+ds1-5", "devices": []}\n', probed_at=NOW)
    assert empty.devices == ()
    assert empty.describe() == "UHD 4.3.0.0+ds1-5: no USRP found"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b" " * OUTPUT_MAX_BYTES + b"{}", "more than 65536 bytes"),
        (b"[INFO] [UHD] linux; GNU C++ version 12.2.0", "not one JSON object"),
        (b"", "not one JSON object"),
        (b"\xff\xfe{}", "not one JSON object"),
        (b'{"uhd_version": "4.3"} trailing', "not one JSON object"),
        (b"[" * 30_000 + b"]" * 30_000, "not one JSON object: nested too deeply"),
        (b'["4.3", []]', "a JSON list, not an object"),
        (b'"4.3"', "a JSON text, not an object"),
        (output([], uhd_version=4.3), "uhd_version: number where a non-empty text belongs"),
        (output([], uhd_version=""), "uhd_version: text where a non-empty text belongs"),
        (
            output([], uhd_version="4.3\x1b[2J"),
            "uhd_version: contains characters that are not printable",
        ),
        (output([], uhd_version="4" * 300), "uhd_version: 300 characters"),
        (b'{"uhd_version": "4.3", "devices": {}}', "devices: a object, not a list"),
        (b'{"uhd_version": "4.3"}', "the probe result: missing devices"),
        (output([], extra=1), 'the probe result: unknown "extra"'),
        (b'{"uhd_version": "4.3", "uhd_version": "5", "devices": []}', "appears twice"),
        (b'{"uhd_version": "4.3", "devices": [NaN]}', "NaN is not JSON"),
        (output([device()] * 65), "devices: 65 of them, more than 64"),
        (output(["b210"]), r"devices\[0\]: a text, not an object"),
        (output([device(serial=31)]), r"devices\[0\].serial: number where a text or null"),
        (output([device(serial=True)]), r"devices\[0\].serial: boolean where"),
        (
            output([device(error="no\ndevice")]),
            r"devices\[0\].error: contains characters that are not printable",
        ),
        (output([device(daughterboards="RX0")]), r"devices\[0\].daughterboards: not a list"),
        (output([device(daughterboards=[None])]), r"daughterboards\[0\]: null where a non-empty"),
        (output([{"type": "b200"}]), r"devices\[0\]: missing addr, daughterboards, error"),
        (output([device(__proto__={})]), r'devices\[0\]: unknown "__proto__"'),
    ],
    ids=lambda value: repr(value)[:40] if isinstance(value, bytes) else None,
)
def test_parse_output_refuses_hostile_output(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_output(raw, probed_at=NOW)


# -- against the inventory (pure) -----------------------------------------------------


def result_of(*devices: Device) -> ProbeResult:
    return ProbeResult(uhd_version="4.3.0.0+ds1-5", devices=devices, probed_at=NOW)


def test_compare_names_node_and_radio_when_no_usrp_is_found() -> None:
    assert compare(node(B210), result_of()) == [
        "node node1: testbed.yaml lists a b210 radio (serial 31ABCDE) but the probe found no USRP"
    ]
    untyped = Radio(type="x310")
    assert compare(node(untyped), result_of()) == [
        "node node1: testbed.yaml lists a x310 radio but the probe found no USRP"
    ]


def test_compare_needs_nothing_of_simulated_radios() -> None:
    assert compare(node(SIM), result_of()) == []
    assert compare(node(), result_of()) == []


def test_compare_matches_by_serial_else_by_type() -> None:
    b210 = Device(type="b200", serial="31abcde", product="B210")
    x310 = Device(type="x300", serial="F00D", product="X310", addr="192.168.40.2")
    assert compare(node(B210, Radio(type="x310"), SIM), result_of(x310, b210)) == []

    other = Device(type="b200", serial="3000001", product="B210")
    assert compare(node(B210), result_of(other)) == [
        "node node1: testbed.yaml lists a b210 radio (serial 31ABCDE) but the probe found "
        "only B210 (b200, serial 3000001)"
    ]
    # a device serves one radio: the serial-listed radio keeps its own
    two = node(Radio(type="b210"), B210)
    assert compare(two, result_of(b210)) == [
        "node node1: testbed.yaml lists a b210 radio but the probe found only "
        "B210 (b200, serial 31abcde)"
    ]


def test_compare_reports_a_device_that_does_not_open_or_is_another_model() -> None:
    broken = Device(type="b200", serial="31ABCDE", product="B210", error="USB open failed")
    assert compare(node(B210), result_of(broken)) == [
        "node node1: a b210 radio (serial 31ABCDE) was found (B210 (b200, serial 31ABCDE)) "
        "but does not open: USB open failed"
    ]
    b200 = Device(type="b200", serial="31ABCDE", product="B200mini")
    assert compare(node(B210), result_of(b200)) == [
        "node node1: testbed.yaml lists a b210 radio (serial 31ABCDE), but the device with "
        "that serial is a B200mini (b200, serial 31ABCDE)"
    ]


# -- the container and the cache (pure) -----------------------------------------------


def test_what_the_probe_found_is_recorded_with_the_placement() -> None:
    b210 = Radio(type="b210", serial="31ABCDE", args="type=b200,serial=31ABCDE")
    found = Device(**{**device(), "daughterboards": ("RX0: FE-RX2", "TX0: FE-TX2")})
    entry = radio_entry(b210, result_of(found))
    assert entry == {
        "type": "b210",
        "serial": "31ABCDE",
        "simulated": False,
        "args": "type=b200,serial=31ABCDE",
        "uhd_version": "4.3.0.0+ds1-5",
        "probed_at": "2026-01-31T12:00:00.000Z",
        "motherboard": "B210",
        "fpga_version": "16.0",
        "firmware_version": "8.0",
        "daughterboards": ["RX0: FE-RX2", "TX0: FE-TX2"],
    }
    definitions = load_schema("manifest")["$defs"]
    radio_schema = {"$ref": "#/$defs/radio", "$defs": definitions}
    jsonschema.Draft202012Validator(radio_schema).validate(entry)
    # another radio's probe, or none, records the inventory's word only
    other = radio_entry(b210, result_of(Device(**{**device(), "serial": "3000000"})))
    assert other == {"type": "b210", "serial": "31ABCDE", "simulated": False, "args": b210.args}
    assert radio_entry(b210, None) == other


def test_probe_options_give_the_nodes_devices_and_network_only() -> None:
    options = probe_options(node(B210, SIM), "img@sha256:" + "a" * 64, labels={"x": "y"})
    assert options["network_mode"] == "none"
    assert options["devices"] == ["/dev/bus/usb/001/004:/dev/bus/usb/001/004:rwm"]
    assert options["cap_drop"] == ["ALL"]
    assert options["cap_add"] is None
    assert options["security_opt"] == ["no-new-privileges"]
    assert options["privileged"] is False
    assert options["read_only"] is True
    assert options["pids_limit"] and options["mem_limit"]
    assert options["labels"] == {"x": "y", LABEL_PROBE: "node1"}
    assert options["entrypoint"] == ["/usr/local/bin/radiops-probe"]
    assert options["command"][-2:] == ["--args", "type=b200,serial=31ABCDE"]

    # the simulated radio is found through UHD as a role finds it (images/sdr-base/sim_usrp)
    assert options["environment"]["UHD_MODULE_PATH"] == SIMULATED_UHD_MODULES
    assert options["environment"]["RADIOPS_RADIO_SIMULATED"] == "true"
    assert options["environment"]["RADIOPS_NODE"] == "node1"

    networked = node(Radio(type="x310", args="addr=192.168.40.2"), network="usrp-net")
    options = probe_options(networked, "img")
    assert options["network_mode"] == "usrp-net"
    assert options["devices"] is None
    assert options["environment"] == {}  # a real radio only: nothing of the simulation


def test_probe_cache_keeps_a_result_while_node_engine_and_age_allow(tmp_path: Path) -> None:
    cache = ProbeCache(tmp_path / "cache" / "probes.json")
    found = result_of(Device(type="b200", serial="31ABCDE", product="B210"))
    one = node(B210)
    assert cache.get(one, engine_id="E1", probe_image="I1", max_age_s=600, now=NOW) is None
    cache.put(one, engine_id="E1", probe_image="I1", result=found)
    later = NOW + dt.timedelta(seconds=300)
    assert cache.get(one, engine_id="E1", probe_image="I1", max_age_s=600, now=later) == found
    assert (
        cache.get(one, engine_id="E1", probe_image="I1", max_age_s=60, now=later) is None
    )  # too old
    assert (
        cache.get(one, engine_id="E2", probe_image="I1", max_age_s=600, now=later) is None
    )  # reinstalled
    assert (
        cache.get(one, engine_id="E1", probe_image="I2", max_age_s=600, now=later) is None
    )  # new probe
    changed = node(dataclasses.replace(B210, serial="3000001"))
    assert cache.get(changed, engine_id="E1", probe_image="I1", max_age_s=600, now=later) is None
    assert (
        cache.get(
            node(B210, name="node2"), engine_id="E1", probe_image="I1", max_age_s=600, now=later
        )
        is None
    )

    cache.put(node(name="node2"), engine_id="E9", probe_image="I1", result=result_of())
    assert (
        cache.get(one, engine_id="E1", probe_image="I1", max_age_s=600, now=later) == found
    )  # both kept

    cache.path.write_text("{not json")
    assert cache.get(one, engine_id="E1", probe_image="I1", max_age_s=600, now=later) is None
    cache.put(one, engine_id="E1", probe_image="I1", result=found)  # a corrupt cache is rewritten
    assert cache.get(one, engine_id="E1", probe_image="I1", max_age_s=600, now=later) == found

    data = json.loads(cache.path.read_text())
    data["nodes"]["node1"]["result"]["devices"][0]["serial"] = "\x1b[2J"
    cache.path.write_text(json.dumps(data))
    assert cache.get(one, engine_id="E1", probe_image="I1", max_age_s=600, now=later) is None


# -- the image on the local testbed ---------------------------------------------------


@pytest.fixture(scope="module")
def sdr_base(docker_clients: dict[str, docker.DockerClient]) -> BuiltImage:
    """images/sdr-base on the default engine; kept afterwards, like the base image.

    The first build downloads UHD, numpy and ZeroMQ from Debian; later ones find
    the image by its context hash and skip the build.
    """
    start = time.monotonic()
    built = build(
        docker_clients["default"], Repository(root=PROJECT), IMAGE, progress=lambda _: None
    )
    seconds = time.monotonic() - start
    size = docker_clients["default"].images.get(built.image_id).attrs["Size"]
    print(
        f"{IMAGE}: {'built' if built.built else 'unchanged, skipped'} in {seconds:.1f}s, "
        f"{size / 1e6:.0f} MB"
    )
    return built


@pytest.fixture(scope="module")
def pinned(
    sdr_base: BuiltImage, testbed: Testbed, docker_clients: dict[str, docker.DockerClient]
) -> Iterator[dict[str, str]]:
    """The image pushed to the registry and pulled by digest on every engine, as a run would.

    Pushed under a name of its own, so removing it afterwards touches nobody else's.
    """
    cleanup = DockerCleanup(clients=docker_clients, registry_url=testbed.registry_url)
    name = cleanup.unique("sdr-base")
    unique = dataclasses.replace(sdr_base, image=f"images/{name}")
    ref = push(
        docker_clients["default"],
        unique,
        Registry(address=testbed.registry, insecure=True),
        progress=lambda _: None,
    )
    cleanup.image(ref)
    cleanup.image(f"{testbed.registry}/{name}:ctx-{sdr_base.context_sha256[:12]}")
    cleanup.manifest(name, ref.split("@", 1)[1])
    try:
        for engine in testbed.node_engines:
            assert pull_pinned(docker_clients[engine], ref, progress=lambda _: None)
        yield {engine: ref for engine in testbed.engines}
    finally:
        errors = cleanup.cleanup()
        assert not errors, errors


def run_python(
    client: docker.DockerClient,
    image: str,
    code: str,
    cleanup: DockerCleanup,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> tuple[int, str, str]:
    """Run ``python3 -c code`` in a hardened container of ``image``: status, stdout, stderr."""
    container = client.containers.create(
        image,
        ["python3", "-c", code],
        environment=dict(env or {}),
        labels=cleanup.labels,
        detach=True,
        network_mode="none",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        read_only=True,
        tmpfs={"/tmp": "rw,size=64m,mode=1777"},
        pids_limit=256,
        mem_limit=512 * 1024 * 1024,
        init=True,
    )
    try:
        container.start()
        status = container.wait(timeout=timeout)
        out = container.logs(stdout=True, stderr=False).decode()
        err = container.logs(stdout=False, stderr=True).decode()
    finally:
        container.remove(force=True)
    return int(status["StatusCode"]), out, err


def report_of(result: tuple[int, str, str]) -> dict[str, Any]:
    status, out, err = result
    assert status == 0, f"exit status {status}\n{err}"
    loaded: dict[str, Any] = json.loads(out)
    return loaded


@pytest.mark.docker
def test_image_is_unprivileged_and_carries_uhd(
    sdr_base: BuiltImage,
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
) -> None:
    client = docker_clients["default"]
    config = client.images.get(sdr_base.image_id).attrs["Config"]
    assert config["User"] == "65534:65534"
    assert not config.get("Entrypoint")
    code = "import json, os, uhd; print(json.dumps([os.getuid(), [str(d) for d in uhd.find('')]]))"
    status, out, err = run_python(client, sdr_base.image_id, code, docker_cleanup)
    assert status == 0, f"exit status {status}\n{err}"
    assert json.loads(out) == [65534, []]


@pytest.mark.docker
def test_probe_runs_real_uhd_on_every_engine_and_finds_no_usrp(
    pinned: dict[str, str],
    testbed: Testbed,
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
) -> None:
    assert set(pinned) == {"default", "node1", "node2"}
    for engine, ref in pinned.items():
        client = docker_clients[engine]
        here = Node(name=engine, engine=testbed.engines[engine])
        start = time.monotonic()
        result = probe_node(client, here, ref, labels=docker_cleanup.labels)
        seconds = time.monotonic() - start
        print(f"{engine}: probe in {seconds:.1f}s: {result.describe()}")
        # no USRP: nothing waits on a device's open (each allowed OPEN_TIMEOUT_S)
        assert seconds < OPEN_TIMEOUT_S, f"{engine}: the probe took {seconds:.1f}s"
        assert result.devices == ()
        assert UHD_VERSION.match(result.uhd_version), result.uhd_version
        assert result.describe() == f"UHD {result.uhd_version}: no USRP found"
        assert abs((dt.datetime.now(dt.UTC) - result.probed_at).total_seconds()) < 120
        assert seconds < 30
        assert client.containers.list(all=True, filters={"label": LABEL_PROBE}) == []

        # a simulated radio is found through UHD: the simulated USRP of images/sdr-base
        simulated = Node(name=engine, engine=testbed.engines[engine], radios=(SIM,))
        found = probe_node(client, simulated, ref, labels=docker_cleanup.labels)
        (device,) = found.devices
        assert (device.type, device.serial, device.name) == ("radiops-sim", "SIM1", engine)
        assert device.product == "simulated" and device.error is None
        assert compare(simulated, found) == []  # a simulated radio needs no USRP

        claimed = Node(name=engine, engine=testbed.engines[engine], radios=(B210,))
        assert compare(claimed, result) == [
            f"node {engine}: testbed.yaml lists a b210 radio (serial 31ABCDE) but the probe "
            "found no USRP"
        ]
        assert len(engine_id(client)) > 10


@pytest.mark.docker
def test_probe_failures_are_clear(
    sdr_base: BuiltImage,
    testbed: Testbed,
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
) -> None:
    client = docker_clients["node2"]
    here = Node(name="node2", engine=testbed.engines["node2"])
    missing = f"{testbed.registry}/nothing@sha256:{'0' * 64}"
    with pytest.raises(ProbeFailed, match=r"node node2: the probe image .* is not on its engine"):
        probe_node(client, here, missing)
    # a USB radio whose device node does not exist on the node cannot even start
    absent = Node(name="default", engine=testbed.default_engine, radios=(B210,))
    with pytest.raises(ProbeFailed, match=r"node default: .*/dev/bus/usb/001/004"):
        probe_node(
            docker_clients["default"], absent, sdr_base.image_id, labels=docker_cleanup.labels
        )
    with pytest.raises(ProbeFailed, match=r"node default: the probe did not finish within 0.2 s"):
        probe_node(
            docker_clients["default"],
            dataclasses.replace(absent, radios=()),
            sdr_base.image_id,
            timeout_s=0.2,
            labels=docker_cleanup.labels,
        )
    assert docker_clients["default"].containers.list(all=True, filters={"label": LABEL_PROBE}) == []


FAKE_UHD = r"""
import time

class _Address:
    def __init__(self, fields):
        self.fields = fields
    def to_dict(self):
        return dict(self.fields)

FOUND = [
    {"type": "b200", "serial": "31ABCDE", "product": "B210", "name": "lab-b210"},
    {"type": "x300", "serial": "HANGS01", "product": "X310", "addr": "192.168.40.2"},
]
BY_ARGS = {"serial=BROKEN1": [{"type": "b200", "serial": "BROKEN1", "product": "B200"}]}

def find(args):
    return [_Address(f) for f in (FOUND if args == "" else BY_ARGS.get(args, []))]

class _Value:
    def __init__(self, value):
        self.value = value
    def get(self):
        return self.value

class _Tree:
    VALUES = {"/mboards/0/fpga_version": "16.0", "/mboards/0/fw_version": "8.0"}
    def exists(self, path):
        return path in self.VALUES
    def access_str(self, path):
        return _Value(self.VALUES[path])

class usrp:
    class MultiUSRP:
        def __init__(self, args):
            if "HANGS01" in args:
                time.sleep(600)
            if "BROKEN1" in args:
                raise RuntimeError("RuntimeError: USB open failed:\n    insufficient permissions")
            print("[INFO] [B200] Detected Device: B210")  # drivers print to stdout
        def get_mboard_name(self, mboard):
            return "B210"
        def get_rx_num_channels(self):
            return 2
        def get_tx_num_channels(self):
            return 1
        def get_usrp_rx_info(self, chan):
            return {"mboard_id": "B210", "rx_subdev_name": f"FE-RX{2 - chan}"}
        def get_usrp_tx_info(self, chan):
            return {"mboard_id": "B210", "tx_id": "B210 (0x0021)", "tx_serial": "DB1"}
        def get_tree(self):
            return _Tree()
"""

RUN_WITH_FAKE_UHD = f"""
import os, pathlib
pathlib.Path("/tmp/fake/uhd").mkdir(parents=True)
pathlib.Path("/tmp/fake/uhd/__init__.py").write_text({FAKE_UHD!r})
os.environ["PYTHONPATH"] = "/tmp/fake"
probe = "/usr/local/bin/radiops-probe"
os.execv(probe, [probe, "--open-timeout", "3", "--args", "serial=BROKEN1"])
"""


@pytest.mark.docker
def test_probe_reports_each_device_even_one_that_hangs_or_fails(
    sdr_base: BuiltImage,
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
) -> None:
    """No USRP is attached here: a stand-in for UHD's find and MultiUSRP drives the
    probe's device path (identity, child processes, deadline, errors) for real."""
    start = time.monotonic()
    status, out, err = run_python(
        docker_clients["default"], sdr_base.image_id, RUN_WITH_FAKE_UHD, docker_cleanup
    )
    seconds = time.monotonic() - start
    assert status == 0, err
    assert "Detected Device: B210" in err  # a driver's stdout never reaches the JSON
    result = parse_output(out.encode(), probed_at=NOW)
    assert seconds < 20
    assert result.uhd_version == "unknown"  # the stand-in has no libuhd to ask
    b210, x310, b200 = result.devices
    assert b210 == Device(
        type="b200",
        serial="31ABCDE",
        product="B210",
        name="lab-b210",
        motherboard="B210",
        daughterboards=("RX0: FE-RX2", "RX1: FE-RX1", "TX0: B210 (0x0021) (DB1)"),
        fpga_version="16.0",
        firmware_version="8.0",
    )
    assert x310.addr == "192.168.40.2"
    assert x310.error == (
        "opening it with 'type=x300,serial=HANGS01,addr=192.168.40.2' did not finish within 3.0 s"
    )
    assert b200.error == (
        "cannot open it with 'type=b200,serial=BROKEN1': RuntimeError: USB open failed: "
        "insufficient permissions"
    )
    inventory = node(
        B210,
        Radio(type="x310", serial="HANGS01"),
        Radio(type="b200", serial="BROKEN1"),
        Radio(type="b210", serial="GONE001"),
        SIM,
    )
    assert compare(inventory, result) == [
        "node node1: a x310 radio (serial HANGS01) was found (X310 (x300, serial HANGS01, at "
        "192.168.40.2)) but does not open: " + str(x310.error),
        "node node1: a b200 radio (serial BROKEN1) was found (B200 (b200, serial BROKEN1)) but "
        "does not open: " + str(b200.error),
        "node node1: testbed.yaml lists a b210 radio (serial GONE001) but the probe found only "
        "B210 (b200, serial 31ABCDE), X310 (x300, serial HANGS01, at 192.168.40.2), "
        "B200 (b200, serial BROKEN1)",
    ]


SIGMF_ROUND_TRIP = r"""
import datetime as dt, json, os, numpy as np
from radiops_radio import SigMFError, read_recording, write_recording
rng = np.random.default_rng(7)
samples = (rng.normal(size=50_000) + 1j * rng.normal(size=50_000)).astype(np.complex64)
meta_path, data_path = write_recording(
    "/tmp/out/captures/tone.sigmf-data", samples, sample_rate=2e6, center_frequency=915e6,
    datetime=dt.datetime(2026, 1, 31, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    hw="USRP B210", run_id="20260131T120000Z-1a2b3c4d", description="round trip")
meta, back = read_recording(meta_path)
report = {
    "paths": [str(meta_path), str(data_path)],
    "meta": meta,
    "equal": bool(np.array_equal(back, samples)),
    "dtype": str(back.dtype),
    "raw": data_path.read_bytes() == samples.astype("<c8").tobytes(),
    "modes": [oct(os.stat(p).st_mode & 0o777) for p in (meta_path, data_path)],
    "leftovers": sorted(os.listdir("/tmp/out/captures")),
}
with open(data_path, "r+b") as data:
    data.write(b"\0" * 8)
try:
    read_recording(meta_path)
except SigMFError as exc:
    report["tampered"] = str(exc)
print(json.dumps(report))
"""


@pytest.mark.docker
def test_sigmf_round_trip_in_the_image(
    sdr_base: BuiltImage,
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
) -> None:
    report = report_of(
        run_python(docker_clients["default"], sdr_base.image_id, SIGMF_ROUND_TRIP, docker_cleanup)
    )
    assert report["paths"] == [
        "/tmp/out/captures/tone.sigmf-meta",
        "/tmp/out/captures/tone.sigmf-data",
    ]
    assert report["equal"] and report["raw"] and report["dtype"] == "complex64"
    assert report["modes"] == ["0o644", "0o644"]
    assert report["leftovers"] == ["tone.sigmf-data", "tone.sigmf-meta"]
    meta = report["meta"]
    assert meta["captures"] == [
        {
            "core:sample_start": 0,
            "core:frequency": 915e6,
            "core:datetime": "2026-01-31T12:00:00.000000Z",
        }
    ]
    assert meta["annotations"] == []
    core = meta["global"]
    assert core["core:datatype"] == "cf32_le"
    assert core["core:sample_rate"] == 2e6
    assert core["core:version"] == "1.0.0"
    assert core["core:hw"] == "USRP B210"
    assert core["core:recorder"] == "radiops"
    assert core["core:description"] == "round trip"
    assert core["radiops:run_id"] == "20260131T120000Z-1a2b3c4d"
    assert {"name": "radiops", "version": "1.0.0", "optional": True} in core["core:extensions"]
    assert re.fullmatch(r"[0-9a-f]{128}", core["core:sha512"])
    assert "do not match core:sha512" in report["tampered"]


RADIO_ERRORS = r"""
import json
from radiops_radio import RadioError, RadioSettings, RadioSettingsError, open_radio
report = {}
try:
    RadioSettings.from_env({"RADIOPS_RADIO_RATE": "fast", "RADIOPS_RADIO_CHANNEL": "-1",
                            "RADIOPS_RADIO_SIMULATED": "maybe"})
except RadioSettingsError as exc:
    report["settings"] = str(exc)
settings = RadioSettings.from_env()
report["device_args"] = settings.device_args
report["gain"] = settings.gain
try:
    open_radio()  # a real radio, and no USRP attached
except RadioError as exc:
    report["real"] = str(exc)
try:
    open_radio(RadioSettings(frequency=1e9, rate=1e6, simulated=True))
except RadioError as exc:
    report["sim"] = str(exc)
print(json.dumps(report))
"""


@pytest.mark.docker
def test_radio_settings_and_opening_errors_are_clear(
    sdr_base: BuiltImage,
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
) -> None:
    env = {
        "RADIOPS_RADIO_FREQUENCY": "2.45e9",
        "RADIOPS_RADIO_RATE": "1e6",
        "RADIOPS_RADIO_SIMULATED": "false",
        "RADIOPS_RADIO_SERIAL": "31ABCDE",
    }
    report = report_of(
        run_python(
            docker_clients["default"], sdr_base.image_id, RADIO_ERRORS, docker_cleanup, env=env
        )
    )
    assert report["settings"] == (
        "radio settings: RADIOPS_RADIO_FREQUENCY is not set: give the role a radio with this "
        "setting in experiment.yaml (radio: {frequency: ..., rate: ...}); "
        "RADIOPS_RADIO_RATE='fast': not a number; RADIOPS_RADIO_CHANNEL='-1': must be 0 or "
        "more; RADIOPS_RADIO_SIMULATED='maybe': must be true or false"
    )
    assert report["device_args"] == "serial=31ABCDE"  # no UHD_ARGS: the serial picks the USRP
    assert report["gain"] is None
    assert report["real"].startswith(
        "cannot open the USRP (UHD device arguments 'serial=31ABCDE'): "
    )
    assert "No devices found" in report["real"]
    # a simulated radio is UHD's too: without the simulated USRP's module path, UHD finds none
    assert report["sim"].startswith("cannot open the simulated USRP (UHD device arguments ''): ")
    assert report["sim"].endswith(
        "(UHD_MODULE_PATH is not set: radiops sets it in the container of a role whose radio "
        "is simulated, and libuhd loads the simulated USRP from there)"
    )


FAKE_UHD_STREAMING = r"""
import enum

CALLS = []

class StreamMode(enum.Enum):
    start_cont = 0
    stop_cont = 1
    num_done = 2
    num_more = 3

class RXMetadataErrorCode(enum.Enum):
    none = 0
    timeout = 1
    overflow = 8

class RXMetadata:
    def __init__(self):
        self.error_code = RXMetadataErrorCode.none
    def strerror(self):
        return f"ERROR_CODE_{self.error_code.name.upper()}"

class TXMetadata:
    def __init__(self):
        self.start_of_burst = self.end_of_burst = self.has_time_spec = False

class StreamCMD:
    def __init__(self, mode):
        self.mode, self.num_samps, self.stream_now = mode, 0, False

class TuneRequest:
    def __init__(self, frequency):
        self.frequency = frequency

class types:
    pass

for _name in ("StreamMode", "RXMetadataErrorCode", "RXMetadata", "TXMetadata", "StreamCMD",
              "TuneRequest"):
    setattr(types, _name, globals()[_name])

class _RX:
    overflow_after = None
    def __init__(self):
        self.next, self.calls = 0, 0
    def get_max_num_samps(self):
        return 1000
    def issue_stream_cmd(self, command):
        CALLS.append(("stream", command.mode.name, command.num_samps, command.stream_now))
    def recv(self, buffer, metadata, timeout):
        self.calls += 1
        if self.calls == 1:  # the first packet takes a while
            metadata.error_code = RXMetadataErrorCode.timeout
            return 0
        if self.overflow_after is not None and self.next >= self.overflow_after:
            metadata.error_code = RXMetadataErrorCode.overflow
            return 0
        metadata.error_code = RXMetadataErrorCode.none
        count = buffer.shape[1]
        buffer[0, :] = range(self.next, self.next + count)
        self.next += count
        return count

class _TX:
    def get_max_num_samps(self):
        return 1000
    def send(self, data, metadata, timeout):
        CALLS.append(("send", data.shape[1], metadata.start_of_burst, metadata.end_of_burst,
                      float(data[0, 0].real) if data.shape[1] else None))
        return data.shape[1]

class StreamArgs:
    def __init__(self, cpu, otw):
        self.cpu, self.otw, self.channels = cpu, otw, []

class MultiUSRP:
    def __init__(self, args):
        CALLS.append(("open", args))
    def __getattr__(self, name):
        def call(*args):
            CALLS.append((name, *[getattr(a, "frequency", a) for a in args]))
            if name.endswith("_num_channels"):
                return 2
            if name.endswith("_antennas"):
                return ["TX/RX", "RX2"] if name.startswith("get_rx") else ["TX/RX"]
            if name.endswith("_stream"):
                CALLS[-1] = (name, args[0].cpu, args[0].otw, args[0].channels)
                return _RX() if name.startswith("get_rx") else _TX()
        return call

class usrp:
    pass

usrp.MultiUSRP, usrp.StreamArgs = MultiUSRP, StreamArgs
"""

UHD_RADIO_WITH_FAKE = f"""
import json, pathlib, sys
import numpy as np
pathlib.Path("/tmp/fake/uhd").mkdir(parents=True)
pathlib.Path("/tmp/fake/uhd/__init__.py").write_text({FAKE_UHD_STREAMING!r})
sys.path.insert(0, "/tmp/fake")
import uhd
from radiops_radio import RadioError, RadioSettings, open_radio
report = {{}}
settings = RadioSettings(frequency=2.45e9, rate=1e6, gain=30, antenna="RX2", channel=1,
                         uhd_args="type=b200,serial=31ABCDE")
with open_radio(settings) as radio:
    report["radio"] = type(radio).__name__
    got = radio.receive(2500)
    report["rx"] = [str(got.dtype), bool(np.array_equal(got.real, np.arange(2500)))]
    try:
        radio.transmit(np.ones(2500, dtype=np.complex64))
    except RadioError as exc:
        report["tx_antenna"] = str(exc)
tx = RadioSettings(frequency=2.45e9, rate=1e6, antenna="TX/RX", uhd_args="type=b200")
with open_radio(tx) as radio:
    radio.transmit(np.arange(1500, dtype=np.complex64))
    radio.transmit(np.arange(10, dtype=np.complex64))
uhd._RX.overflow_after = 2000
with open_radio(tx) as radio:
    try:
        radio.receive(5000)
    except RadioError as exc:
        report["overflow"] = str(exc)
report["calls"] = uhd.CALLS
print(json.dumps(report))
"""


@pytest.mark.docker
def test_uhd_radio_tunes_streams_and_bursts_through_the_uhd_api(
    sdr_base: BuiltImage,
    docker_clients: dict[str, docker.DockerClient],
    docker_cleanup: DockerCleanup,
) -> None:
    """No USRP here: a stand-in with pyuhd's names records what UhdRadio asks of UHD."""
    report = report_of(
        run_python(
            docker_clients["default"], sdr_base.image_id, UHD_RADIO_WITH_FAKE, docker_cleanup
        )
    )
    assert report["radio"] == "UhdRadio"
    assert report["rx"] == ["complex64", True]
    assert report["tx_antenna"] == (
        "RADIOPS_RADIO_ANTENNA=RX2 is no TX port of channel 1; it has TX/RX"
    )
    assert report["overflow"] == (
        "receiving failed after 2000 of 5000 samples: ERROR_CODE_OVERFLOW (samples were lost: "
        "the capture is not contiguous)"
    )
    calls = [tuple(call) for call in report["calls"]]
    first_rx = calls[: calls.index(("stream", "num_done", 2500, True)) + 1]
    assert first_rx == [
        ("open", "type=b200,serial=31ABCDE"),
        ("get_rx_num_channels",),
        ("set_rx_rate", 1e6, 1),
        ("set_rx_freq", 2.45e9, 1),
        ("set_rx_gain", 30, 1),
        ("get_rx_antennas", 1),
        ("set_rx_antenna", "RX2", 1),
        ("get_rx_stream", "fc32", "sc16", [1]),
        ("stream", "num_done", 2500, True),
    ]
    sends = [call[1:] for call in calls if call[0] == "send"]
    assert sends == [
        (1000, True, False, 0.0),  # one burst over both transmit() calls
        (500, False, False, 1000.0),
        (10, False, False, 0.0),
        (1, False, True, 0.0),  # close() ends it
    ]
    assert ("stream", "stop_cont", 0, False) in calls  # the failed capture is stopped
