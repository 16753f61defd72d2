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
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pygit2
from pygit2.enums import DeltaStatus, DiffFind

from runner.model.errors import UsageError
from runner.model.experiment import SCENARIO_FILE, is_image_path
from runner.model.repo import EXPERIMENTS, IMAGES, RUNS, is_run_path
from runner.model.testbed import LOCAL_DEFAULT_NAME, LOCAL_NODES, TESTBED_FILE
from runner.model.yamldoc import MAX_BYTES, as_list, as_mapping, parse_yaml

REASONS_PER_DIRECTORY = 5

_log = logging.getLogger(__name__)

# A double-quoted YAML scalar may spell a path with escapes or split it over
# lines with a trailing backslash; a blob holding one is always parsed.
_ESCAPES = re.compile(rb"\\[xuU/ \t\r\n]")
_LITERAL_BREAKS = re.compile(r"[\s'\"\\]+")

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


@dataclass(kw_only=True)
class _Edits:
    """The diff sorted by what each path can touch (filled by ``_sorted_edits``)."""

    in_experiments: dict[str, list[str]] = field(default_factory=dict)  # name -> reasons
    in_images: dict[str, list[str]] = field(default_factory=dict)  # images/<dir> -> paths
    files: dict[str, str] = field(default_factory=dict)  # path -> changed/added/deleted
    scenario_renames: list[tuple[str, str]] = field(default_factory=list)  # (old, new)
    testbed: bool = False


def _sorted_edits(diff: pygit2.Diff) -> _Edits:
    edits = _Edits()
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
        if _scenario(head, old) is None
        and _scenario(since, new) is None
        and _scenario(head, new) is not None
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
        elif _scenario(head, name) is not None:
            touched[name] = _capped(reasons, name)
        elif _scenario(since, name) is not None:
            gone.append(Change(experiment=name, kind="deleted", reasons=(_deletion(head, name),)))
    nodes = _node_changes(since, head, notes) if edits.testbed else {}
    for name, reasons in _indirect(head, edits, nodes):
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
    if _entry(head, f"{EXPERIMENTS}/{name}") is None:
        return f"{EXPERIMENTS}/{name}/ deleted"
    return f"{EXPERIMENTS}/{name}/{SCENARIO_FILE} deleted"


def _entry(tree: pygit2.Tree, path: str) -> pygit2.Object | None:
    try:
        return tree[path]
    except KeyError:
        return None


def _scenario(tree: pygit2.Tree, name: str) -> pygit2.Blob | None:
    """The scenario blob of experiment ``name`` in ``tree``, if it has one."""
    found = _entry(tree, f"{EXPERIMENTS}/{name}/{SCENARIO_FILE}")
    return found if isinstance(found, pygit2.Blob) else None


def _scenarios(tree: pygit2.Tree) -> Iterator[tuple[str, pygit2.Blob]]:
    """Every experiment in ``tree`` with its scenario blob."""
    folder = _entry(tree, EXPERIMENTS)
    if not isinstance(folder, pygit2.Tree):
        return
    for entry in folder:
        if isinstance(entry, pygit2.Tree) and entry.name is not None:
            scenario = _entry(entry, SCENARIO_FILE)
            if isinstance(scenario, pygit2.Blob):
                yield entry.name, scenario


def _rename_edits(
    repo: pygit2.Repository, since: pygit2.Tree, old: str, head: pygit2.Tree, new: str
) -> list[str]:
    """What differs between experiments/<old> at ``since`` and experiments/<new> at head,
    apart from the runs and the scenario's name."""
    before = _entry(since, f"{EXPERIMENTS}/{old}")
    after = _entry(head, f"{EXPERIMENTS}/{new}")
    if not isinstance(before, pygit2.Tree) or not isinstance(after, pygit2.Tree):
        return []
    reasons = []
    for delta in before.diff_to_tree(after).deltas:
        gone = delta.status == DeltaStatus.DELETED
        path = delta.old_file.path if gone else delta.new_file.path
        if path.startswith(f"{RUNS}/"):
            continue
        if path == SCENARIO_FILE and delta.status == DeltaStatus.MODIFIED:
            before_data = _without_name(_read_yaml(repo[delta.old_file.id], path))
            after_data = _without_name(_read_yaml(repo[delta.new_file.id], path))
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


def _indirect(
    head: pygit2.Tree, edits: _Edits, nodes: dict[str, str]
) -> Iterator[tuple[str, list[str]]]:
    """Experiments touched through an image, an input or a testbed node, with why.

    Every scenario blob is searched for the literal text that must appear in
    it to refer to what changed; only those that contain it are parsed.
    """
    # paths git stored in another encoding come back with their bytes escaped
    always = [text.encode("utf-8", "surrogateescape") for text in [*edits.in_images, *nodes]]
    inputs = sorted({_literal(posixpath.basename(path)) for path in edits.files} - {b""})
    if not always and not inputs:
        return
    for name, blob in _scenarios(head):
        data = blob.data
        escaped = b"\\" in data and _ESCAPES.search(data) is not None
        maybe = escaped or any(needle in data for needle in always)
        if not maybe and inputs and b"inputs" in data:
            maybe = any(needle in data for needle in inputs)
        if not maybe:
            continue
        reasons = _uses(_read_yaml(blob, f"{EXPERIMENTS}/{name}/{SCENARIO_FILE}"), edits, nodes)
        if reasons:
            yield name, reasons


def _literal(text: str) -> bytes:
    """The longest part of ``text`` that any YAML spelling of it writes verbatim.

    Quoted scalars may fold a line at a space, double a single quote or
    escape a character; none of that happens inside the part returned.
    """
    return max(_LITERAL_BREAKS.split(text), key=len).encode("utf-8", "surrogateescape")


def _uses(data: object, edits: _Edits, nodes: dict[str, str]) -> list[str]:
    """Why the scenario ``data`` is touched by images, inputs and nodes that changed."""
    scenario = as_mapping(data)
    reasons: list[str] = []
    contexts: set[str] = set()
    pinned: set[str] = set()
    for role in as_mapping(scenario.get("roles")).values():
        image = as_mapping(role).get("image")
        if isinstance(image, str) and is_image_path(image):
            contexts.add(posixpath.normpath(image))
        node = as_mapping(role).get("node")
        if isinstance(node, str):
            pinned.add(node)
    for context in sorted(contexts):
        paths = [
            path
            for path in edits.in_images.get("/".join(context.split("/")[:2]), [])
            if path == context or path.startswith(context + "/")
        ]
        if paths:
            shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
            reasons.append(f"image {context} changed ({shown})")
    declared = {item for item in as_list(scenario.get("inputs")) if isinstance(item, str)}
    for item in sorted(declared):
        effect = edits.files.get(posixpath.normpath(item))
        if effect is not None:
            reasons.append(f"input {item} {effect}")
    for node in sorted(pinned & nodes.keys()):
        reasons.append(f"testbed node {node} {nodes[node]}")
    return reasons


def _node_changes(since: pygit2.Tree, head: pygit2.Tree, notes: list[str]) -> dict[str, str]:
    """Nodes whose definition differs between the two testbed.yaml: name -> what happened.

    A side where the file does not parse has unknown definitions, which
    differ from every known one.
    """
    before = _nodes(since, notes, "before the change")
    after = _nodes(head, notes, "at head")
    if before is None or after is None:
        known = before if after is None else after
        return dict.fromkeys(known or {}, "changed")
    found = {}
    for name in before.keys() | after.keys():
        if name not in before:
            found[name] = "added"
        elif name not in after:
            found[name] = "removed"
        elif before[name] != after[name]:
            found[name] = "changed"
    return found


def _nodes(tree: pygit2.Tree, notes: list[str], when: str) -> dict[str, object] | None:
    blob = _entry(tree, TESTBED_FILE)
    if blob is None:
        return dict.fromkeys(LOCAL_NODES, LOCAL_DEFAULT_NAME)
    data = _read_yaml(blob, TESTBED_FILE) if isinstance(blob, pygit2.Blob) else None
    nodes = as_mapping(data).get("nodes")
    if not isinstance(nodes, dict):
        notes.append(
            f"{TESTBED_FILE} {when} cannot be read as an inventory: every node it may "
            "define counts as changed (radiops validate says what is wrong)"
        )
        return None
    return nodes


def _read_yaml(blob: pygit2.Object, display: str) -> object:
    """The data of a YAML blob, or None when it cannot be read: never raises."""
    if not isinstance(blob, pygit2.Blob) or blob.size > MAX_BYTES:
        return None
    try:
        text = blob.data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    document, _ = parse_yaml(text, path=Path(display), display=display)  # bounded, never raises
    return None if document is None else document.data
