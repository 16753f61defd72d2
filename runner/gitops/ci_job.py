"""The CI job: run what a change touches and record it in git (``radiops ci``, ``radiops watch``).

refuse run records the change wrote itself (trusted_runs) -> validate (strict) -> images
-> run every touched experiment not already run at the base -> commit each run directory
-> push (retrying when the branch moved) -> markdown summary. A failing experiment fails
the job only after everything has been recorded.
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2

from runner.gitops.base_runs import compare_new_runs
from runner.gitops.changes import Change, changed_experiments
from runner.gitops.comment import render_waiting
from runner.gitops.earlier_runs import earlier_runs
from runner.gitops.gitinfo import code_info, current_user
from runner.gitops.publish import BOT, Identity, commit_run, open_repository, push
from runner.gitops.summary import Row, render
from runner.gitops.trusted_runs import base_manifests, check_run_edits
from runner.model.errors import UsageError
from runner.model.experiment import SCENARIO_FILE, load_experiment
from runner.model.manifest import MANIFEST, Trigger
from runner.model.problems import ProblemsFound
from runner.model.regression_report import inert, render_comparisons
from runner.model.report import Reporter
from runner.model.testbed import (
    TESTBED_FILE,
    Testbed,
    local_default,
    read_testbed,
    resolve_testbed,
)
from runner.pipeline.experiment_run import RunOptions, run_experiment
from runner.pipeline.runs import RunResult
from runner.pipeline.validation import validate


@dataclass(frozen=True, kw_only=True)
class CiReport:
    rows: tuple[Row, ...]
    changes: tuple[Change, ...]
    skipped: tuple[tuple[str, str], ...]
    summary: str
    pushed: bool

    @property
    def succeeded(self) -> bool:
        return all(row.result.status == "succeeded" for row in self.rows)


def ci(
    *,
    cwd: Path,
    base: str,
    head: str,
    reporter: Reporter,
    cancel: threading.Event,
    rerun: bool = False,
    publish: bool = False,
    remote: str = "origin",
    branch: str | None = None,
    bot: Identity = BOT,
    testbed_file: Path | None = None,
    trigger: Trigger = Trigger(kind="push"),  # noqa: B008 - frozen, so safe to share
    site_url: str | None = None,
    summary_path: Path | None = None,
    comment: Callable[[str], None] | None = None,
) -> CiReport:
    """Run every experiment the change base..head touches; commit (and push) the results.

    ``comment`` receives the pull request's comment as it should read now: when
    the job starts, whenever a run starts waiting for a busy node, and at the end.
    """
    repo = open_repository(cwd)
    root = Path(repo.workdir or cwd).resolve()
    head_id, target = _checked_out(repo, head, branch=branch, publish=publish)
    base_id = _resolve(repo, base)
    check_run_edits(repo, base_id, head_id, bot=bot)  # before anything runs

    inventory = (
        _trusted_testbed(repo, base)
        if testbed_file is None
        else resolve_testbed(root, testbed_file, cwd=cwd)
    )
    changes = tuple(changed_experiments(root, base, head))
    touched = [c.experiment for c in changes if c.kind == "touched"]
    reporter.line(
        f"ci {head_id[:12]}: {len(touched)} touched experiment(s)"
        + (f": {', '.join(touched)}" if touched else "")
    )
    scenarios = {name: root / "experiments" / name / SCENARIO_FILE for name in touched}
    if scenarios:
        validate(list(scenarios.values()), cwd=root)
    say = comment or (lambda _body: None)
    options = RunOptions(
        provenance=code_info, actor=current_user(), testbed=inventory, strict=True, trigger=trigger
    )
    rows, skipped = _run_touched(
        repo,
        root,
        base_id,
        scenarios,
        options,
        rerun=rerun,
        say=say,
        head_id=head_id,
        reporter=reporter,
        cancel=cancel,
    )
    if target is not None:
        _commit(repo, rows, branch=target, bot=bot)
    pushed = False
    if publish and target is not None and rows:
        attempts = push(repo, remote_name=remote, branch=target, on_retry=reporter.line)
        reporter.line(f"ci: pushed {len(rows)} run(s) to {remote}/{target} ({attempts} attempt(s))")
        pushed = True
    summary = render(
        rows,
        changes=changes,
        skipped=skipped,
        head=head_id,
        root=root,
        site_url=site_url,
        comparisons=_against_base(repo, base, base_id, rows, scenarios=scenarios),
    )
    if summary_path is not None:
        with summary_path.open("a", encoding="utf-8") as out:  # GITHUB_STEP_SUMMARY appends
            out.write(summary)
    say(summary)
    return CiReport(
        rows=tuple(rows), changes=changes, skipped=tuple(skipped), summary=summary, pushed=pushed
    )


def _checked_out(
    repo: pygit2.Repository, head: str, *, branch: str | None, publish: bool
) -> tuple[str, str | None]:
    """--head's commit, which the work tree must be at, and the branch results go to."""
    head_id = _resolve(repo, head)
    if str(repo.head.peel(pygit2.Commit).id) != head_id:
        raise UsageError(
            f"the work tree is at {repo.head.peel(pygit2.Commit).id}, not at --head {head}: "
            "check out the head commit first"
        )
    target = branch or (None if repo.head_is_detached else repo.head.shorthand)
    if publish and target is None:
        raise UsageError("the work tree is a detached checkout: name the branch with --branch")
    return head_id, target


def _run_touched(
    repo: pygit2.Repository,
    root: Path,
    base_id: str,
    scenarios: dict[str, Path],
    options: RunOptions,
    *,
    rerun: bool,
    say: Callable[[str], None],
    head_id: str,
    reporter: Reporter,
    cancel: threading.Event,
) -> tuple[list[Row], list[tuple[str, str]]]:
    """Run each touched experiment that did not already run at the base; what ran, what not."""
    heading = f"### radiops: running {len(scenarios)} experiment(s) for `{head_id[:12]}`\n"
    say(heading)
    waiting: dict[str, str] = {}

    def on_wait(experiment: str, nodes: frozenset[str]) -> None:
        waiting[experiment] = ", ".join(sorted(nodes))
        say(heading + "\n" + render_waiting(waiting))

    rows: list[Row] = []
    skipped: list[tuple[str, str]] = []
    for name, scenario in scenarios.items():
        if cancel.is_set():
            skipped.append((name, "not run: the job was cancelled"))
            continue
        trusted = [] if rerun else base_manifests(repo, base_id, name, MANIFEST)
        earlier = earlier_runs(load_experiment(scenario), root, trusted) if trusted else []
        if earlier:
            skipped.append((name, f"already ran for this scenario and images ({earlier[-1]})"))
            continue
        results = run_experiment(
            scenario.parent,
            dataclasses.replace(options, on_wait=on_wait),
            cwd=root,
            reporter=reporter,
            cancel=cancel,
        )
        waiting.pop(name, None)
        rows += [Row(experiment=name, result=result) for result in results]
    return rows, skipped


def _commit(repo: pygit2.Repository, rows: Sequence[Row], *, branch: str, bot: Identity) -> None:
    for row in rows:
        result: RunResult = row.result
        message = f"radiops: {row.experiment} run {result.run_id} {result.status}"
        commit_run(repo, result.run_dir, branch=branch, identity=bot, message=message)


def _against_base(
    repo: pygit2.Repository,
    base: str,
    base_id: str,
    rows: Sequence[Row],
    *,
    scenarios: dict[str, Path],
) -> str:
    """The new runs' metrics against the base's runs of the same points, as markdown."""
    tolerances = {
        name: load_experiment(scenarios[name]).metric_tolerances
        for name in {row.experiment for row in rows}
    }
    new_runs = [(row.experiment, row.result.run_dir) for row in rows]
    comparisons, notes = compare_new_runs(repo, base_id, new_runs, tolerances)
    text = render_comparisons(comparisons, base=f"{base} ({base_id[:12]})")
    if notes:
        text += "\n" + "\n".join(f"- {inert(note)}" for note in notes) + "\n"
    return text


def _trusted_testbed(repo: pygit2.Repository, base: str) -> tuple[Testbed, str]:
    """The inventory as the base commit has it, never as the pull request edits it.

    A pull request could otherwise grant its own containers a network, devices or
    capabilities. Its paths (TLS files, the artifact store) must be absolute: the
    checkout around is the pull request's, so a relative one would name its files.
    Without testbed.yaml at the base: the local default testbed.
    """
    commit = repo.revparse_single(_resolve(repo, base)).peel(pygit2.Commit)
    if TESTBED_FILE not in commit.tree:
        return local_default(), "the local default testbed"
    blob = commit.tree[TESTBED_FILE]
    shown = f"{TESTBED_FILE} at {str(commit.id)[:12]}"
    with tempfile.TemporaryDirectory(prefix="radiops-testbed-") as folder:
        copy = Path(folder) / TESTBED_FILE
        copy.write_bytes(blob.read_raw())
        _, loaded, problems = read_testbed(copy, display=shown, absolute_paths=True)
    if loaded is None:
        raise ProblemsFound(problems)
    return loaded, shown


def _resolve(repo: pygit2.Repository, rev: str) -> str:
    try:
        return str(repo.revparse_single(rev).peel(pygit2.Commit).id)
    except (KeyError, ValueError, pygit2.GitError):
        raise UsageError(f"{rev}: no such commit here (git fetch it first?)") from None
