"""``radiops validate`` and friends as a person runs them: a real process, real files."""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runner.cli import app as cli
from runner.model.problems import ProblemsFound
from runner.model.yamldoc import MAX_BYTES
from runner.pipeline.validation import validate
from tests.testing.repos import EXAMPLES, PROJECT, add_scenario, copy_from_project, radiops

GOOD = """\
name: {name}
description: fine
duration: 10s
roles:
  main:
    image: images/hello
"""


def test_the_template_repository_itself_is_valid(tmp_path: Path) -> None:
    template = tmp_path / "template"
    for part in ("experiments", "images"):
        copy_from_project(part, template / part)
    result = radiops(template, "validate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("valid: ")
    assert result.stderr == ""


def test_every_problem_of_every_file_is_reported_at_once_sorted(example_repo: Path) -> None:
    add_scenario(example_repo, "one", GOOD.format(name="one").replace("10s", "-1"))
    add_scenario(example_repo, "two", GOOD.format(name="two").replace("images/hello", "images/x"))
    add_scenario(example_repo, "three", GOOD.format(name="three"))
    (example_repo / "testbed.yaml").write_text("nodes: {n1: {engine: ftp://x}}\n")
    result = radiops(example_repo, "validate")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[-1] == "3 problems in 3 files"
    files = [line.split(":", 1)[0] for line in lines[:-1]]
    assert files == [
        "experiments/one/experiment.yaml",
        "experiments/two/experiment.yaml",
        "testbed.yaml",
    ]
    assert "Traceback" not in result.stderr


def test_validate_from_a_subdirectory_finds_the_repository(example_repo: Path) -> None:
    scenario = add_scenario(example_repo, "deep", GOOD.format(name="deep"))
    result = radiops(scenario.parent, "validate", ".")
    assert result.returncode == 0, result.stderr
    result = radiops(scenario.parent, "validate", "experiment.yaml")
    assert result.returncode == 0, result.stderr


def test_an_experiment_directory_without_scenario_is_a_problem(example_repo: Path) -> None:
    (example_repo / "experiments" / "empty").mkdir()
    result = radiops(example_repo, "validate")
    assert result.returncode == 1
    assert "experiments/empty: experiments/empty/ has no experiment.yaml" in result.stderr


def test_an_image_directory_without_dockerfile_is_a_problem(example_repo: Path) -> None:
    (example_repo / "images" / "Broken").mkdir()
    result = radiops(example_repo, "validate")
    assert result.returncode == 1
    assert "images/Broken: image directory 'Broken' cannot name a Docker image" in result.stderr
    assert "images/Broken: images/Broken/ has no Dockerfile" in result.stderr


def test_a_scenario_linked_outside_the_repository_is_refused(
    example_repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.yaml"
    outside.write_text(GOOD.format(name="linked"))
    folder = example_repo / "experiments" / "linked"
    folder.mkdir()
    (folder / "experiment.yaml").symlink_to(outside)
    result = radiops(example_repo, "validate")
    assert result.returncode == 1
    assert "is a link that leads outside the repository" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate", "nowhere"], "radiops: nowhere: no such file or directory"),
        (["validate", "images/hello/Dockerfile"], "not a scenario (experiment.yaml)"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_usage_errors_exit_2_with_a_way_out(
    example_repo: Path, args: list[str], message: str
) -> None:
    result = radiops(example_repo, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_outside_a_repository_says_so(tmp_path: Path) -> None:
    result = radiops(tmp_path, "validate")
    assert result.returncode == 2
    assert "is not inside an experiment repository" in result.stderr


def test_a_bug_prints_a_short_message_and_logs_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def broken(argv: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "_run", broken)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert cli.main(["validate"]) == cli.EXIT_BUG
    err = capsys.readouterr().err
    assert "internal error (RuntimeError('boom'))" in err
    assert "Traceback" not in err
    logs = list((tmp_path / "radiops").glob("crash-*.log"))
    assert len(logs) == 1
    assert "RuntimeError: boom" in logs[0].read_text()


def test_console_script_and_version() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "radiops"), "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("radiops ")


def _place_run(repo: Path, example: str, run_id: str = "20261203T120000Z-1a2b3c4d") -> Path:
    run = repo / "experiments" / "hello" / "runs" / run_id
    run.mkdir(parents=True)
    shutil.copy(EXAMPLES / "manifest" / example, run / "manifest.json")
    return run


def test_a_run_manifest_or_its_directory_is_validated(example_repo: Path) -> None:
    run = _place_run(example_repo, "valid/simulated-hello.json")
    shown = "experiments/hello/runs/20261203T120000Z-1a2b3c4d"
    for target in (shown, f"{shown}/manifest.json", "experiments/hello/runs"):
        result = radiops(example_repo, "validate", target)
        assert result.returncode == 0, (target, result.stderr)
        assert "1 manifest" in result.stdout, target
    (run / "manifest.json").write_text(
        (EXAMPLES / "manifest" / "invalid" / "bad-outcome-status.json").read_text()
    )
    result = radiops(example_repo, "validate", shown)
    assert result.returncode == 1
    (line,) = [x for x in result.stderr.splitlines() if x.startswith(f"{shown}/manifest.json:")]
    assert re.match(rf"{re.escape(shown)}/manifest\.json:\d+:\d+: .*'success'", line)


def test_a_new_run_checks_its_scenario_not_every_earlier_run(example_repo: Path) -> None:
    # ``radiops validate`` of the experiment reads its runs; a new run's check does not
    # (else each run would be slower than the one before): a damaged old manifest is
    # validate's to report, not a reason to refuse the next run
    scenario = add_scenario(example_repo, "hello", GOOD.format(name="hello"))
    run = _place_run(example_repo, "invalid/bad-outcome-status.json")
    with pytest.raises(ProblemsFound) as refused:
        validate([scenario], cwd=example_repo)
    assert any(str(run.relative_to(example_repo)) in str(p) for p in refused.value.problems)
    summary = validate([scenario], cwd=example_repo, earlier_runs=False)
    assert (summary.experiments, summary.manifests) == (1, 0)


def test_a_run_directory_without_its_manifest_says_why(example_repo: Path) -> None:
    run = _place_run(example_repo, "valid/simulated-hello.json")
    (run / "manifest.json").rename(run / "pending.json")
    result = radiops(example_repo, "validate", str(run.relative_to(example_repo)))
    assert result.returncode == 2
    assert "without manifest.json" in result.stderr and "radiops recover" in result.stderr
    assert "Traceback" not in result.stderr


def test_hostile_nesting_in_a_scenario_is_a_positioned_problem(example_repo: Path) -> None:
    # whichever parser refuses it (radiops or libyaml), the person gets file:line:column
    add_scenario(example_repo, "deep", "name: deep\nroles: " + "[" * 200_000)
    result = radiops(example_repo, "validate", "experiments/deep")
    assert result.returncode == 1
    assert re.match(r"experiments/deep/experiment\.yaml:2:\d+: .*nest", result.stderr, re.I)
    assert "Traceback" not in result.stderr


def test_a_long_string_aliased_many_times_is_refused_quickly_in_bounded_memory(
    example_repo: Path,
) -> None:
    # 640 kB written once, aliased 99,000 times: under the size and value-count limits,
    # some 63 GB once expanded (and copied again into every schema message)
    text = "name: bomb\nduration: 10s\nroles:\n  main:\n    image: images/hello\n"
    text += "    env: {PAD: &s " + "x" * 640_000 + "}\n"
    text += "    command: [" + ", ".join(["*s"] * 99_000) + "]\n"
    assert len(text.encode()) <= MAX_BYTES
    add_scenario(example_repo, "bomb", text)

    def limit_memory() -> None:  # in the child: 1.5 GiB of address space, far below 63 GB
        resource.setrlimit(resource.RLIMIT_AS, (3 << 29, 3 << 29))

    result = subprocess.run(
        [sys.executable, "-m", "runner", "validate", "experiments/bomb"],
        cwd=example_repo,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
        preexec_fn=limit_memory,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert re.match(r"experiments/bomb/experiment\.yaml:6:\d+: .*expands", result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr) < 10_000  # the value is not quoted back
