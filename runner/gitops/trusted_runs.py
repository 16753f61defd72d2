"""Which run records ``radiops ci`` believes, and which commits may add them.

A run record (``experiments/<name>/runs/<id>/``) says a job ran and how it
went; the site shows it and CI skips a job that already ran. A pull request
can write a record that matches its own tree, so CI holds to two rules:

1. Earlier runs come from the base commit's tree only (``base_manifests``).
   Nothing on the pull request's branch makes CI skip a job.
2. Between base and head, only the runner's own result commits may change
   ``runs/`` (``check_run_edits``, which fails the job before anything runs).
   A result commit is one the runner writes (``publish.commit_run``) and
   replays (``publish.push``): its author and its committer are both the bot
   identity CI was given (``--bot-name``/``--bot-email``), it has one parent,
   and it only adds files, all under ``experiments/<name>/runs/``. Any other
   commit touching ``runs/`` (a person's, a merge resolving ``runs/``, a bot
   commit that also edits code or deletes a record) fails the job. A merge
   that only brings in the base's own records is no edit: a path counts when
   it differs from every parent.

Git does not authenticate names: a person can write a commit as the bot. Such
a commit passes rule 2, yet by rule 1 never makes CI skip a run; reviewers see
it in the diff like any other change.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygit2
from pygit2.enums import DeltaStatus, SortMode

from runner.gitops.publish import Identity
from runner.model.errors import InvalidInput
from runner.model.problems import printable
from runner.model.repo import EXPERIMENTS, RUNS, is_run_path

SHOWN_COMMITS = 10
SHOWN_PATHS = 5


@dataclass(frozen=True, kw_only=True)
class RunEdit:
    """A commit that changes run records without being a result commit."""

    commit: str
    author: str
    paths: tuple[str, ...]  # the run paths it changes, sorted


class RunsEdited(InvalidInput):
    """The change edits run records itself."""


def check_run_edits(repo: pygit2.Repository, base: str, head: str, *, bot: Identity) -> None:
    """Raise RunsEdited when a commit in base..head other than a result commit changes runs/."""
    edits = run_edits(repo, base, head, bot=bot)
    if edits:
        raise RunsEdited(_message(edits, bot))


def run_edits(repo: pygit2.Repository, base: str, head: str, *, bot: Identity) -> list[RunEdit]:
    """Every commit on ``head`` but not on ``base`` that changes runs/ and may not, oldest first."""
    walker = repo.walk(repo[head].peel(pygit2.Commit).id, SortMode.TOPOLOGICAL | SortMode.REVERSE)
    since = repo[base].peel(pygit2.Commit)
    walker.hide(since.id)
    found = []
    for commit in walker:
        changes = _changes(commit, since.tree)
        runs = sorted(path for path in changes if is_run_path(path))
        if runs and not _is_result_commit(commit, changes, bot):
            author = f"{commit.author.name} <{commit.author.email}>"
            found.append(RunEdit(commit=str(commit.id), author=author, paths=tuple(runs)))
    return found


def base_manifests(
    repo: pygit2.Repository, base: str, experiment: str, manifest: str
) -> list[bytes]:
    """The text of every ``runs/<id>/<manifest>`` of ``experiment`` in the base commit's tree."""
    tree = repo[base].peel(pygit2.Commit).tree
    try:
        runs = tree[f"{EXPERIMENTS}/{experiment}/{RUNS}"]
    except KeyError:
        return []
    if not isinstance(runs, pygit2.Tree):
        return []
    found = []
    for run in sorted(runs, key=lambda entry: entry.name or ""):
        if not isinstance(run, pygit2.Tree) or manifest not in run:
            continue
        blob = run[manifest]
        if isinstance(blob, pygit2.Blob):
            found.append(blob.data)
    return found


def _is_result_commit(
    commit: pygit2.Commit, changes: dict[str, DeltaStatus], bot: Identity
) -> bool:
    signed = all(
        (person.name, person.email) == (bot.name, bot.email)
        for person in (commit.author, commit.committer)
    )
    additions = all(
        is_run_path(path) and status == DeltaStatus.ADDED for path, status in changes.items()
    )
    return signed and len(commit.parents) == 1 and additions


def _changes(commit: pygit2.Commit, base: pygit2.Tree) -> dict[str, DeltaStatus]:
    """Path -> how ``commit`` changed it; for a merge, only paths that differ from every parent.

    A commit without parents (a shallow clone's first, or a root) is compared
    with the base, as ``changes.compare`` does without a merge base.
    """
    per_parent = []
    for before in [parent.tree for parent in commit.parents] or [base]:
        changed: dict[str, DeltaStatus] = {}
        for delta in before.diff_to_tree(commit.tree).deltas:
            gone = delta.status == DeltaStatus.DELETED
            changed[delta.old_file.path if gone else delta.new_file.path] = delta.status
        per_parent.append(changed)
    common = set.intersection(*(set(changed) for changed in per_parent))
    return {path: per_parent[0][path] for path in common}


def _message(edits: list[RunEdit], bot: Identity) -> str:
    lines = [
        "this change edits run records (experiments/<name>/runs/), which only the runner's "
        f"result commits (by {bot.name} <{bot.email}>) may add:"
    ]
    for edit in edits[:SHOWN_COMMITS]:
        shown = ", ".join(edit.paths[:SHOWN_PATHS])
        more = len(edit.paths) - SHOWN_PATHS
        lines.append(
            printable(f"  {edit.commit[:12]} by {edit.author}: {shown}")
            + (f" and {more} more" if more > 0 else "")
        )
    if len(edits) > SHOWN_COMMITS:
        lines.append(f"  and {len(edits) - SHOWN_COMMITS} more commit(s)")
    lines.append(
        "remove these paths from the pull request: CI runs the experiments and commits "
        "their results itself"
    )
    return "\n".join(lines)
