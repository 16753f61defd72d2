"""pending.json: one typed record, written and read by runner/pipeline/pending.py."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runner.model.manifest import CodeInfo, ImageRecord, PullRequest, Trigger
from runner.model.plan import Repetition
from runner.pipeline.pending import (
    PENDING,
    RUNNER_LABEL,
    PendingDamaged,
    PendingRun,
    RunnerIdentity,
    is_alive,
    read_pending,
    runner_identity,
    runner_labels,
    runner_of,
    write_pending,
)


def a_record() -> PendingRun:
    return PendingRun(
        run_id="20261204T120000Z-1a2b3c4d",
        experiment="hello",
        matrix_point={"gain": 3},
        parameters={"gain": 3, "rate": 1e6},
        overrides={},
        seeds={"channel": 7},
        repetition=Repetition(group="g1", index=1, of=3),
        queued=datetime(2026, 12, 4, 12, 0, 0, 123000, tzinfo=UTC),
        scenario_path="experiments/hello/experiment.yaml",
        scenario_sha256="0" * 64,
        code=CodeInfo(
            repository="https://example.org/lab.git",
            commit="1" * 40,
            branch="main",
            dirty=False,
            author_name="A",
            author_email="a@example.org",
            commit_message="m",
        ),
        trigger=Trigger(
            kind="pull_request",
            actor="b",
            pull_request=PullRequest(number=4, title="t", url="https://example.org/pr/4"),
        ),
        actor="b",
        images=(
            ImageRecord(
                role="tx",
                image="images/tx",
                ref="radiops/tx:ctx-1",
                digest=None,
                image_id="sha256:" + "2" * 64,
                built=True,
                dockerfile_sha256=None,
                context_sha256="3" * 64,
                base_image=None,
            ),
        ),
        inputs=({"path": "data.bin", "sha256": "4" * 64},),
        engines={"unix:///var/run/docker.sock": {"id": "X"}},
        testbed_name="the local default testbed",
        testbed_file=None,
        store="/tmp/store",
        inline_max=1024,
        capture_max=2048,
        runner=runner_identity(),
    )


def test_a_record_reads_back_as_written(tmp_path: Path) -> None:
    record = a_record()
    write_pending(tmp_path, record)
    assert read_pending(tmp_path / PENDING) == record


def test_an_older_record_without_capture_max_reads_with_the_default(tmp_path: Path) -> None:
    data = json.loads(a_record().to_json())
    del data["capture_max"]
    back = PendingRun.from_json(json.dumps(data))
    assert back == dataclasses.replace(a_record(), capture_max=PendingRun.capture_max)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.update(format=2), "format 2"),
        (lambda d: d.pop("run_id"), "run_id"),
        (lambda d: d.update(inline_max="1024"), "inline_max is not an integer"),
        (lambda d: d.update(images=[{"role": "tx"}]), "wrong kind"),
        (lambda d: d.update(queued="yesterday"), "wrong kind"),
        (lambda d: d["runner"].update(pid=True), "pid is not an integer"),
        (lambda d: d["code"].update({"evil\x1b[2J": 1}), "wrong kind"),
    ],
)
def test_a_damaged_record_says_why(change: Callable[[dict[str, Any]], object], reason: str) -> None:
    data = json.loads(a_record().to_json())
    change(data)
    with pytest.raises(PendingDamaged, match=reason) as info:
        PendingRun.from_json(json.dumps(data))
    assert str(info.value).isprintable()


@pytest.mark.parametrize("text", ["", "[]", "{", "null"])
def test_what_is_not_a_record_is_damaged(text: str) -> None:
    with pytest.raises(PendingDamaged):
        PendingRun.from_json(text)


def test_this_runner_is_alive_and_another_pid_is_not() -> None:
    me = runner_identity()
    assert is_alive(me) is True
    assert is_alive(dataclasses.replace(me, started=(me.started or 0) + 1)) is False
    assert (
        is_alive(RunnerIdentity(host=socket.gethostname() + "-x", pid=os.getpid(), started=1))
        is None
    )


def test_the_runner_label_names_this_process_and_nothing_else_reads_as_a_runner() -> None:
    me = runner_identity()
    assert runner_of(runner_labels(me)) == me
    assert is_alive(me) is True
    for labels in (
        {},
        {RUNNER_LABEL: "not json"},
        {RUNNER_LABEL: "[1, 2]"},
        {RUNNER_LABEL: '{"host": "h", "pid": "12"}'},
        {RUNNER_LABEL: '{"host": "h"}'},
    ):
        assert runner_of(labels) is None, labels
