"""What a scenario at head uses that a change may have edited: image build contexts,
declared inputs, and the ``testbed.yaml`` definition of the nodes its roles are pinned to;
read from git trees, scenarios preselected by a bytes search."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from runner.model.experiment import SCENARIO_FILE, is_image_path
from runner.model.repo import EXPERIMENTS
from runner.model.testbed import LOCAL_DEFAULT_NAME, LOCAL_NODES, TESTBED_FILE
from runner.model.yamldoc import MAX_BYTES, as_list, as_mapping, parse_yaml

# A double-quoted YAML scalar may spell a path with escapes or split it over
# lines with a trailing backslash; a blob holding one is always parsed.
_ESCAPES = re.compile(rb"\\[xuU/ \t\r\n]")


_LITERAL_BREAKS = re.compile(r"[\s'\"\\]+")


@dataclass(kw_only=True)
class Edits:
    """The diff sorted by what each path can touch (filled by ``_sorted_edits``)."""

    in_experiments: dict[str, list[str]] = field(default_factory=dict)  # name -> reasons
    in_images: dict[str, list[str]] = field(default_factory=dict)  # images/<dir> -> paths
    files: dict[str, str] = field(default_factory=dict)  # path -> changed/added/deleted
    scenario_renames: list[tuple[str, str]] = field(default_factory=list)  # (old, new)
    testbed: bool = False


def tree_entry(tree: pygit2.Tree, path: str) -> pygit2.Object | None:
    try:
        return tree[path]
    except KeyError:
        return None


def scenario_blob(tree: pygit2.Tree, name: str) -> pygit2.Blob | None:
    """The scenario blob of experiment ``name`` in ``tree``, if it has one."""
    found = tree_entry(tree, f"{EXPERIMENTS}/{name}/{SCENARIO_FILE}")
    return found if isinstance(found, pygit2.Blob) else None


def scenario_blobs(tree: pygit2.Tree) -> Iterator[tuple[str, pygit2.Blob]]:
    """Every experiment in ``tree`` with its scenario blob."""
    folder = tree_entry(tree, EXPERIMENTS)
    if not isinstance(folder, pygit2.Tree):
        return
    for entry in folder:
        if isinstance(entry, pygit2.Tree) and entry.name is not None:
            scenario = tree_entry(entry, SCENARIO_FILE)
            if isinstance(scenario, pygit2.Blob):
                yield entry.name, scenario


def indirect(
    head: pygit2.Tree, edits: Edits, nodes: dict[str, str]
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
    for name, blob in scenario_blobs(head):
        data = blob.data
        escaped = b"\\" in data and _ESCAPES.search(data) is not None
        maybe = escaped or any(needle in data for needle in always)
        if not maybe and inputs and b"inputs" in data:
            maybe = any(needle in data for needle in inputs)
        if not maybe:
            continue
        reasons = _uses(read_yaml(blob, f"{EXPERIMENTS}/{name}/{SCENARIO_FILE}"), edits, nodes)
        if reasons:
            yield name, reasons


def _literal(text: str) -> bytes:
    """The longest part of ``text`` that any YAML spelling of it writes verbatim.

    Quoted scalars may fold a line at a space, double a single quote or
    escape a character; none of that happens inside the part returned.
    """
    return max(_LITERAL_BREAKS.split(text), key=len).encode("utf-8", "surrogateescape")


def _uses(data: object, edits: Edits, nodes: dict[str, str]) -> list[str]:
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


def node_changes(since: pygit2.Tree, head: pygit2.Tree, notes: list[str]) -> dict[str, str]:
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
    blob = tree_entry(tree, TESTBED_FILE)
    if blob is None:
        return dict.fromkeys(LOCAL_NODES, LOCAL_DEFAULT_NAME)
    data = read_yaml(blob, TESTBED_FILE) if isinstance(blob, pygit2.Blob) else None
    nodes = as_mapping(data).get("nodes")
    if not isinstance(nodes, dict):
        notes.append(
            f"{TESTBED_FILE} {when} cannot be read as an inventory: every node it may "
            "define counts as changed (radiops validate says what is wrong)"
        )
        return None
    return nodes


def read_yaml(blob: pygit2.Object, display: str) -> object:
    """The data of a YAML blob, or None when it cannot be read: never raises."""
    if not isinstance(blob, pygit2.Blob) or blob.size > MAX_BYTES:
        return None
    try:
        text = blob.data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    document, _ = parse_yaml(text, path=Path(display), display=display)  # bounded, never raises
    return None if document is None else document.data
