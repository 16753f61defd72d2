"""The site's nodes page shows the health ``radiops testbed check --record`` wrote."""

from __future__ import annotations

from pathlib import Path

from runner.model.health import (
    HEALTH_FILE,
    CheckResult,
    HealthState,
    after_check,
    read_health_record,
    write_health_record,
)
from tests.testing.sites import build_site, make_example_site_repo


def test_the_nodes_page_shows_quarantine_and_the_check_history(tmp_path: Path) -> None:
    repo = make_example_site_repo(tmp_path)
    state = HealthState(node="local-1")
    for at in ("2026-12-01T10:00:00+00:00", "2026-12-01T11:00:00+00:00"):
        failed = CheckResult(
            at=at, ok=False, reason="experiment x: snr_db = 5, below the minimum 20"
        )
        state = after_check(state, failed, 2)
    write_health_record(repo / HEALTH_FILE, [state])
    write_health_record(repo / HEALTH_FILE, [HealthState(node="other")])  # merged, kept
    site, _ = build_site(repo)
    nodes = (site / "nodes/index.html").read_text(encoding="utf-8")
    assert "<strong>quarantined</strong> since 2026-12-01T11:00:00+00:00" in nodes
    assert nodes.count("snr_db = 5, below the minimum 20") == 3  # the reason, then two checks
    assert nodes.index("2026-12-01T11:00:00+00:00 <strong>fail") < nodes.index(
        "2026-12-01T10:00:00+00:00 <strong>fail"
    )  # newest first
    assert set(read_health_record(repo / HEALTH_FILE)) == {"local-1", "other"}
