"""The simulated medium of a run (runner/engine/medium.py) and its placement rule: pure,
no Docker."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.engine.channel import endpoints
from runner.engine.container_spec import SIMULATED_UHD_MODULES, container_options
from runner.engine.medium import channel_config, simulated_radios
from runner.model.errors import InvalidInput
from runner.model.experiment import PACINGS, Experiment, load_experiment
from runner.model.plan import expand
from runner.model.schedule import place, unplaceable_reason
from runner.model.testbed import ChannelSettings, LinkSettings, Node, Radio
from tests.testing.testbed_fixtures import PROJECT

SCENARIO = """\
name: link
description: a link
duration: 10s
roles:
  tx:
    image: images/hello
    radio: {frequency: 2.45e9, rate: 1e6, direction: tx}
  rx:
    image: images/hello
    count: 2
    radio: {frequency: 2.4501e9, rate: 1e6}
  relay:
    image: images/hello
    radio: {frequency: 2.45e9, rate: 1e6, direction: both}
  logger:
    image: images/hello
"""


def sim(name: str, engine: str = "unix:///one") -> Node:
    return Node(name=name, engine=engine, radios=(Radio(type="sim", simulated=True),))


REAL = [Node(name=f"n{i}", engine="unix:///a", radios=(Radio(type="b210"),)) for i in range(5)]


@pytest.fixture
def link(scenario_in: Callable[[str, str], Path]) -> Experiment:
    return load_experiment(scenario_in("link", SCENARIO))


def test_directions_decide_ports_and_links_follow_the_inventory(link: Experiment) -> None:
    plan = expand(link, {})[0]
    nodes = [sim(f"n{i}") for i in range(1, 6)]
    placement = place(plan, nodes)
    assert placement is not None
    where = {instance.slug: node.name for instance, node in placement.items()}
    settings = ChannelSettings(
        noise_floor_dbfs=-90.0,
        path_loss_db=50.0,
        links={(where["tx-0"], where["rx-1"]): LinkSettings(path_loss_db=20.0, delay_samples=7)},
    )
    config = channel_config(plan, placement, settings, seed=42)
    assert config is not None
    assert config.tx == ("relay-0", "tx-0")
    assert config.rx == ("relay-0", "rx-0", "rx-1")  # rx is the default direction
    assert config.seed == 42 and config.noise_floor_dbfs == -90.0 and config.sample_rate == 1e6
    assert "relay-0" not in config.links["relay-0"]  # nobody hears itself
    to_rx1 = config.links["tx-0"]["rx-1"]
    assert (to_rx1.gain_db, to_rx1.delay_samples) == (-20.0, 7)
    # rx is tuned 100 kHz above tx: the tone lands 100 kHz below the receiver's centre
    assert config.links["tx-0"]["rx-0"].gain_db == -50.0
    assert config.links["tx-0"]["rx-0"].frequency_offset_hz == pytest.approx(-100e3)
    assert config.links["tx-0"]["relay-0"].frequency_offset_hz == 0.0
    assert [r.instance.role for r in simulated_radios(plan, placement)].count("logger") == 0


def test_containers_with_simulated_radios_join_the_channel_network_only(link: Experiment) -> None:
    plan = expand(link, {})[0]
    placement = place(plan, [sim(f"n{i}") for i in range(1, 6)])
    assert placement is not None
    config = channel_config(plan, placement, ChannelSettings(), seed=1)
    assert config is not None
    channel = endpoints("run1", config)
    options = {
        instance.slug: container_options(plan, "run1", instance, node, "sha256:x", channel)
        for instance, node in placement.items()
    }
    assert options["tx-0"]["network_mode"] == "radiops-run-run1"
    assert options["tx-0"]["environment"]["RADIOPS_CHANNEL_TX"].endswith(":5601")
    assert "RADIOPS_CHANNEL_RX" not in options["tx-0"]["environment"]
    assert options["rx-1"]["environment"]["RADIOPS_CHANNEL_RX"].endswith(":5702")
    assert options["relay-0"]["environment"]["RADIOPS_CHANNEL_TX"].endswith(":5600")
    assert options["logger-0"]["network_mode"] == "none"  # no radio: no network at all
    assert not any(k.startswith("RADIOPS_CHANNEL") for k in options["logger-0"]["environment"])
    # libuhd finds the simulated USRP in simulated radio roles only
    assert options["rx-1"]["environment"]["UHD_MODULE_PATH"] == SIMULATED_UHD_MODULES
    assert "UHD_MODULE_PATH" not in options["logger-0"]["environment"]


def test_simulated_radios_are_placed_on_one_engine(link: Experiment) -> None:
    plan = expand(link, {})[0]
    split = [sim("a1", "unix:///a"), sim("a2", "unix:///a"), sim("b1", "unix:///b")]
    split += [sim("b2", "unix:///b"), Node(name="plain", engine="unix:///b")]
    assert place(plan, split) is None  # 4 radio containers; no engine has 4 sim nodes
    assert "one Docker engine" in (unplaceable_reason(plan, split) or "")
    together = [*split, sim("a3", "unix:///a"), sim("a4", "unix:///a")]
    placement = place(plan, together)
    assert placement is not None
    engines = {n.engine for i, n in placement.items() if i.role != "logger"}
    assert engines == {"unix:///a"}


def test_different_sample_rates_are_refused(
    scenario_in: Callable[[str, str], Path],
) -> None:
    text = SCENARIO.replace("{frequency: 2.4501e9, rate: 1e6}", "{frequency: 2.45e9, rate: 2e6}")
    plan = expand(load_experiment(scenario_in("link", text)), {})[0]
    placement = place(plan, [sim(f"n{i}") for i in range(1, 6)])
    assert placement is not None
    with pytest.raises(InvalidInput, match=r"one sample rate.*rx 2e"):
        channel_config(plan, placement, ChannelSettings(), seed=1)


def test_real_radios_get_no_channel(link: Experiment) -> None:
    plan = expand(link, {})[0]
    real = [Node(name=f"n{i}", engine="unix:///a", radios=(Radio(type="b210"),)) for i in range(5)]
    placement = place(plan, real)
    assert placement is not None
    assert channel_config(plan, placement, ChannelSettings(), seed=1) is None
    for instance, node in placement.items():  # nothing of the simulation on a real node
        environment = container_options(plan, "run1", instance, node, "sha256:x")["environment"]
        assert "UHD_MODULE_PATH" not in environment


def test_simulated_radios_get_the_scenarios_pacing_and_real_ones_keep_real_time(
    scenario_in: Callable[[str, str], Path],
) -> None:
    for text, pacing in ((SCENARIO, "realtime"), (SCENARIO + "pacing: fast\n", "fast")):
        experiment = load_experiment(
            scenario_in(f"link-{pacing}", text.replace("name: link", f"name: link-{pacing}"))
        )
        assert experiment.pacing == pacing
        plan = expand(experiment, {})[0]
        for nodes in ([sim(f"n{i}") for i in range(1, 6)], REAL):
            placement = place(plan, nodes)
            assert placement is not None
            for instance, node in placement.items():
                environment = container_options(plan, "r", instance, node, "sha256:x")[
                    "environment"
                ]
                expected = pacing if instance.role != "logger" and nodes is not REAL else None
                assert environment.get("RADIOPS_RADIO_PACING") == expected, instance.slug


def test_the_schema_and_the_record_know_the_same_pacings() -> None:
    schema = json.loads((PROJECT / "schemas" / "experiment.schema.json").read_text())
    pacing = schema["properties"]["pacing"]
    assert tuple(pacing["enum"]) == PACINGS and pacing["default"] == PACINGS[0]
