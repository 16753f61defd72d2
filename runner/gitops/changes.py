"""Which experiments a change touches: a pygit2 tree diff from the merge base to head.

A pull request runs exactly the experiments it touches. An experiment at head
is touched by an edit in its own directory (its ``runs/`` results aside: the
runner commits those back, and they must never trigger runs), in the
``images/<dir>`` build context one of its roles uses, in a file it declares
as an input, or in the ``testbed.yaml`` definition of a node one of its roles
is pinned to. An experiment whose scenario disappeared is deleted, or renamed
when the diff's rename detection pairs its scenario with a new directory's.

Scenarios are read from the head commit, never from the working tree, and
only the few that may refer to what changed are parsed: a bytes search in
every scenario blob preselects them, which keeps a repository of 10,000
experiments well under a second.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pygit2
from pygit2.enums import DeltaStatus, DiffFind

from runner.gitops.scenario_uses import (
    Edits,
    indirect,
    node_changes,
    read_yaml,
    scenario_blob,
    tree_entry,
)
from runner.model.errors import UsageError
from runner.model.experiment import SCENARIO_FILE
from runner.model.repo import EXPERIMENTS, IMAGES, RUNS, is_run_path
from runner.model.testbed import TESTBED_FILE

REASONS_PER_DIRECTORY = 5

_log = logging.getLogger(__name__)

Kind = Literal["touched", "deleted", "renamed"]


@dataclass(frozen=True, kw_only=True)
class Change:
    """One experiment a change concerns, and why, in plain words."""

    experiment: str  # the experiment's directory name (the old one for a rename)
    kind: Kind
    reasons: tuple[str, ...]
    renamed_to: str | None = None  # the new directory name, for kind == "renamed"


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """What ``compare`` found: the commits it compared and the changes between them."""

    base: str  # the commit id ``base`` resolved to
    head: str  # the commit id ``head`` resolved to
    since: str  # the commit diffed from: the merge base, or ``base`` when there is none
    merge_base_found: bool
    changes: tuple[Change, ...]  # sorted by experiment name
    notes: tuple[str, ...] = ()  # what the caller should tell the user (fallbacks)


def changed_experiments(repo_path: Path, base: str, head: str) -> list[Change]:
    """The experiments touched, deleted or renamed on ``head`` since it left ``base``.

    ``base`` and ``head`` are any revisions git understands (a sha, a branch,
    ``origin/main``, ``HEAD~1``). The diff runs from their merge base to
    ``head``; when the history holds no merge base (a shallow clone cut
    before the branch point) it runs from ``base`` itself, and the note
    saying so is logged as a warning (``compare`` returns it instead).
    Raises UsageError for a revision that names no commit.
    """
    comparison = compare(repo_path, base, head)
    for note in comparison.notes:
        _log.warning("%s", note)
    return list(comparison.changes)


def compare(repo_path: Path, base: str, head: str) -> Comparison:
    """Like ``changed_experiments``, with the commits compared and any notes."""
    repo = _open(repo_path)
    base_commit = _commit(repo, base)
    head_commit = _commit(repo, head)
    notes: list[str] = []
    merge_base = _merge_base(repo, base_commit, head_commit)
    since = base_commit if merge_base is None else merge_base
    if merge_base is None:
        why = "the clone is shallow" if repo.is_shallow else "they share no history"
        notes.append(
            f"no merge base of {base} and {head} ({why}): compared {base} with {head} "
            f"directly, so changes made on {base} after the branch point count too; "
            "fetch more history ('git fetch --deepen=N' or '--unshallow') for an exact answer"
        )
    changes = _changes(repo, since.tree, head_commit.tree, notes)
    return Comparison(
        base=str(base_commit.id),
        head=str(head_commit.id),
        since=str(since.id),
        merge_base_found=merge_base is not None,
        changes=tuple(changes),
        notes=tuple(notes),
    )


def git_repository(start: Path) -> Path:
    """The git repository holding ``start`` (its ``.git`` directory); UsageError outside git."""
    found = pygit2.discover_repository(str(start))
    if found is None:
        raise UsageError(
            f"{start} is not inside a git repository; run radiops from a clone of your "
            "experiment repository"
        )
    return Path(found)


# -- revisions --------------------------------------------------------------------------


def _open(path: Path) -> pygit2.Repository:
    try:
        return pygit2.Repository(str(path))
    except pygit2.GitError:
        raise UsageError(f"{path} is not a git repository") from None


def _commit(repo: pygit2.Repository, rev: str) -> pygit2.Commit:
    try:
        return repo.revparse_single(rev).peel(pygit2.Commit)
    except KeyError:
        shallow = " (this clone is shallow: 'git fetch --deepen=N' or '--unshallow')"
        raise UsageError(
            f"unknown revision '{rev}': no such commit, branch or tag here; "
            f"run 'git fetch' to get it{shallow if repo.is_shallow else ''}"
        ) from None
    except (ValueError, pygit2.GitError) as exc:
        raise UsageError(f"'{rev}' does not name a commit: {exc}") from None


def _merge_base(
    repo: pygit2.Repository, base: pygit2.Commit, head: pygit2.Commit
) -> pygit2.Commit | None:
    try:
        found = repo.merge_base(base.id, head.id)
    except pygit2.GitError:  # a commit missing from a shallow or partial clone
        return None
    if found is None:  # the stubs say Oid; None means no merge base in this history
        return None
    return repo[found].peel(pygit2.Commit)


# -- what the diff changed --------------------------------------------------------------


def _sorted_edits(diff: pygit2.Diff) -> Edits:
    edits = Edits()
    for delta in diff.deltas:
        old, new = delta.old_file.path, delta.new_file.path
        if delta.status == DeltaStatus.RENAMED:
            edited = " and edited" if delta.similarity < 100 else ""
            events = [(old, f"renamed to {new}{edited}", "deleted")]
            events.append((new, f"renamed from {old}{edited}", "added"))
            old_name, new_name = _scenario_name(old), _scenario_name(new)
            if old_name and new_name and old_name != new_name:
                edits.scenario_renames.append((old_name, new_name))
        elif delta.status == DeltaStatus.ADDED:
            events = [(new, "added", "added")]
        elif delta.status == DeltaStatus.DELETED:
            events = [(old, "deleted", "deleted")]
        else:
            events = [(new, "edited", "changed")]
        for path, reason, effect in events:
            if is_run_path(path):  # results the runner commits back
                continue
            parts = path.split("/")
            if parts[0] == EXPERIMENTS and len(parts) > 2:
                edits.in_experiments.setdefault(parts[1], []).append(f"{path} {reason}")
            elif parts[0] == IMAGES and len(parts) > 1:
                edits.in_images.setdefault(f"{IMAGES}/{parts[1]}", []).append(path)
            elif path == TESTBED_FILE:
                edits.testbed = True
            # a type change is a deletion and an addition of the same path
            edits.files[path] = effect if path not in edits.files else "changed"
    return edits


def _scenario_name(path: str) -> str | None:
    parts = path.split("/")
    if len(parts) == 3 and parts[0] == EXPERIMENTS and parts[2] == SCENARIO_FILE:
        return parts[1]
    return None


# -- the changes ------------------------------------------------------------------------


def _changes(
    repo: pygit2.Repository, since: pygit2.Tree, head: pygit2.Tree, notes: list[str]
) -> list[Change]:
    if since.id == head.id:
        return []
    diff = since.diff_to_tree(head)
    diff.find_similar(flags=DiffFind.FIND_RENAMES)
    edits = _sorted_edits(diff)
    renamed = {
        old: new
        for old, new in edits.scenario_renames
        if scenario_blob(head, old) is None
        and scenario_blob(since, new) is None
        and scenario_blob(head, new) is not None
    }
    renamed_from = {new: old for old, new in renamed.items()}
    touched: dict[str, list[str]] = {}
    gone: list[Change] = []
    for name, reasons in edits.in_experiments.items():
        if name in renamed:
            reason = f"{EXPERIMENTS}/{name} renamed to {EXPERIMENTS}/{renamed[name]}"
            gone.append(
                Change(experiment=name, kind="renamed", reasons=(reason,), renamed_to=renamed[name])
            )
        elif name in renamed_from:
            # a rename alone runs nothing; what else changed on the way does
            edited = _rename_edits(repo, since, renamed_from[name], head, name)
            if edited:
                touched[name] = _capped(edited, name)
        elif scenario_blob(head, name) is not None:
            touched[name] = _capped(reasons, name)
        elif scenario_blob(since, name) is not None:
            gone.append(Change(experiment=name, kind="deleted", reasons=(_deletion(head, name),)))
    nodes = node_changes(since, head, notes) if edits.testbed else {}
    for name, reasons in indirect(head, edits, nodes):
        touched.setdefault(name, []).extend(reasons)
    changes = gone + [
        Change(experiment=name, kind="touched", reasons=tuple(reasons))
        for name, reasons in touched.items()
    ]
    return sorted(changes, key=lambda change: (change.experiment, change.kind))


def _capped(reasons: list[str], name: str) -> list[str]:
    if len(reasons) <= REASONS_PER_DIRECTORY:
        return reasons
    more = len(reasons) - REASONS_PER_DIRECTORY
    return [
        *reasons[:REASONS_PER_DIRECTORY],
        f"and {more} more change(s) under {EXPERIMENTS}/{name}/",
    ]


def _deletion(head: pygit2.Tree, name: str) -> str:
    if tree_entry(head, f"{EXPERIMENTS}/{name}") is None:
        return f"{EXPERIMENTS}/{name}/ deleted"
    return f"{EXPERIMENTS}/{name}/{SCENARIO_FILE} deleted"


def _rename_edits(
    repo: pygit2.Repository, since: pygit2.Tree, old: str, head: pygit2.Tree, new: str
) -> list[str]:
    """What differs between experiments/<old> at ``since`` and experiments/<new> at head,
    apart from the runs and the scenario's name."""
    before = tree_entry(since, f"{EXPERIMENTS}/{old}")
    after = tree_entry(head, f"{EXPERIMENTS}/{new}")
    if not isinstance(before, pygit2.Tree) or not isinstance(after, pygit2.Tree):
        return []
    reasons = []
    for delta in before.diff_to_tree(after).deltas:
        gone = delta.status == DeltaStatus.DELETED
        path = delta.old_file.path if gone else delta.new_file.path
        if path.startswith(f"{RUNS}/"):
            continue
        if path == SCENARIO_FILE and delta.status == DeltaStatus.MODIFIED:
            before_data = _without_name(read_yaml(repo[delta.old_file.id], path))
            after_data = _without_name(read_yaml(repo[delta.new_file.id], path))
            if before_data is not None and before_data == after_data:
                continue
        verb = {DeltaStatus.ADDED: "added", DeltaStatus.DELETED: "deleted"}.get(
            delta.status, "edited"
        )
        reasons.append(f"{EXPERIMENTS}/{new}/{path} {verb} in the rename from {EXPERIMENTS}/{old}")
    return reasons


def _without_name(data: object) -> dict[str, Any] | None:
    if not isinstance(data, dict):
        return None
    return {key: value for key, value in data.items() if key != "name"}


# -- images, inputs and nodes -----------------------------------------------------------
