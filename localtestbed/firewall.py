"""The Podman node's one firewall rule: traffic within a Podman bridge is forwarded.

Docker sets this host's FORWARD policy to DROP, and bridged frames go through
iptables (br_netfilter); netavark 1.4 adds no FORWARD rule for an *internal*
network, so containers on one (a run's channel network) cannot reach each other:
the channel emulator would hear no radio. ``up`` inserts :data:`RULE` when it is
missing (``iptables -C`` first: idempotent), ``down`` deletes it, ``status`` says
whether it is there. Bridged frames only: routing between two networks stays
dropped. The comment marks the rule as the testbed's, so ``down`` deletes this
one and never a rule someone else wrote.
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from typing import Literal

from localtestbed.errors import TestbedError

CHAIN = "FORWARD"
COMMENT = "radiops-testbed: within a Podman bridge"
RULE = (
    "-m", "physdev", "--physdev-is-bridged", "-i", "podman+", "-o", "podman+",
    "-m", "comment", "--comment", COMMENT, "-j", "ACCEPT",
)  # fmt: skip

RuleState = Literal["present", "missing", "unknown"]


@dataclass(frozen=True, kw_only=True)
class RuleStatus:
    """Whether :data:`RULE` is in the chain (``status --json``'s ``podman_forward``)."""

    chain: str
    state: RuleState
    detail: str = ""
    """Why the state is ``unknown`` (iptables missing, no permission)."""

    @property
    def rule(self) -> str:
        return shlex.join(["iptables", "-I", self.chain, *RULE])


def _iptables(*arguments: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["iptables", "-w", "5", *arguments], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return subprocess.CompletedProcess(["iptables"], 127, "", "iptables is not installed")


def rule_status(chain: str = CHAIN) -> RuleStatus:
    """Ask iptables (never changes anything). Exit status 1: no such rule (or chain)."""
    checked = _iptables("-C", chain, *RULE)
    if checked.returncode == 0:
        return RuleStatus(chain=chain, state="present")
    if checked.returncode == 1:
        return RuleStatus(chain=chain, state="missing")
    return RuleStatus(chain=chain, state="unknown", detail=checked.stderr.strip())


def ensure_rule(chain: str = CHAIN) -> Literal["added", "present"]:
    """Insert the rule at the top of ``chain`` unless it is there already."""
    found = rule_status(chain)
    if found.state == "present":
        return "present"
    inserted = _iptables("-I", chain, *RULE)
    if inserted.returncode != 0:
        raise TestbedError(
            f"cannot add the Podman node's forwarding rule to {chain}: "
            f"{inserted.stderr.strip() or found.detail}",
            f"the rule: {found.rule}",
            "it needs root, iptables and the kernel's xt_physdev and xt_comment modules "
            "('modprobe xt_physdev xt_comment')",
        )
    return "added"


def remove_rule(chain: str = CHAIN) -> bool:
    """Delete every copy of the rule from ``chain``; whether there was one."""
    removed = False
    while rule_status(chain).state == "present":
        deleted = _iptables("-D", chain, *RULE)
        if deleted.returncode != 0:
            raise TestbedError(
                f"cannot delete the Podman node's forwarding rule from {chain}: "
                f"{deleted.stderr.strip()}"
            )
        removed = True
    return removed
