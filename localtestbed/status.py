"""What runs now: every component's state, as text for people and JSON for scripts."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from localtestbed.component import Component, ComponentStatus
from localtestbed.engines import default_engine, node_engines
from localtestbed.errors import PROG
from localtestbed.firewall import RuleStatus, rule_status
from localtestbed.podman import podman_node
from localtestbed.registry import registry
from localtestbed.settings import Settings


def components(settings: Settings, *, only_default: bool = False) -> list[Component]:
    """Every component of the testbed, in the order ``up`` starts them."""
    if only_default:
        return [default_engine(settings)]
    nodes = node_engines(settings)
    if settings.podman:
        nodes.append(podman_node(settings))
    return [default_engine(settings), *nodes, registry(settings)]


@dataclass(frozen=True, kw_only=True)
class Report:
    """``scripts/testbed status --json``: each component, and the testbed file."""

    components: list[ComponentStatus]
    testbed_file: str
    testbed_file_present: bool
    podman_forward: RuleStatus | None = None
    """The Podman node's forwarding rule (localtestbed/firewall.py); None without the node."""

    @property
    def ok(self) -> bool:
        """Everything up, the testbed file written, and the Podman node's rule in place."""
        forward = self.podman_forward is None or self.podman_forward.state == "present"
        return (
            forward and self.testbed_file_present and all(c.state == "up" for c in self.components)
        )

    def component(self, name: str) -> ComponentStatus:
        (found,) = [c for c in self.components if c.name == name]
        return found

    def as_json(self) -> str:
        data = {
            "ok": self.ok,
            "components": [asdict(c) for c in self.components],
            "testbed_file": {"path": self.testbed_file, "present": self.testbed_file_present},
            "podman_forward": _forward_json(self.podman_forward),
        }
        return json.dumps(data, indent=2)

    def as_text(self) -> str:
        lines = [_line(c) for c in self.components]
        word = "ok" if self.testbed_file_present else "none"
        lines.append(f"{'testbed file':<15} {word:<5} {self.testbed_file}")
        if self.podman_forward is not None:
            lines.append(_forward_line(self.podman_forward))
        return "\n".join(lines)


def _forward_json(forward: RuleStatus | None) -> dict[str, str] | None:
    if forward is None:
        return None
    return {"chain": forward.chain, "state": forward.state, "rule": forward.rule} | (
        {"detail": forward.detail} if forward.detail else {}
    )


def _forward_line(forward: RuleStatus) -> str:
    word = {"present": "ok", "missing": "none", "unknown": "?"}[forward.state]
    how = {
        "present": "",
        "missing": " (containers on one Podman network cannot reach each other: "
        f"'RADIOPS_TESTBED_PODMAN=1 {PROG} up' adds it)",
        "unknown": f" ({forward.detail})",
    }[forward.state]
    return f"{'podman forward':<15} {word:<5} iptables {forward.chain} rule{how}"


def _line(status: ComponentStatus) -> str:
    state = {"up": "up", "starting": "start", "down": "down", "no permission": "?"}[status.state]
    if status.state == "no permission":
        how = " (no permission: run as root or join the group of its socket)"
    elif status.state != "up":
        how = ""
    elif status.pid is None:
        how = f" (not managed by {PROG})"
    else:
        how = f" (pid {status.pid})"
    return f"{status.name:<15} {state:<5} {status.address}{how}"


def status(settings: Settings | None = None) -> Report:
    """Ask every component at once (a hung engine costs one probe timeout, not one each)."""
    settings = settings or Settings.from_env()
    found = components(settings)
    with ThreadPoolExecutor(max_workers=len(found)) as pool:
        states = list(pool.map(Component.status, found))
    return Report(
        components=states,
        testbed_file=str(settings.testbed_file),
        testbed_file_present=settings.testbed_file.is_file(),
        podman_forward=rule_status() if settings.podman else None,
    )
