"""``radiops pin [PATH...]``: pin the scenarios' registry images by digest.

Every role image that is a registry reference with a mutable tag is
resolved to the digest its registry serves now, and the scenario file is
rewritten in place: only that value changes, comments and formatting stay.
``images/<dir>`` references are pinned through images.lock instead.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from runner.cli.command import Command, Context
from runner.model.errors import EnvironmentProblem, InvalidInput, UsageError
from runner.model.experiment import SCENARIO_FILE, is_image_path, read_experiment
from runner.model.files import write_atomic
from runner.model.problems import Problem, ProblemsFound, printable
from runner.model.references import is_pinned
from runner.model.repo import Repository, find_repository
from runner.model.report import LineReporter, Reporter
from runner.model.testbed import resolve_testbed
from runner.model.yamldoc import JsonPath, YamlDocument, parse_yaml

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
REGISTRY_TIMEOUT_S = 30.0
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# the written value at a node's position: optional anchor/tag, optional quotes
_SCALAR = re.compile(r"(?:[&!]\S*\s+)*(?P<quote>[\"']?)(?P<value>[^\s\"'#,\[\]{}]+)(?P=quote)")


@dataclass(frozen=True, kw_only=True)
class Reference:
    """A registry reference split the way Docker splits it."""

    name: str  # as written, without tag: "localhost:5000/x", "debian"
    domain: str  # "localhost:5000", "docker.io"
    path: str  # repository path on the registry: "x", "library/debian"
    tag: str

    @property
    def host(self) -> str:
        return "registry-1.docker.io" if self.domain == "docker.io" else self.domain


@dataclass(frozen=True, kw_only=True)
class _Edit:
    paths: tuple[JsonPath, ...]  # several when roles share the value through an alias
    line: int
    column: int
    old: str
    new: str


def pin(
    paths: Sequence[str],
    *,
    cwd: Path,
    testbed_file: Path | None,
    reporter: Reporter | None = None,
) -> list[str]:
    """Pin every unpinned registry image of the scenarios at ``paths`` (default: all).

    Returns the changes as ``file:line: old -> new``. Nothing is written
    unless every scenario is valid and every digest was found; each file is
    replaced atomically.
    """
    repo, scenarios = _scenarios(paths, cwd=cwd)
    insecure = _insecure_registries(repo, testbed_file, cwd=cwd)
    documents: list[YamlDocument] = []
    problems: list[Problem] = []
    for scenario in scenarios:
        document, _, found = read_experiment(scenario, display=repo.display(scenario, cwd=cwd))
        problems += found
        if document is not None and not found:
            documents.append(document)
    if problems:
        raise ProblemsFound(problems)

    digests: dict[str, str] = {}
    unresolved: dict[str, str] = {}  # image -> why; asked once
    failures: list[str] = []
    plans: list[tuple[YamlDocument, list[_Edit]]] = []
    for document in documents:
        edits: dict[tuple[int, int], _Edit] = {}
        for role, spec in document.data["roles"].items():
            image = spec["image"]
            if is_image_path(image) or is_pinned(image):
                continue
            if image not in digests and image not in unresolved:
                (reporter or LineReporter()).line(f"resolving {image}")
                try:
                    digests[image] = resolve_digest(image, insecure=insecure)
                except EnvironmentProblem as exc:
                    unresolved[image] = str(exc)
            if image in unresolved:
                failures.append(f"{document.display}: roles.{role}.image: {unresolved[image]}")
                continue
            where = document.values[("roles", role, "image")]
            new = f"{parse_reference(image).name}@{digests[image]}"
            # roles that share a value through a YAML alias share its position
            shared = edits.get((where.line, where.column))
            edits[(where.line, where.column)] = _Edit(
                paths=(*(shared.paths if shared else ()), ("roles", role, "image")),
                line=where.line,
                column=where.column,
                old=image,
                new=new,
            )
        if edits:
            plans.append((document, list(edits.values())))
    if failures:
        raise EnvironmentProblem("cannot pin:\n" + "\n".join(f"  {f}" for f in failures))

    rewritten = [(document, _rewrite(document, edits)) for document, edits in plans]
    changes: list[str] = []
    for (document, text), (_, done) in zip(rewritten, plans, strict=True):
        write_atomic(document.path, text)
        changes += [f"{document.display}:{e.line}: {e.old} -> {e.new}" for e in done]
    return changes


def _scenarios(paths: Sequence[str], *, cwd: Path) -> tuple[Repository, list[Path]]:
    absolute = [Path(os.path.normpath(cwd / text)) for text in paths]
    repo = find_repository(absolute[0] if absolute else cwd)
    every = [d / SCENARIO_FILE for d in repo.experiment_dirs()]
    found: set[Path] = set() if paths else set(every)
    for text, path in zip(paths, absolute, strict=True):
        if path in (repo.root, repo.experiments_dir):
            found.update(every)
        elif path.name == SCENARIO_FILE and path.is_file():
            found.add(path)
        elif path.parent == repo.experiments_dir and (path / SCENARIO_FILE).is_file():
            found.add(path / SCENARIO_FILE)
        else:
            raise UsageError(
                f"{text}: not an experiment directory, a scenario file or the repository"
            )
    outside = [p for p in found if not repo.contains(p)]
    if outside:
        raise UsageError(f"{outside[0]} leads outside the repository {repo.root}")
    return repo, sorted(found)


def _insecure_registries(repo: Repository, testbed_file: Path | None, *, cwd: Path) -> set[str]:
    testbed, _ = resolve_testbed(repo.root, testbed_file, cwd=cwd)
    registry = testbed.registry
    return {registry.address} if registry is not None and registry.insecure else set()


# -- rewriting ------------------------------------------------------------------------


def _rewrite(document: YamlDocument, edits: list[_Edit]) -> str:
    """The file's text with each edit's value replaced, checked by parsing it again."""
    text = document.path.read_bytes().decode("utf-8")  # bytes: keep \r\n as written
    lines = text.splitlines(keepends=True)
    for edit in sorted(edits, key=lambda e: (e.line, e.column), reverse=True):
        line = lines[edit.line - 1] if edit.line <= len(lines) else ""
        match = _SCALAR.match(line, edit.column - 1)
        if match is None or match["value"] != edit.old:
            raise InvalidInput(
                f"{document.display}:{edit.line}:{edit.column}: the image is written in a form "
                f"pin does not edit; replace {edit.old} with {edit.new} by hand"
            )
        start, end = match.span("value")
        lines[edit.line - 1] = line[:start] + edit.new + line[end:]
    new_text = "".join(lines)
    reread, problems = parse_yaml(new_text, path=document.path, display=document.display)
    expected = copy.deepcopy(document.data)
    for edit in edits:
        for path in edit.paths:
            expected["roles"][path[1]]["image"] = edit.new
    if reread is None or problems or reread.data != expected:
        raise InvalidInput(
            f"{document.display}: rewriting the image references would change more than "
            "them; pin them by hand"
        )
    return new_text


# -- registries -----------------------------------------------------------------------


def parse_reference(ref: str) -> Reference:
    """Split ``ref`` (``[domain/]path[:tag]``) the way Docker does; the tag defaults to latest."""
    name, tag = ref, "latest"
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = ref.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    else:
        domain, path = "docker.io", name if "/" in name else f"library/{name}"
    return Reference(name=name, domain=domain, path=path, tag=tag)


def resolve_digest(ref: str, *, insecure: set[str] | frozenset[str] = frozenset()) -> str:
    """The digest ``ref``'s registry serves for its tag now (``sha256:<hex>``).

    Asks the registry's HTTP API (``/v2/<path>/manifests/<tag>``) with the
    manifest and index media types, so a multi-platform image pins to its
    index. Plain HTTP for loopback registries and those in ``insecure``;
    anonymous bearer tokens are fetched when the registry asks for one.
    """
    reference = parse_reference(ref)
    scheme = "http" if reference.domain in insecure or _loopback(reference.domain) else "https"
    url = f"{scheme}://{reference.host}/v2/{reference.path}/manifests/{reference.tag}"
    headers = {"Accept": ", ".join(MANIFEST_TYPES)}
    try:
        try:
            digest, body = _fetch(url, headers, method="HEAD")
        except urllib.error.HTTPError as exc:
            if exc.code != 401:
                raise
            token = _token(exc.headers, scheme=scheme)
            headers["Authorization"] = f"Bearer {token}"
            digest, body = _fetch(url, headers, method="HEAD")
        if digest is None:  # not every registry sends the header: hash the manifest
            _, body = _fetch(url, headers, method="GET")
            digest = f"sha256:{hashlib.sha256(body).hexdigest()}"
    except urllib.error.HTTPError as exc:
        reason = "no such image or tag" if exc.code == 404 else f"HTTP {exc.code} {exc.reason}"
        raise EnvironmentProblem(f"{ref}: the registry {reference.domain} says: {reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise EnvironmentProblem(
            f"{ref}: cannot ask the registry {reference.domain}: {getattr(exc, 'reason', exc)}"
        ) from None
    if not _DIGEST.match(digest):
        raise EnvironmentProblem(f"{ref}: the registry answered an odd digest {printable(digest)}")
    return digest


def _fetch(url: str, headers: Mapping[str, str], *, method: str) -> tuple[str | None, bytes]:
    request = urllib.request.Request(url, headers=dict(headers), method=method)  # noqa: S310
    with urllib.request.urlopen(request, timeout=REGISTRY_TIMEOUT_S) as response:  # noqa: S310
        digest = response.headers.get("Docker-Content-Digest")
        return digest, response.read(4 << 20) if method == "GET" else b""


def _token(headers: Message, *, scheme: str) -> str:
    challenge = headers.get("WWW-Authenticate", "")
    kind, _, params = challenge.partition(" ")
    fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
    realm = fields.pop("realm", "")
    if kind.lower() != "bearer" or not realm.startswith(("https://", f"{scheme}://")):
        raise EnvironmentProblem(
            "the registry wants credentials radiops does not have; pull the image and pin "
            "it by hand (docker inspect --format '{{index .RepoDigests 0}}' IMAGE)"
        )
    url = f"{realm}?{urllib.parse.urlencode(fields)}"
    with urllib.request.urlopen(url, timeout=REGISTRY_TIMEOUT_S) as response:  # noqa: S310
        answer = json.loads(response.read(1 << 20))
    token = answer.get("token") or answer.get("access_token")
    if not isinstance(token, str):
        raise EnvironmentProblem("the registry's token service gave no token")
    return token


def _loopback(domain: str) -> bool:
    host = domain.rsplit(":", 1)[0] if not domain.endswith("]") else domain
    return host in ("localhost", "[::1]") or host.startswith("127.")


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="scenarios (default: all)")
    parser.add_argument("--testbed", type=Path, metavar="FILE", help="inventory to use")


def _main(args: argparse.Namespace, context: Context) -> int:
    changes = pin(args.paths, cwd=context.cwd, testbed_file=args.testbed, reporter=context.reporter)
    for change in changes:
        print(change)
    print(f"pinned {len(changes)} reference(s)" if changes else "every reference is pinned")
    return 0


COMMAND = Command(
    description="Resolve every role image given as a mutable registry tag to its digest "
    "and rewrite it in place, keeping the rest of the file byte for byte.",
    add_arguments=_arguments,
    main=_main,
)
