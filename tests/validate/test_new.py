"""``radiops new``: a scaffold that validates at once and never overwrites."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.cli.app import main
from runner.cli.commands import new as new_module


def run(*args: str) -> int:
    return main(list(args))


def test_new_experiment_validates_at_once(
    example_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(example_repo)
    assert run("new", "ber-sweep", "--title", 'BER: "quoted" & <odd>') == 0
    scenario = example_repo / "experiments" / "ber-sweep" / "experiment.yaml"
    assert scenario.read_text().startswith(
        "# yaml-language-server: $schema=../../schemas/experiment.schema.json\n"
    )
    assert (example_repo / "images" / "ber-sweep" / "Dockerfile").is_file()
    capsys.readouterr()
    assert run("validate") == 0, capsys.readouterr().err


def test_new_with_an_existing_image_makes_no_image(
    example_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(example_repo)
    assert run("new", "reuse", "--image", "images/hello") == 0
    assert not (example_repo / "images" / "reuse").exists()
    assert (
        'image: "images/hello"' in (example_repo / "experiments/reuse/experiment.yaml").read_text()
    )
    assert run("validate", "experiments/reuse") == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["new", "Bad Name"], "is not a valid experiment name"),
        (["new", "hello-", "--image", "images/hello"], "is not a valid experiment name"),
        (["new", "x", "--image", "images/nope"], "no image directory images/nope/"),
        (["new", "hello"], "images/hello already exists; reuse it with --image images/hello"),
    ],
)
def test_new_refuses_bad_input(
    example_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(example_repo)
    before = sorted(p.relative_to(example_repo) for p in example_repo.rglob("*"))
    assert run(*args) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.relative_to(example_repo) for p in example_repo.rglob("*")) == before


def test_new_never_overwrites_an_experiment(
    example_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(example_repo)
    mine = example_repo / "experiments" / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    assert run("new", "mine", "--image", "images/hello") == 2
    assert "already exists" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "precious"
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_a_failure_half_way_removes_only_what_new_created(
    example_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(example_repo)
    calls = {"n": 0}
    real = Path.write_text

    def flaky(self: Path, *args: object, **kwargs: object) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", flaky)
    with pytest.raises(OSError, match="No space left"):
        new_module.new("half", cwd=example_repo)
    assert not (example_repo / "experiments" / "half").exists()
    assert not (example_repo / "images" / "half").exists()
    assert (example_repo / "images" / "hello" / "Dockerfile").exists()
