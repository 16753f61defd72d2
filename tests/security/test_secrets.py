"""Secrets of the runner never reach an experiment container.

A canary credential is planted in the runner's environment under the names
CI secrets have (GITHUB_TOKEN, registry credentials, Docker's auth config);
the container dumps its environment, its mounts and PID 1's environment into
its logs and outputs, and searches its file system (for the canary split in
two by the shell, so the command itself does not hold it). The canary must
not appear anywhere the run produced.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.testing.repos import add_scenario, commit_all, make_run_repo, radiops, shell_scenario

pytestmark = pytest.mark.docker

CANARY = "canary-7f3e9c1d-do-not-leak"
DUMP = (
    "env; cat /proc/self/mountinfo; tr '\\\\0' '\\\\n' < /proc/1/environ; "
    "env > $RADIOPS_OUTPUT_DIR/env.txt; "
    "cat /proc/self/mountinfo > $RADIOPS_OUTPUT_DIR/mounts.txt; "
    "grep -rl "
    + CANARY[:10]
    + "''"
    + CANARY[10:]
    + " /etc /root /tmp /radiops /home /run 2>/dev/null "
    "> $RADIOPS_OUTPUT_DIR/found.txt; true"
)


def test_a_canary_credential_reaches_no_container(tmp_path: Path) -> None:
    repo = make_run_repo(tmp_path)
    add_scenario(repo, "snoop", shell_scenario("snoop", script=DUMP))
    commit_all(repo, "snoop")
    secrets = {
        "GITHUB_TOKEN": CANARY,
        "RADIOPS_REGISTRY_PASSWORD": CANARY,
        "REGISTRY_PASSWORD": CANARY,
        "DOCKER_AUTH_CONFIG": f'{{"auths": {{"x": {{"auth": "{CANARY}"}}}}}}',
        "AWS_SECRET_ACCESS_KEY": CANARY,
    }
    result = radiops(repo, "run", "experiments/snoop", env=secrets)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (repo / "experiments/snoop/runs").iterdir()
    env_dump = (run_dir / "outputs/main-0/env.txt").read_text()
    assert "RADIOPS_RUN_ID=" in env_dump  # the dump worked: the contract is there
    produced = [p for p in run_dir.rglob("*") if p.is_file()]
    assert len(produced) >= 4
    for path in produced:
        assert CANARY.encode() not in path.read_bytes(), f"the canary leaked into {path}"
    assert CANARY not in result.stdout + result.stderr
