"""Engines with known ``docker cp`` / archive flaws are refused before a run (issue 8, item 11).

The versions are checked as a pure function. One test shows the refusal
reaching the person through ``radiops testbed probe`` and ``radiops run``: old
engines cannot be installed here, so it talks to a tiny stand-in that answers
the Docker API's ``/version`` on a unix socket with an old release. This is the
one place a fake engine is acceptable: what is tested is radiops' reaction to
the version an engine reports, and everything after connecting is refused.
"""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from runner.engine.advisories import engine_version_problem
from tests.testing.repos import add_scenario, make_run_repo, radiops_in_process, shell_scenario


@pytest.mark.parametrize(
    ("version", "cves"),
    [
        ("1.13.1", {"CVE-2018-15664", "CVE-2021-41089"}),  # RHEL's long-lived docker
        ("17.03.2-ce", {"CVE-2018-15664", "CVE-2021-41089"}),
        ("18.06.1-ce-rc2", {"CVE-2018-15664", "CVE-2021-41089"}),
        ("18.09.1+dfsg1", {"CVE-2018-15664", "CVE-2021-41089"}),  # Debian buster
        ("18.09.7", {"CVE-2021-41089"}),  # the 18.09 fix of the symlink race
        ("19.03.0-rc3", {"CVE-2018-15664", "CVE-2019-14271", "CVE-2021-41089"}),
        ("19.03.0", {"CVE-2019-14271", "CVE-2021-41089"}),
        ("19.03.1", {"CVE-2021-41089"}),
        ("19.03.15", {"CVE-2021-41089"}),
        ("20.10.5+dfsg1", {"CVE-2021-41089"}),  # Debian bullseye
        ("20.10.9~rc1", {"CVE-2021-41089"}),
        ("20.10.8", {"CVE-2021-41089"}),
    ],
)
def test_engines_with_docker_cp_flaws_are_refused_naming_each_cve(
    version: str, cves: set[str]
) -> None:
    problem = engine_version_problem(version)
    assert problem is not None
    named = {word.strip("(;:,") for word in problem.split() if word.startswith("CVE-")}
    assert named == cves
    assert version in problem
    assert "upgrade it to" in problem


@pytest.mark.parametrize(
    "version",
    [
        "20.10.9",
        "20.10.24+dfsg1",  # Debian bookworm: the testbed's own engines
        "20.10.24+dfsg1-1+deb12u1",
        "v23.0.0",
        "24.0.7-0ubuntu2~22.04.1",
        "25.0.0-rc.1",
        "26.1.3",
        "28.5.2",
        "100.0",
    ],
)
def test_engines_with_every_fix_are_accepted(version: str) -> None:
    assert engine_version_problem(version) is None


@pytest.mark.parametrize("version", ["", "dev", "master", "unknown-version", "x20.10.24"])
def test_an_unreadable_version_is_refused(version: str) -> None:
    problem = engine_version_problem(version)
    assert problem is not None and "cannot tell which security fixes" in problem


# -- the refusal reaches the person ---------------------------------------------------------

OLD_ENGINE = "19.03.0"


class _VersionOnly(BaseHTTPRequestHandler):
    """Answers GET [/v1.xx]/version like Docker Engine 19.03.0; nothing else."""

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/version"):
            body = json.dumps(
                {"Version": OLD_ENGINE, "ApiVersion": "1.40", "MinAPIVersion": "1.12"}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        else:
            body = b'{"message": "not here"}'
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def address_string(self) -> str:  # a unix socket has no client address
        return "local"

    def log_message(self, format: str, *args: object) -> None:
        pass


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def old_engine(tmp_path: Path) -> Iterator[str]:
    """The URL of a stand-in Docker API that reports an old Engine release."""
    socket = tmp_path / "old-docker.sock"
    server = _UnixServer(str(socket), _VersionOnly)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"unix://{socket}"
    finally:
        server.shutdown()
        server.server_close()


def test_probe_and_run_refuse_a_node_with_an_old_engine(tmp_path: Path, old_engine: str) -> None:
    inventory = f"nodes:\n  bench:\n    engine: {old_engine}\n"
    repo = make_run_repo(tmp_path, testbed=inventory)
    add_scenario(repo, "one", shell_scenario("one", script="echo one"))

    code, _, err = radiops_in_process(repo, "testbed", "probe")
    assert code == 3, err
    assert "node bench:" in err and f"Docker Engine {OLD_ENGINE}" in err
    assert "CVE-2019-14271" in err and "CVE-2021-41089" in err
    assert "Traceback" not in err

    code, _, err = radiops_in_process(repo, "run", "experiments/one", "--wait", "1")
    assert code == 3, err
    assert "one cannot run on testbed.yaml now" in err
    assert "node bench:" in err and f"Docker Engine {OLD_ENGINE}" in err
    assert "CVE-2019-14271" in err
    assert not (repo / "experiments" / "one" / "runs").exists()
    assert [p.name for p in (repo / "experiments" / "one").iterdir()] == ["experiment.yaml"]
