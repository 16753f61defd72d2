"""The channel emulator's limits hold in one place each: what the emulator refuses at
start (images/channel/channel_model.py), the runner refuses before starting it
(runner/engine/channel.py), and ``radiops validate`` refuses in testbed.yaml (the schema).
A limit changed in one of them and not the others fails here."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import pytest

from runner.engine import channel
from runner.model.errors import InvalidInput
from runner.model.schedule import reservation_name
from tests.testing.testbed_fixtures import PROJECT

sys.path.insert(0, str(PROJECT / "images" / "channel"))

import channel_model as model  # the emulator's own module, from its image


def link_properties() -> dict[str, Any]:
    schema = json.loads((PROJECT / "schemas" / "testbed.schema.json").read_text())
    found: list[dict[str, Any]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "delay_samples" in node.get("properties", {}):
                found.append(node["properties"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    (link,) = found
    return link


def test_the_runner_and_the_schema_refuse_what_the_emulator_refuses() -> None:
    assert channel.MAX_DELAY_SAMPLES == model.MAX_DELAY
    assert link_properties()["delay_samples"]["maximum"] == model.MAX_DELAY
    assert channel.MAX_BLOCK == model.MAX_BLOCK
    assert channel.MAX_PORTS == model.MAX_PORTS
    assert channel.DEFAULT_BLOCK == model.DEFAULT_BLOCK
    assert channel.HOST_NAME.pattern == model._HOST.pattern


def link_of(delay: int) -> channel.ChannelConfig:
    return channel.ChannelConfig(
        sample_rate=1e6,
        tx=("tx-0",),
        rx=("rx-0",),
        links={"tx-0": {"rx-0": channel.ChannelLink(gain_db=-40, delay_samples=delay)}},
    )


def test_a_delay_the_emulator_would_refuse_is_refused_before_it_starts() -> None:
    longest = model.parse_config(channel.config_json(link_of(1 << 24)))
    assert longest.links[("tx-0", "rx-0")].delay_samples == 1 << 24
    with pytest.raises(InvalidInput, match="delay_samples must be between 0 and 16777216"):
        link_of((1 << 24) + 1)
    data = json.loads(channel.config_json(link_of(1 << 24)))
    data["links"]["tx-0"]["rx-0"]["delay_samples"] += 1
    with pytest.raises(model.ConfigError, match="delay_samples"):
        model.parse_config(json.dumps(data))


def test_every_node_name_the_testbed_schema_accepts_is_a_host_the_emulator_accepts() -> None:
    # a transmitter's host on the run's network is its node's reservation name
    schema = json.loads((PROJECT / "schemas" / "testbed.schema.json").read_text())
    assert schema["properties"]["nodes"]["propertyNames"] == {"$ref": "#/$defs/slug"}
    slug = re.compile(schema["$defs"]["slug"]["pattern"])
    longest = "n" + "-1" * 31  # 63 characters: the longest slug
    for name in ("a", "0", "node-1", longest):
        assert slug.match(name), name
        assert model._HOST.match(reservation_name(name)), name
    assert not slug.match(longest + "x")  # the schema, not the emulator, stops a longer one
