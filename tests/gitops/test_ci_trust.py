"""What ``radiops ci`` trusts of a pull request: real git repositories, no engine needed.

The inventory comes from the base commit and may not point into the pull
request's checkout.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.testing.repos import commit_all, git, radiops

INVENTORY = """\
nodes:
  remote1:
    engine: tcp://192.0.2.10:2376
    tls: {{ca: {certs}/ca.pem, cert: {certs}/cert.pem, key: {certs}/key.pem}}
artifacts:
  path: {store}
"""


def _repo_with_inventory(tmp_path: Path, certs: str, store: str) -> Path:
    repo = tmp_path / "repo"
    (repo / "experiments").mkdir(parents=True)
    (repo / "testbed.yaml").write_text(INVENTORY.format(certs=certs, store=store))
    (repo / ".gitignore").write_text(".radiops/\n")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "an inventory with TLS files and an artifact store")
    git(repo, "checkout", "-q", "-b", "pr")
    return repo


def _write_certs(folder: Path, content: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (folder / name).write_text(content)


def test_relative_inventory_paths_never_resolve_in_the_pull_requests_checkout(
    tmp_path: Path,
) -> None:
    repo = _repo_with_inventory(tmp_path, certs="certs", store="store")
    # the pull request brings its own CA (to trust an engine it runs) and a store link
    _write_certs(repo / "certs", "the pull request's own CA\n")
    (repo / "store").symlink_to(tmp_path)
    commit_all(repo, "bring my own certificates")
    result = radiops(repo, "ci", "--base", "main", "--head", "HEAD")
    assert result.returncode == 1, result.stdout + result.stderr
    base = git(repo, "rev-parse", "main").strip()[:12]
    for line, column, key in ((4, 15, "nodes.remote1.tls.ca"), (6, 9, "artifacts.path")):
        where = rf"^testbed\.yaml at {base}:{line}:{column}: {re.escape(key)}"
        assert re.search(where + ": must be an absolute path", result.stderr, re.M), result.stderr
    assert "Traceback" not in result.stderr


def test_absolute_inventory_paths_are_used_as_written(tmp_path: Path) -> None:
    certs = tmp_path / "runner-host" / "certs"
    _write_certs(certs, "the runner's CA\n")
    repo = _repo_with_inventory(tmp_path, certs=str(certs), store=str(tmp_path / "store"))
    _write_certs(repo / "runner-host" / "certs", "the pull request's own CA\n")
    commit_all(repo, "files at the same relative paths")
    result = radiops(repo, "ci", "--base", "main", "--head", "HEAD")
    assert result.returncode == 0, result.stderr
    assert "0 touched experiment(s)" in result.stderr + result.stdout
