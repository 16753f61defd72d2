"""The Podman node's forwarding rule, with this host's real iptables, in a chain of the
test's own (the host's FORWARD chain, which runs may rely on, is never touched)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from localtestbed.component import ComponentStatus
from localtestbed.firewall import COMMENT, RuleStatus, ensure_rule, remove_rule, rule_status
from localtestbed.status import Report


@pytest.fixture
def chain() -> Iterator[str]:
    if shutil.which("iptables") is None or os.geteuid() != 0:
        pytest.skip("needs root and iptables (scripts/testbed installs it with the Podman node)")
    name = f"RT-{uuid.uuid4().hex[:10]}"
    subprocess.run(["iptables", "-w", "5", "-N", name], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["iptables", "-w", "5", "-F", name], check=False, capture_output=True)
        subprocess.run(["iptables", "-w", "5", "-X", name], check=False, capture_output=True)


def listed(chain: str) -> list[str]:
    rules = subprocess.run(
        ["iptables", "-w", "5", "-S", chain], check=True, capture_output=True, text=True
    ).stdout
    return [line for line in rules.splitlines() if line.startswith("-A")]


def test_up_adds_the_rule_once_status_sees_it_and_down_removes_only_it(chain: str) -> None:
    other = ["-A", chain, "-i", "podman+", "-o", "podman+", "-j", "ACCEPT"]  # not the testbed's
    subprocess.run(["iptables", "-w", "5", *other], check=True, capture_output=True)
    assert rule_status(chain).state == "missing"
    assert ensure_rule(chain) == "added"
    assert ensure_rule(chain) == "present"  # idempotent: checked before inserting
    (ours,) = [rule for rule in listed(chain) if COMMENT in rule]
    assert "--physdev-is-bridged" in ours and ours.endswith("-j ACCEPT")
    assert listed(chain)[0] == ours  # inserted first: before any DROP of the chain
    assert rule_status(chain).state == "present"
    assert remove_rule(chain) is True
    assert rule_status(chain).state == "missing"
    assert remove_rule(chain) is False
    assert listed(chain) == [" ".join(other)]  # someone else's rule stays


def test_a_chain_that_does_not_exist_is_reported_not_raised() -> None:
    if shutil.which("iptables") is None or os.geteuid() != 0:
        pytest.skip("needs root and iptables")
    assert rule_status("RT-NO-SUCH-CHAIN").state in ("missing", "unknown")


def test_status_is_not_ok_without_the_rule_and_says_how_to_add_it() -> None:
    engine = ComponentStatus(name="podman", address="unix:///x", state="up", pid=1)
    missing = RuleStatus(chain="FORWARD", state="missing")
    report = Report(
        components=[engine], testbed_file="/t.yaml", testbed_file_present=True,
        podman_forward=missing,
    )  # fmt: skip
    assert not report.ok
    assert "RADIOPS_TESTBED_PODMAN=1 scripts/testbed up" in report.as_text()
    data = json.loads(report.as_json())
    assert data["ok"] is False and data["podman_forward"]["state"] == "missing"
    present = Report(
        components=[engine], testbed_file="/t.yaml", testbed_file_present=True,
        podman_forward=RuleStatus(chain="FORWARD", state="present"),
    )  # fmt: skip
    assert present.ok and json.loads(present.as_json())["podman_forward"]["state"] == "present"
    without = Report(components=[engine], testbed_file="/t.yaml", testbed_file_present=True)
    assert without.ok and json.loads(without.as_json())["podman_forward"] is None
