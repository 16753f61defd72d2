"""Tests own their inputs: nothing a person's runs, builds or previews left in this
checkout (runs/, .radiops/, public/, .cache/) reaches a test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.testing import repos
from tests.testing.repos import LEFTOVERS, PROJECT, copy_from_project

TESTS = PROJECT / "tests"


def test_a_copy_of_an_experiment_leaves_its_runs_and_caches_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout = tmp_path / "checkout"
    experiment = checkout / "experiments" / "hello"
    (experiment / "runs" / "20261203T000000Z-00000000").mkdir(parents=True)
    (experiment / "runs" / "20261203T000000Z-00000000" / "manifest.json").write_text("{}")
    (experiment / "experiment.yaml").write_text("name: hello\n")
    (experiment / "data").mkdir()
    (experiment / "data" / "input.bin").write_bytes(b"\x00")
    for leftover in (".radiops", ".cache", "public", "__pycache__"):
        (experiment / leftover).mkdir()
        (experiment / leftover / "x").write_text("left behind")
    monkeypatch.setattr(repos, "PROJECT", checkout)

    copy = copy_from_project("experiments/hello", tmp_path / "copy")

    found = sorted(str(p.relative_to(copy)) for p in copy.rglob("*"))
    assert found == ["data", "data/input.bin", "experiment.yaml"]


def test_no_test_reads_the_checkout_s_experiments_or_images_but_through_the_copy() -> None:
    # a direct copy or a command run in the checkout would see a person's runs
    direct = re.compile(r"copytree\(\s*PROJECT|cwd=PROJECT\b")
    allowed = {
        Path(repos.__file__),  # the copy itself
        Path(__file__),  # this scan's own pattern
        TESTS / "testing" / "testbed_fixtures.py",  # scripts/testbed reads no experiment
    }
    offenders = [
        f"{path.relative_to(PROJECT)}:{number}"
        for path in sorted(TESTS.rglob("*.py"))
        if path not in allowed
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if direct.search(line)
    ]
    assert len(list(TESTS.rglob("*.py"))) > 50  # the scan saw the suite
    assert offenders == []
    assert {"runs", ".radiops", "public", ".cache"} <= set(LEFTOVERS)
