"""Which experiments a change touches, on real git repositories (and shallow clones of them)."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml

from runner.cli.commands.changed import changed, render
from runner.cli.parser import build_parser
from runner.gitops.changes import Change, changed_experiments, compare
from runner.model.errors import UsageError
from tests.testing.repos import PROJECT, commit_all, git


def scenario(
    name: str, *, image: str, node: str | None = None, inputs: tuple[str, ...] = ()
) -> str:
    text = f"name: {name}\ndescription: test\nduration: 10s\nroles:\n  main:\n"
    text += f"    image: {image}\n"
    if node is not None:
        text += f"    node: {node}\n"
    if inputs:
        text += "inputs:\n" + "".join(f"  - {item}\n" for item in inputs)
    return text


TESTBED = """\
nodes:
  node1:
    engine: unix:///run/node1.sock
    tags: [indoor]
  node2:
    engine: unix:///run/node2.sock
"""

EXPERIMENTS = {
    "ber-sweep": scenario(
        "ber-sweep", image="images/tools", node="node1", inputs=("data/cal.csv",)
    ),
    "hello": scenario("hello", image="images/hello"),
    "rx": scenario("rx", image="images/radio", node="node2"),
    "tools-two": scenario("tools-two", image="images/tools/"),
    "pulled": scenario("pulled", image="debian:bookworm-slim", inputs=("data/other.csv",)),
    "node10": scenario("node10", image="images/hello", node="node10"),
}


def write(repo: Path, path: str, text: str) -> None:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository on main: six experiments, three images, two inputs, two nodes."""
    root = tmp_path / "repo"
    root.mkdir()
    for image in ("tools", "hello", "radio"):
        write(root, f"images/{image}/Dockerfile", f"FROM debian:bookworm-slim\n# {image}\n")
    write(root, "data/cal.csv", "f,gain\n2.4e9,3.1\n")
    write(root, "data/other.csv", "x\n1\n")
    write(root, "testbed.yaml", TESTBED)
    for name, text in EXPERIMENTS.items():
        write(root, f"experiments/{name}/experiment.yaml", text)
        write(root, f"experiments/{name}/README.md", f"# {name}\n\nWhat {name} is about.\n")
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "six experiments")
    return root


def changes_of(repo: Path, base: str = "HEAD~1", head: str = "HEAD") -> dict[str, Change]:
    found = changed_experiments(repo, base, head)
    assert [c.experiment for c in found] == sorted(c.experiment for c in found)
    return {change.experiment: change for change in found}


def touched(repo: Path, base: str = "HEAD~1", head: str = "HEAD") -> set[str]:
    found = changes_of(repo, base, head)
    assert all(change.kind == "touched" for change in found.values()), found
    return set(found)


# -- direct edits -----------------------------------------------------------------------


def test_a_scenario_edit_touches_only_that_experiment(repo: Path) -> None:
    write(repo, "experiments/hello/experiment.yaml", EXPERIMENTS["hello"] + "tags: [x]\n")
    commit_all(repo, "edit hello")
    found = changes_of(repo)
    assert list(found) == ["hello"]
    assert found["hello"] == Change(
        experiment="hello",
        kind="touched",
        reasons=("experiments/hello/experiment.yaml edited",),
    )


def test_a_readme_edit_touches_the_experiment(repo: Path) -> None:
    write(repo, "experiments/rx/README.md", "# rx\n\nNow with a plot.\n")
    commit_all(repo, "edit rx readme")
    assert changes_of(repo)["rx"].reasons == ("experiments/rx/README.md edited",)
    assert touched(repo) == {"rx"}


def test_no_change_touches_nothing(repo: Path) -> None:
    assert changed_experiments(repo, "HEAD", "HEAD") == []


def test_many_files_in_one_experiment_give_a_short_list_of_reasons(repo: Path) -> None:
    for i in range(12):
        write(repo, f"experiments/hello/notes/{i:02d}.md", "note\n")
    commit_all(repo, "notes")
    reasons = changes_of(repo)["hello"].reasons
    assert len(reasons) == 6
    assert reasons[-1] == "and 7 more change(s) under experiments/hello/"


# -- images, inputs, testbed nodes ------------------------------------------------------


def test_an_image_edit_touches_exactly_the_experiments_using_it(repo: Path) -> None:
    write(repo, "images/tools/Dockerfile", "FROM debian:trixie-slim\n")
    commit_all(repo, "new base")
    found = changes_of(repo)
    assert set(found) == {"ber-sweep", "tools-two"}
    assert found["ber-sweep"].reasons == ("image images/tools changed (images/tools/Dockerfile)",)


def test_a_new_file_in_an_image_directory_touches_its_users(repo: Path) -> None:
    write(repo, "images/radio/run.sh", "#!/bin/sh\n")
    commit_all(repo, "script")
    assert touched(repo) == {"rx"}


def test_an_image_dir_with_a_longer_name_is_not_confused(repo: Path) -> None:
    write(repo, "images/tools2/Dockerfile", "FROM debian\n")
    write(
        repo,
        "experiments/uses-tools2/experiment.yaml",
        scenario("uses-tools2", image="images/tools2"),
    )
    commit_all(repo, "tools2")
    write(repo, "images/tools2/Dockerfile", "FROM debian:trixie\n")
    commit_all(repo, "tools2 again")
    assert touched(repo) == {"uses-tools2"}


def test_an_input_edit_touches_the_experiments_declaring_it(repo: Path) -> None:
    write(repo, "data/cal.csv", "f,gain\n2.4e9,3.3\n")
    commit_all(repo, "recalibrated")
    found = changes_of(repo)
    assert list(found) == ["ber-sweep"]
    assert found["ber-sweep"].reasons == ("input data/cal.csv changed",)


def test_a_deleted_input_is_named(repo: Path) -> None:
    (repo / "data" / "other.csv").unlink()
    commit_all(repo, "drop other")
    assert changes_of(repo)["pulled"].reasons == ("input data/other.csv deleted",)


def test_other_spellings_of_images_and_inputs_are_found(repo: Path) -> None:
    text = (
        "name: spelled\ndescription: test\nduration: 10s\nroles:\n  main:\n"
        '    image: "images/\\x74ools"\n'
        "inputs: ['./data//cal.csv']\n"
    )
    write(repo, "experiments/spelled/experiment.yaml", text)
    commit_all(repo, "spelled")
    write(repo, "images/tools/Dockerfile", "FROM debian:trixie-slim\n")
    write(repo, "data/cal.csv", "f,gain\n")
    commit_all(repo, "both")
    assert changes_of(repo)["spelled"].reasons == (
        "image images/tools changed (images/tools/Dockerfile)",
        "input ./data//cal.csv changed",
    )


def test_every_reason_is_listed_once(repo: Path) -> None:
    write(repo, "experiments/ber-sweep/README.md", "# new\n")
    write(repo, "images/tools/Dockerfile", "FROM debian:trixie-slim\n")
    write(repo, "data/cal.csv", "f,gain\n")
    write(repo, "testbed.yaml", TESTBED.replace("tags: [indoor]", "tags: [outdoor]"))
    commit_all(repo, "everything at once")
    assert changes_of(repo)["ber-sweep"].reasons == (
        "experiments/ber-sweep/README.md edited",
        "image images/tools changed (images/tools/Dockerfile)",
        "input data/cal.csv changed",
        "testbed node node1 changed",
    )


def test_a_changed_node_touches_the_experiments_pinned_to_it(repo: Path) -> None:
    write(repo, "testbed.yaml", TESTBED.replace("tags: [indoor]", "tags: [indoor, roof]"))
    commit_all(repo, "node1 moved")
    found = changes_of(repo)
    assert list(found) == ["ber-sweep"]  # not node10, whose name merely contains node1
    assert found["ber-sweep"].reasons == ("testbed node node1 changed",)


def test_an_unrelated_node_or_a_comment_touches_nothing(repo: Path) -> None:
    write(repo, "testbed.yaml", "# the lab\n" + TESTBED + "  node3:\n    engine: unix:///n3\n")
    commit_all(repo, "node3")
    assert changed_experiments(repo, "HEAD~1", "HEAD") == []


def test_adding_a_node_an_experiment_names_touches_it(repo: Path) -> None:
    write(repo, "testbed.yaml", TESTBED + "  node10:\n    engine: unix:///n10\n")
    commit_all(repo, "node10")
    assert changes_of(repo)["node10"].reasons == ("testbed node node10 added",)
    assert touched(repo) == {"node10"}


def test_an_unreadable_testbed_counts_every_node_as_changed(repo: Path) -> None:
    write(repo, "testbed.yaml", "nodes: [\n")
    commit_all(repo, "broken inventory")
    comparison = compare(repo, "HEAD~1", "HEAD")
    assert {c.experiment for c in comparison.changes} == {"ber-sweep", "rx"}
    assert any("testbed.yaml at head cannot be read" in note for note in comparison.notes)


# -- results committed back -------------------------------------------------------------


def test_results_committed_back_touch_nothing(repo: Path) -> None:
    write(repo, "experiments/hello/runs/20250101-abc/manifest.json", "{}\n")
    write(repo, "experiments/hello/runs/20250101-abc/greeting.txt", "hello\n")
    commit_all(repo, "results of hello")
    assert changed_experiments(repo, "HEAD~1", "HEAD") == []


def test_results_are_not_inputs_either(repo: Path) -> None:
    text = scenario("chained", image="images/hello", inputs=("experiments/hello/runs/r1/out.txt",))
    write(repo, "experiments/chained/experiment.yaml", text)
    write(repo, "experiments/hello/runs/r1/out.txt", "1\n")
    commit_all(repo, "chained")
    write(repo, "experiments/hello/runs/r1/out.txt", "2\n")
    commit_all(repo, "new result")
    assert changed_experiments(repo, "HEAD~1", "HEAD") == []


# -- deleted and renamed ----------------------------------------------------------------


def test_a_deleted_experiment_is_reported_deleted(repo: Path) -> None:
    shutil.rmtree(repo / "experiments" / "rx")
    commit_all(repo, "rx is gone")
    assert changes_of(repo) == {
        "rx": Change(experiment="rx", kind="deleted", reasons=("experiments/rx/ deleted",))
    }


def test_a_removed_scenario_deletes_the_experiment(repo: Path) -> None:
    (repo / "experiments" / "rx" / "experiment.yaml").unlink()
    commit_all(repo, "rx scenario gone, README kept")
    assert changes_of(repo)["rx"].reasons == ("experiments/rx/experiment.yaml deleted",)


def test_a_renamed_experiment_is_reported_renamed_and_not_run(repo: Path) -> None:
    write(repo, "experiments/hello/runs/r1/manifest.json", "{}\n")
    commit_all(repo, "a result")
    git(repo, "mv", "experiments/hello", "experiments/greeting")
    write(
        repo,
        "experiments/greeting/experiment.yaml",
        EXPERIMENTS["hello"].replace("name: hello", "name: greeting"),
    )
    commit_all(repo, "hello is now greeting")
    assert changes_of(repo) == {
        "hello": Change(
            experiment="hello",
            kind="renamed",
            reasons=("experiments/hello renamed to experiments/greeting",),
            renamed_to="greeting",
        )
    }


def test_a_rename_with_edits_runs_the_new_name(repo: Path) -> None:
    git(repo, "mv", "experiments/hello", "experiments/greeting")
    write(
        repo,
        "experiments/greeting/experiment.yaml",
        EXPERIMENTS["hello"].replace("name: hello", "name: greeting").replace("10s", "20s"),
    )
    commit_all(repo, "renamed and longer")
    found = changes_of(repo)
    assert found["hello"].kind == "renamed"
    assert found["greeting"].kind == "touched"
    assert found["greeting"].reasons == (
        "experiments/greeting/experiment.yaml edited in the rename from experiments/hello",
    )


# -- history: forks, merge bases, shallow clones ----------------------------------------


def test_a_branch_behind_main_reports_only_its_own_changes(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "experiments/rx/README.md", "# rx, on the branch\n")
    commit_all(repo, "branch edits rx")
    git(repo, "checkout", "-q", "main")
    write(repo, "experiments/hello/README.md", "# hello, on main\n")
    write(repo, "images/tools/Dockerfile", "FROM debian:trixie-slim\n")
    commit_all(repo, "main moves on")
    assert touched(repo, "main", "feature") == {"rx"}
    comparison = compare(repo, "main", "feature")
    assert comparison.merge_base_found
    assert comparison.since == git(repo, "merge-base", "main", "feature").strip()
    assert comparison.notes == ()


def history(tmp_path: Path) -> Path:
    """A source repository: feature leaves main at its third commit, main moves on
    with two more (editing 'other'), feature adds two of its own (rx, then hello)."""
    source = tmp_path / "source"
    source.mkdir()
    write(source, "images/radio/Dockerfile", "FROM debian\n")
    write(source, "images/hello/Dockerfile", "FROM debian\n")
    for name in ("rx", "hello", "other"):
        image = "images/radio" if name == "rx" else "images/hello"
        write(source, f"experiments/{name}/experiment.yaml", scenario(name, image=image))
    git(source, "init", "-q", "-b", "main")
    commit_all(source, "start")
    for i in range(4):
        if i == 2:
            git(source, "branch", "feature")
        write(source, "experiments/other/README.md", f"main commit {i}\n")
        commit_all(source, f"main {i}")
    git(source, "checkout", "-q", "feature")
    write(source, "experiments/rx/README.md", "feature\n")
    commit_all(source, "feature 1")
    write(source, "experiments/hello/README.md", "feature\n")
    commit_all(source, "feature 2")
    git(source, "checkout", "-q", "main")
    return source


def shallow_clone(source: Path, where: Path, depth: int) -> Path:
    clone = where / f"clone-{depth}"
    git(
        where,
        "clone", "-q", f"--depth={depth}", "--no-single-branch", f"file://{source}", str(clone),
    )  # fmt: skip
    assert (clone / ".git" / "shallow").is_file()
    return clone


def test_a_shallow_clone_deep_enough_finds_the_merge_base(tmp_path: Path) -> None:
    clone = shallow_clone(history(tmp_path), tmp_path, depth=3)  # main~2 is the branch point
    comparison = compare(clone, "origin/main", "origin/feature")
    assert comparison.merge_base_found
    assert comparison.notes == ()
    assert {c.experiment for c in comparison.changes} == {"rx", "hello"}
    assert touched(clone, "origin/feature~1", "origin/feature") == {"hello"}


def test_a_shallow_clone_cut_above_the_merge_base_falls_back_to_base(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clone = shallow_clone(history(tmp_path), tmp_path, depth=1)
    comparison = compare(clone, "origin/main", "origin/feature")
    assert not comparison.merge_base_found
    assert comparison.since == comparison.base
    assert "the clone is shallow" in comparison.notes[0]
    assert "git fetch --deepen" in comparison.notes[0]
    # base..head directly: main's own edit of 'other' shows up too, but it still answers
    assert {c.experiment for c in comparison.changes} == {"rx", "hello", "other"}
    with caplog.at_level(logging.WARNING, logger="runner.gitops.changes"):
        changed_experiments(clone, "origin/main", "origin/feature")
    assert "no merge base of origin/main and origin/feature" in caplog.text


def test_a_commit_before_the_shallow_boundary_is_an_unknown_revision(tmp_path: Path) -> None:
    clone = shallow_clone(history(tmp_path), tmp_path, depth=1)
    with pytest.raises(UsageError, match=r"unknown revision 'origin/feature~1'.*--unshallow"):
        changed_experiments(clone, "origin/feature~1", "origin/feature")


def test_an_unknown_revision_is_a_usage_error_naming_it(repo: Path) -> None:
    with pytest.raises(UsageError, match=r"unknown revision 'origin/nope'.*git fetch"):
        changed_experiments(repo, "origin/nope", "HEAD")
    with pytest.raises(UsageError, match=r"'HEAD:testbed\.yaml' does not name a commit"):
        changed_experiments(repo, "HEAD", "HEAD:testbed.yaml")


def test_any_revision_git_understands_works(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "tag", "v1")
    write(repo, "experiments/hello/README.md", "# hi\n")
    commit_all(repo, "edit")
    for base in (first, first[:10], "v1", "main~1", "HEAD^"):
        assert touched(repo, base, "main") == {"hello"}


# -- hostile and broken scenarios -------------------------------------------------------


def test_a_scenario_that_does_not_parse_is_still_touched(repo: Path) -> None:
    write(repo, "experiments/hello/experiment.yaml", "name: hello\nroles: [\n\tbroken: {\n")
    write(repo, "images/tools/Dockerfile", "FROM debian:trixie-slim\n")  # parse every candidate
    commit_all(repo, "broken")
    found = changes_of(repo)
    assert found["hello"].reasons == ("experiments/hello/experiment.yaml edited",)
    assert set(found) == {"hello", "ber-sweep", "tools-two"}


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            (PROJECT / "tests/examples/experiment/invalid/alias-bomb.yaml").read_bytes(),
            id="alias-bomb",
        ),
        pytest.param(b"roles: &a {main: {image: images/tools, x: *a}}\n", id="recursive-alias"),
        pytest.param(b"roles: " + b"[" * 300_000 + b"images/tools", id="deep-brackets"),
        pytest.param(b"roles:\n" + b"- " * 5_000 + b"images/tools\n", id="deep-sequences"),
        pytest.param(b"roles: {main: {image: images/tools}}\n" * 40_000, id="megabytes"),
        pytest.param(b"roles: {main: {image: images/tools}}\n\xff\xfe", id="not-utf8"),
    ],
)
def test_hostile_scenarios_neither_hang_nor_crash(repo: Path, data: bytes) -> None:
    target = repo / "experiments" / "hostile" / "experiment.yaml"
    target.parent.mkdir()
    target.write_bytes(data)
    commit_all(repo, "hostile")
    write(repo, "images/tools/Dockerfile", "FROM debian:trixie-slim\n")
    commit_all(repo, "tools")
    start = time.perf_counter()
    assert touched(repo) == {"ber-sweep", "tools-two"}  # unreadable: not confirmed as a user
    assert touched(repo, "HEAD~2", "HEAD") == {"ber-sweep", "tools-two", "hostile"}
    assert time.perf_counter() - start < 5


def test_file_names_that_are_not_utf8_or_hold_control_characters(repo: Path) -> None:
    (repo / "experiments" / "hello" / os.fsdecode(b"\xff\xfe.txt")).write_text("x")
    (repo / "experiments" / "rx" / "red\x1b[31m.txt").write_text("x")
    write(repo, "images/tools/Dockerfile", "FROM debian:trixie-slim\n")
    commit_all(repo, "odd names")
    found = changes_of(repo)
    assert set(found) == {"hello", "rx", "ber-sweep", "tools-two"}
    text = render(list(found.values()), as_json=False)
    assert "experiments/hello/\\xff\\xfe.txt added" in text
    assert "experiments/rx/red\\x1b[31m.txt added" in text
    assert "\x1b" not in text
    text.encode("utf-8")  # printable as it is
    assert json.loads(render(list(found.values()), as_json=True))


# -- the command --------------------------------------------------------------------------


def test_the_command_finds_the_repository_from_a_subdirectory(repo: Path) -> None:
    write(repo, "experiments/hello/README.md", "# hi\n")
    commit_all(repo, "edit")
    assert [
        c.experiment for c in changed(cwd=repo / "experiments", base="HEAD~1", head="HEAD")
    ] == ["hello"]


def test_the_command_outside_git_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not inside a git repository"):
        changed(cwd=tmp_path, base="main", head="HEAD")


def test_render_as_text_and_json() -> None:
    changes = [
        Change(experiment="ber-sweep", kind="touched", reasons=("image images/tools changed", "b")),
        Change(experiment="hello", kind="renamed", reasons=("r",), renamed_to="greeting"),
        Change(experiment="rx", kind="deleted", reasons=("experiments/rx/ deleted",)),
    ]
    assert render(changes, as_json=False).splitlines() == [
        "touched  ber-sweep          (image images/tools changed; b)",
        "renamed  hello -> greeting  (r)",
        "deleted  rx                 (experiments/rx/ deleted)",
    ]
    assert json.loads(render(changes, as_json=True))[1] == {
        "experiment": "hello",
        "kind": "renamed",
        "reasons": ["r"],
        "renamed_to": "greeting",
    }
    assert render([], as_json=False) == "no experiment is touched"
    assert json.loads(render([], as_json=True)) == []


# -- the pre-commit hook ------------------------------------------------------------------


def test_the_pre_commit_hook_runs_radiops_validate() -> None:
    hooks = yaml.safe_load((PROJECT / ".pre-commit-hooks.yaml").read_text())
    assert [hook["id"] for hook in hooks] == ["radiops-validate"]
    hook = hooks[0]
    assert hook["entry"] == "radiops validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    assert hook["description"]
    project = (PROJECT / "pyproject.toml").read_text()
    assert re.search(r'^radiops = "runner\.cli:main"$', project, re.MULTILINE)
    assert build_parser().parse_args(hook["entry"].split()[1:]).command == "validate"
    files = re.compile(hook["files"])
    for path in ("experiments/hello/experiment.yaml", "images/hello/Dockerfile", "testbed.yaml"):
        assert files.search(path), path
    for path in ("README.md", "runner/cli/app.py", "site/index.md", "old-testbed.yaml"):
        assert not files.search(path), path
