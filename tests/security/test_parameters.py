"""Hostile parameter values reach the container verbatim and are never run by a shell
(issue 8, item 8).

radiops passes parameters as environment variables and /radiops/parameters.json,
never through a shell: a value that would inject a command on a command line
arrives as text, and the file it would create exists nowhere.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import docker
import pytest

from runner.gitops.gitinfo import code_info, current_user
from runner.model.report import LineReporter
from runner.pipeline.experiment_run import RunOptions, run_experiment
from tests.testing.repos import add_scenario, commit_all, make_run_repo, shell_scenario
from tests.testing.testbed_fixtures import Testbed

pytestmark = pytest.mark.docker

HOSTILE = {
    "subshell": "$(touch /tmp/pwned-subshell)",
    "backticks": "`touch /tmp/pwned-backticks`",
    "chain": "x; rm -rf / --no-preserve-root; touch /tmp/pwned-chain",
    "quotes": "' \" || touch /tmp/pwned-quotes #",
    "newline": "line one\ntouch /tmp/pwned-newline\n",
    "traversal": "../../../../etc/passwd",
    "unicode": "\u202egnp.exe \u00e9 \U0001f4e1",
    "glob": "* ? [a-z] ~root ${HOME} %s",
    "big": "A" * 60_000,  # near the 64 KiB a parameter may carry
}
# the container copies what it received into its outputs; env -0 keeps newlines intact
SCRIPT = (
    "cp /radiops/parameters.json $RADIOPS_OUTPUT_DIR/received.json; "
    "env -0 > $RADIOPS_OUTPUT_DIR/env.bin; "
    "ls /tmp > $RADIOPS_OUTPUT_DIR/tmp.txt"
)


def test_hostile_parameter_values_arrive_verbatim_and_run_nothing(
    testbed: Testbed, docker_clients: dict[str, docker.DockerClient], tmp_path: Path
) -> None:
    declared = "".join(
        f"  {name}: {{type: string, default: {json.dumps(value, ensure_ascii=False)}}}\n"
        for name, value in HOSTILE.items()
    )
    repo = make_run_repo(tmp_path)
    add_scenario(
        repo,
        "hostile",
        shell_scenario("hostile", script=SCRIPT, extra=f"parameters:\n{declared}")
        + "outputs:\n  - {path: '*'}\n",
    )
    commit_all(repo, "hostile parameters")
    (result,) = run_experiment(
        Path("experiments/hostile"),
        RunOptions(
            provenance=code_info,
            actor=current_user(),
            sets=(f"chain={HOSTILE['chain']} && touch /tmp/pwned-set",),
            live_logs=False,
            wait_s=900,
        ),
        cwd=repo,
        reporter=LineReporter(io.StringIO()),
        cancel=threading.Event(),
    )
    assert result.status == "succeeded", result.reason
    expected = {**HOSTILE, "chain": f"{HOSTILE['chain']} && touch /tmp/pwned-set"}
    data = json.loads((result.run_dir / "manifest.json").read_text())
    assert data["parameters"] == expected

    def output(name: str) -> bytes:
        (entry,) = [o for o in data["outputs"] if o["path"] == name]
        return (result.run_dir / entry["storage"]["location"]).read_bytes()

    assert json.loads(output("received.json")) == expected
    env = dict(item.split("=", 1) for item in output("env.bin").decode().split("\0") if item)
    for name, value in expected.items():
        assert env[f"RADIOPS_PARAM_{name.upper()}"] == value
    # nothing ran: no file in the container's /tmp, none on the host, no change recorded
    assert "pwned" not in output("tmp.txt").decode()
    assert not list(Path("/tmp").glob("pwned*"))
    assert not [o["path"] for o in data["outputs"] if "pwned" in o["path"]]
