"""The testbed's settings and its command line: a wrong setting is a clear message."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from localtestbed import Settings, SettingsError, describe
from tests.testing.repos import PROJECT


def test_defaults_and_what_they_describe() -> None:
    settings = Settings.from_env({})
    testbed = describe(settings)
    assert testbed.node_engines == {
        "node1": "unix:///run/radiops-testbed/node1/docker.sock",
        "node2": "unix:///run/radiops-testbed/node2/docker.sock",
    }
    assert testbed.registry == "localhost:5000"
    assert testbed.testbed_file == Path("/var/lib/radiops-testbed/testbed.yaml")
    assert settings.registry_pidfile == Path("/run/radiops-testbed/registry.pid")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RADIOPS_TESTBED_NODES", "0", "RADIOPS_TESTBED_NODES=0 is not a number from 1 to 16"),
        ("RADIOPS_TESTBED_NODES", "x", "RADIOPS_TESTBED_NODES=x is not a number from 1 to 16"),
        ("RADIOPS_REGISTRY_PORT", "70000", "RADIOPS_REGISTRY_PORT=70000 is not a TCP port"),
        ("RADIOPS_TESTBED_TIMEOUT", "-1", "RADIOPS_TESTBED_TIMEOUT=-1 is not a positive"),
        ("RADIOPS_TESTBED_STATE", "relative", "must be an absolute path other than /"),
        ("RADIOPS_TESTBED_RUN", "/", "must be an absolute path other than /"),
        ("RADIOPS_TESTBED_RUN", "/" + "r" * 80, "is too long for unix sockets"),
    ],
)
def test_a_wrong_setting_is_named(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("+", r"\+")):
        Settings.from_env({name: value})


def test_the_command_says_what_is_wrong_without_a_traceback() -> None:
    result = subprocess.run(
        ["bash", str(PROJECT / "scripts" / "testbed"), "env"],
        env={**os.environ, "RADIOPS_TESTBED_NODES": "17"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == (
        "scripts/testbed: error: RADIOPS_TESTBED_NODES=17 is not a number from 1 to 16\n"
    )
    usage = subprocess.run(
        ["bash", str(PROJECT / "scripts" / "testbed"), "stop"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert usage.returncode == 2
    assert "usage: scripts/testbed COMMAND" in usage.stderr
    assert "Traceback" not in usage.stderr
