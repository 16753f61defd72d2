"""Pure parts of a run: matrix expansion, --set, run ids, placement, container options."""

from __future__ import annotations

import importlib.util
import io
import json
import re
import sys
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runner.engine.execute import container_options, effective_limits, seed_archive
from runner.model.errors import UsageError
from runner.model.experiment import Experiment, load_experiment
from runner.model.limits import Limits
from runner.model.plan import expand, new_run_id, parse_overrides
from runner.model.schedule import place, unplaceable_reason
from runner.model.testbed import Node, Radio, local_default
from tests.testing.repos import PROJECT

SCENARIO = """\
name: sweep
description: a sweep
duration: 10s
parameters:
  gain: {type: number, default: 10, minimum: 0, maximum: 90}
  mode: {type: string, default: a, choices: [a, b]}
  seed: {type: integer, default: 1}
matrix:
  gain: [0, 30]
  mode: [a, b]
roles:
  tx:
    image: images/hello
    radio: {type: b210, frequency: 2.45e9, rate: 1e6}
    resources: {memory: 8G, cpus: 2}
    env: {LOG: debug}
  rx:
    image: images/hello
    count: 2
    tags: [indoor]
"""


@pytest.fixture
def sweep(scenario_in: Callable[[str, str], Path]) -> Experiment:
    return load_experiment(scenario_in("sweep", SCENARIO))


def nodes() -> list[Node]:
    return [
        Node(name="n1", engine="unix:///a", radios=(Radio(type="b210", devices=("/dev/x",)),)),
        Node(name="n2", engine="unix:///a", tags=("indoor",)),
        Node(name="n3", engine="unix:///b", tags=("indoor",), limits=Limits(memory_bytes=1 << 30)),
        Node(name="n4", engine="unix:///b", tags=("indoor",), capabilities=("SYS_NICE",)),
    ]


def test_matrix_expands_to_the_product_in_order(sweep: Experiment) -> None:
    plans = expand(sweep, {})
    assert [dict(p.matrix_point) for p in plans] == [
        {"gain": 0, "mode": "a"},
        {"gain": 0, "mode": "b"},
        {"gain": 30, "mode": "a"},
        {"gain": 30, "mode": "b"},
    ]
    assert plans[3].parameters == {"gain": 30, "mode": "b", "seed": 1}
    assert [i.key for i in plans[0].instances] == ["tx#0", "rx#0", "rx#1"]


def test_set_replaces_a_sweep_and_is_typed(sweep: Experiment) -> None:
    plans = expand(sweep, parse_overrides(["gain=45.5", "seed=7"], sweep))
    assert [dict(p.matrix_point) for p in plans] == [{"mode": "a"}, {"mode": "b"}]
    assert plans[0].parameters["gain"] == 45.5
    assert plans[0].parameters["seed"] == 7


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("gain", "expected NAME=VALUE"),
        ("gian=3", "has no parameter 'gian' (did you mean 'gain'?)"),
        ("gain=loud", "'loud' is not a number"),
        ("gain=91", "above the parameter's maximum 90"),
        ("mode=c", "not one of the parameter's choices"),
        ("seed=1.5", "'1.5' is not an integer"),
    ],
)
def test_bad_set_values_are_usage_errors(sweep: Experiment, pair: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        parse_overrides([pair], sweep)


def test_run_ids_sort_by_time_and_differ() -> None:
    early = new_run_id(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    late = new_run_id(datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC))
    assert re.fullmatch(r"20260102T030405Z-[0-9a-f]{8}", early)
    assert early < late
    assert len({new_run_id() for _ in range(1000)}) == 1000


def test_placement_uses_distinct_fitting_nodes(sweep: Experiment) -> None:
    plan = expand(sweep, {})[0]
    placement = place(plan, nodes())
    assert placement is not None
    assert {i.key: n.name for i, n in placement.items()}["tx#0"] == "n1"
    assert {i.key: n.name for i, n in placement.items()} == {
        "tx#0": "n1",
        "rx#0": "n2",
        "rx#1": "n3",
    }
    assert place(plan, nodes(), busy={"n1"}) is None
    assert place(plan, nodes(), busy={"n2", "n3"}) is None
    names = {n.name for n in (place(plan, nodes(), busy={"n2"}) or {}).values()}
    assert names == {"n1", "n3", "n4"}


def test_unplaceable_plans_say_why(sweep: Experiment) -> None:
    plan = expand(sweep, {})[0]
    assert unplaceable_reason(plan, nodes()) is None
    reason = unplaceable_reason(plan, nodes()[:2])
    assert reason == "role rx needs 2 node(s) and only 1 fit (n2)"
    local = list(local_default().nodes.values())
    assert unplaceable_reason(plan, local) == "role tx needs 1 node(s) and only 0 fit"


def test_container_options_are_hardened(sweep: Experiment) -> None:
    plan = expand(sweep, {})[0]
    tx, rx = plan.instances[0], plan.instances[1]
    n1, _, n3, n4 = nodes()
    options = container_options(plan, "RUN", tx, n1, "sha256:" + "a" * 64)
    assert options["cap_drop"] == ["ALL"]
    assert options["cap_add"] is None
    assert options["security_opt"] == ["no-new-privileges"]
    assert options["privileged"] is False
    assert options["network_mode"] == "none"
    assert options["mem_limit"] == options["memswap_limit"] == 8 << 30
    assert options["nano_cpus"] == 2_000_000_000
    assert options["pids_limit"] == 1024
    assert options["devices"] == ["/dev/x:/dev/x:rwm"]
    assert options["name"] == "radiops-node-n1"
    assert "volumes" not in options and "mounts" not in options
    env = options["environment"]
    assert env["RADIOPS_PARAM_GAIN"] == "0" and env["RADIOPS_PARAM_MODE"] == "a"
    assert env["RADIOPS_RADIO_FREQUENCY"] == "2450000000.0"
    assert env["RADIOPS_RADIO_TYPE"] == "b210" and env["LOG"] == "debug"
    assert options["labels"]["org.radiops.run"] == "RUN"
    # the node's limits cap the scenario's; the node's grants are the only capabilities
    assert effective_limits(plan.experiment.roles["tx"], n3).memory_bytes == 1 << 30
    rx_on_n4 = container_options(plan, "RUN", rx, n4, "sha256:" + "b" * 64)
    assert rx_on_n4["cap_add"] == ["SYS_NICE"]
    assert rx_on_n4["devices"] is None
    assert "RADIOPS_RADIO_TYPE" not in rx_on_n4["environment"]


def test_seed_archive_holds_parameters_and_a_writable_output_dir() -> None:
    with tarfile.open(fileobj=io.BytesIO(seed_archive({"gain": 3, "on": True}))) as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert members["radiops/out"].mode == 0o1777
        data = archive.extractfile(members["radiops/parameters.json"])
        assert data is not None
        assert json.loads(data.read()) == {"gain": 3, "on": True}


def test_change_roots_copy_every_change_and_nothing_unchanged() -> None:
    from runner.pipeline.runs import change_roots

    diff = [
        {"Path": "/etc", "Kind": 0},
        {"Path": "/etc/issue", "Kind": 0},  # a modified file
        {"Path": "/tmp", "Kind": 0},
        {"Path": "/tmp/new", "Kind": 1},  # an added tree: copied whole
        {"Path": "/tmp/new/a", "Kind": 1},
        {"Path": "/tmp/new/a/b", "Kind": 1},
        {"Path": "/var", "Kind": 0},
        {"Path": "/var/log", "Kind": 0},  # changed only by a deletion below: not copied whole
        {"Path": "/var/log/gone", "Kind": 2},  # deleted: nothing to copy
        {"Path": "/usr", "Kind": 0},
        {"Path": "/usr/sbin", "Kind": 0},
        {"Path": "/usr/sbin/docker-init", "Kind": 1},  # the engine's, not the experiment's
        {"Path": "/radiops", "Kind": 1},
        {"Path": "/radiops/out", "Kind": 1},
        {"Path": "/newfile", "Kind": 1},
    ]
    assert change_roots(diff) == ["/etc/issue", "/newfile", "/tmp/new"]


RADIO_SCENARIO = """\
name: tuned
description: a role with every radio setting
duration: 10s
roles:
  rx:
    image: images/hello
    radio: {type: b210, frequency: 915e6, rate: 2e6, gain: 31.5, antenna: RX2, channel: 1}
"""


def image_radio_settings() -> Any:
    """The sdr-base image's own reader of the contract (stdlib only, loaded from its file)."""
    path = PROJECT / "images" / "sdr-base" / "radiops_radio" / "settings.py"
    spec = importlib.util.spec_from_file_location("radiops_radio_settings", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module.RadioSettings


def test_the_radio_contract_the_runner_writes_is_what_the_image_reads(
    scenario_in: Callable[[str, str], Path],
) -> None:
    plan = expand(load_experiment(scenario_in("tuned", RADIO_SCENARIO)), {})[0]
    usrp = Radio(
        type="b210", serial="31ABCDE", args="type=b200,serial=31ABCDE", devices=("/dev/usb1",)
    )
    node = Node(name="bench", engine="unix:///a", radios=(usrp,))
    options = container_options(plan, "RUN", plan.instances[0], node, "sha256:" + "a" * 64)
    settings = image_radio_settings().from_env(options["environment"])
    assert (settings.frequency, settings.rate, settings.gain) == (915e6, 2e6, 31.5)
    assert (settings.antenna, settings.channel, settings.type) == ("RX2", 1, "b210")
    assert (settings.serial, settings.uhd_args) == ("31ABCDE", "type=b200,serial=31ABCDE")
    assert settings.simulated is False and settings.channel_rx is None
    assert options["devices"] == ["/dev/usb1:/dev/usb1:rwm"]
