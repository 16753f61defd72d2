"""``radiops attest RUN``: a run as an in-toto Statement v1, ready to sign.

Subjects are the run's outputs and logs (name and sha256); the predicate is
the manifest itself. Labs sign the statement with the tools they already use
(cosign attest-blob, in-toto, sigstore), so radiops holds no keys.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from runner.cli.command import Command, Context
from runner.model.errors import UsageError
from runner.model.manifest import MANIFEST, read_manifest
from runner.model.problems import ProblemsFound
from runner.model.repo import find_repository

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://radiops.dev/attestation/run/v1"


def attest(run: str, *, cwd: Path) -> dict[str, Any]:
    """The statement for ``run``: a run directory, its manifest, or a run id."""
    manifest_path = _find(run, cwd)
    _, manifest, problems = read_manifest(manifest_path)
    if manifest is None:
        raise ProblemsFound(problems)
    return statement(manifest)


def statement(manifest: dict[str, Any]) -> dict[str, Any]:
    subjects = [
        {
            "name": f"{item['role']}-{item['index']}/{item['path']}",
            "digest": {"sha256": item["sha256"]},
        }
        for item in manifest["outputs"]
    ] + [{"name": item["path"], "digest": {"sha256": item["sha256"]}} for item in manifest["logs"]]
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": manifest,
    }


def _find(run: str, cwd: Path) -> Path:
    given = cwd / run
    if given.is_file() and given.name == MANIFEST:
        return given
    if (given / MANIFEST).is_file():
        return given / MANIFEST
    repo = find_repository(cwd)
    found = sorted(repo.experiments_dir.glob(f"*/runs/{run}/{MANIFEST}"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise UsageError(
            f"{run}: no such run; give a run id (as printed by radiops run) or its directory"
        )
    raise UsageError(f"{run}: names more than one run: {', '.join(map(str, found))}")


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="a run id, or the run's directory")


def _main(args: argparse.Namespace, context: Context) -> int:
    print(dumps(attest(args.run, cwd=context.cwd)))
    return 0


COMMAND = Command(
    description="Print the run as an in-toto Statement v1 (subjects: its outputs and logs "
    "with their sha256; predicate: its manifest), for signing with cosign or in-toto.",
    add_arguments=_arguments,
    main=_main,
)
