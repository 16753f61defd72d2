"""The pull-request comment against a real HTTP server that emulates GitHub's comments API."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runner.cli.app import main as radiops_main
from runner.gitops import comment
from runner.gitops.comment import MARKER, GitHub, GitHubError, render_waiting, upsert_comment
from runner.model.errors import EnvironmentProblem, FatalError, UsageError

TOKEN = "ghs_s3cr3tTOKENvalue0123456789"  # noqa: S105 (a fake token for the fake server)
REPO = "lab/radiops"
PR = 7


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGitHub:
    """State of the emulated API; the handler reads and changes it under a lock."""

    comments: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    fail_with: tuple[int, str] | None = None
    hang: bool = False
    redirect_to: str | None = None
    next_id: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)
    base_url: str = ""

    def add(self, body: str, login: str = "someone") -> int:
        self.next_id += 1
        self.comments.append({"id": self.next_id, "body": body, "user": {"login": login}})
        return self.next_id


def _handler(state: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _record(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            with state.lock:
                state.requests.append(
                    Recorded(
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
            return body

        def _send(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _gate(self) -> bool:
            if state.hang:
                state.release.wait(10)
                return False
            if state.redirect_to is not None and self.command == "GET":
                self.send_response(307)
                self.send_header("Location", state.redirect_to + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return False
            if state.fail_with is not None:
                code, message = state.fail_with
                self._send(code, {"message": message})
                return False
            return True

        def do_GET(self) -> None:
            self._record()
            if not self._gate():
                return
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            if url.path != f"/repos/{REPO}/issues/{PR}/comments":
                self._send(404, {"message": "Not Found"})
                return
            per_page = int(query.get("per_page", ["30"])[0])
            page = int(query.get("page", ["1"])[0])
            with state.lock:
                items = state.comments[(page - 1) * per_page : page * per_page]
                more = page * per_page < len(state.comments)
            headers = {}
            if more:
                nxt = f"{state.base_url}{url.path}?per_page={per_page}&page={page + 1}"
                last = f"{state.base_url}{url.path}?per_page={per_page}&page=99"
                headers["Link"] = f'<{nxt}>; rel="next", <{last}>; rel="last"'
            self._send(200, items, headers)

        def do_POST(self) -> None:
            body = self._record()
            if not self._gate():
                return
            if self.path != f"/repos/{REPO}/issues/{PR}/comments":
                self._send(404, {"message": "Not Found"})
                return
            with state.lock:
                new_id = state.add(body["body"], login="github-actions[bot]")
            self._send(201, {"id": new_id, "body": body["body"]})

        def do_PATCH(self) -> None:
            body = self._record()
            if not self._gate():
                return
            prefix = f"/repos/{REPO}/issues/comments/"
            with state.lock:
                found = [c for c in state.comments if self.path == f"{prefix}{c['id']}"]
                if found:
                    found[0]["body"] = body["body"]
            if not found:
                self._send(404, {"message": "Not Found"})
                return
            self._send(200, found[0])

    return Handler


@pytest.fixture
def servers() -> Iterator[list[FakeGitHub]]:
    """Two independent fake APIs (different ports = different origins)."""
    running: list[tuple[ThreadingHTTPServer, threading.Thread, FakeGitHub]] = []
    for _ in range(2):
        state = FakeGitHub()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
        server.daemon_threads = True
        state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        running.append((server, thread, state))
    yield [state for _, _, state in running]
    for server, thread, state in running:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def api(servers: list[FakeGitHub]) -> FakeGitHub:
    return servers[0]


def _github(api: FakeGitHub, **changes: Any) -> GitHub:
    return GitHub(api_url=api.base_url, repository=REPO, token=TOKEN, **changes)


def _marked(api: FakeGitHub) -> list[dict[str, Any]]:
    return [c for c in api.comments if c["body"].startswith(MARKER)]


def test_first_call_creates_then_later_calls_edit_the_same_comment(api: FakeGitHub) -> None:
    for i in range(150):  # two pages of 100: the new comment lands on the second page
        api.add(f"unrelated comment {i}")

    assert upsert_comment(_github(api), PR, "## radiops\n1 run succeeded") == "created"
    posts = [r for r in api.requests if r.method == "POST"]
    assert len(posts) == 1
    assert posts[0].path == f"/repos/{REPO}/issues/{PR}/comments"
    assert posts[0].body["body"] == f"{MARKER}\n## radiops\n1 run succeeded"
    (created,) = _marked(api)
    assert api.comments.index(created) >= 100  # on page 2

    api.requests.clear()
    assert upsert_comment(_github(api), PR, "## radiops\n2 runs succeeded") == "updated"
    assert [r.method for r in api.requests] == ["GET", "GET", "PATCH"]
    assert api.requests[0].path == f"/repos/{REPO}/issues/{PR}/comments?per_page=100"
    assert api.requests[1].path.endswith("per_page=100&page=2")  # followed the Link header
    assert api.requests[2].path == f"/repos/{REPO}/issues/comments/{created['id']}"
    assert upsert_comment(_github(api), PR, f"{MARKER}\nthird") == "updated"
    assert _marked(api) == [created]  # never a second comment
    assert created["body"] == f"{MARKER}\nthird"  # a body that already has the marker keeps one
    assert len(api.comments) == 151


def test_every_request_carries_the_token_and_api_headers(api: FakeGitHub) -> None:
    upsert_comment(_github(api), PR, "hello")
    upsert_comment(_github(api), PR, "hello again")
    assert {r.method for r in api.requests} == {"GET", "POST", "PATCH"}
    for request in api.requests:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"
        assert request.headers["user-agent"].startswith("radiops/")
        assert TOKEN not in request.path


def test_quotes_and_other_authors_are_not_taken_for_our_comment(api: FakeGitHub) -> None:
    api.add(f"> {MARKER}\n> quoted by a reviewer")  # a quote reply contains the marker
    forged = api.add(f"{MARKER}\nforged by someone", login="mallory")
    result = upsert_comment(_github(api, author="github-actions[bot]"), PR, "real")
    assert result == "created"
    assert api.comments[1] == {
        "id": forged,
        "body": f"{MARKER}\nforged by someone",
        "user": {"login": "mallory"},
    }
    assert upsert_comment(_github(api, author="github-actions[bot]"), PR, "again") == "updated"
    assert len(api.comments) == 3
    assert api.comments[2]["body"] == f"{MARKER}\nagain"


def test_an_overlong_body_is_cut_to_githubs_limit(api: FakeGitHub) -> None:
    upsert_comment(_github(api), PR, "x" * 100_000)
    (posted,) = _marked(api)
    assert len(posted["body"]) == comment.MAX_BODY_CHARS
    assert posted["body"].startswith(MARKER)
    assert posted["body"].endswith("job summary)")


def test_forbidden_becomes_a_clear_fatal_error_without_the_token(api: FakeGitHub) -> None:
    # A hostile or buggy server echoing the token must not get it into the message.
    api.fail_with = (403, f"Resource not accessible by integration ({TOKEN})")
    with pytest.raises(FatalError) as caught:
        upsert_comment(_github(api), PR, "hello")
    error = caught.value
    assert isinstance(error, GitHubError)
    assert isinstance(error, EnvironmentProblem)
    message = str(error)
    assert TOKEN not in message
    assert TOKEN not in repr(error)
    assert "HTTP 403" in message
    assert "Resource not accessible by integration" in message
    assert "pull-requests: write" in message
    assert "\n" not in message
    assert error.__cause__ is None
    assert error.__suppress_context__


@pytest.mark.parametrize(("code", "words"), [(401, "rejected"), (404, "no such"), (502, "again")])
def test_other_http_errors_say_what_to_do(api: FakeGitHub, code: int, words: str) -> None:
    api.fail_with = (code, "nope")
    with pytest.raises(GitHubError, match=words) as caught:
        upsert_comment(_github(api), PR, "hello")
    assert TOKEN not in str(caught.value)


def test_a_hanging_server_times_out(api: FakeGitHub) -> None:
    api.hang = True
    with pytest.raises(GitHubError, match=r"did not answer GET .* within 0\.5 s") as caught:
        upsert_comment(_github(api), PR, "hello", timeout=0.5)
    assert TOKEN not in str(caught.value)


def test_an_unreachable_api_is_a_fatal_error(api: FakeGitHub) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]  # bound then closed: nothing listens there
    github = GitHub(api_url=f"http://127.0.0.1:{port}", repository=REPO, token=TOKEN)
    with pytest.raises(GitHubError, match="could not reach GitHub") as caught:
        upsert_comment(github, PR, "hello", timeout=5)
    assert TOKEN not in str(caught.value)


def test_the_token_never_follows_a_redirect_to_another_origin(
    servers: list[FakeGitHub],
) -> None:
    api, elsewhere = servers
    api.redirect_to = elsewhere.base_url
    assert upsert_comment(_github(api), PR, "hello") == "created"
    assert [r.method for r in elsewhere.requests] == ["GET"]
    for request in elsewhere.requests:
        assert "authorization" not in request.headers
        assert TOKEN not in json.dumps(request.headers)


def test_a_next_page_on_another_host_is_refused(servers: list[FakeGitHub]) -> None:
    api, elsewhere = servers
    for i in range(101):
        api.add(f"comment {i}")
    api.base_url, real = elsewhere.base_url, api.base_url  # Link headers now point elsewhere
    github = GitHub(api_url=real, repository=REPO, token=TOKEN)
    with pytest.raises(GitHubError, match="another host"):
        upsert_comment(github, PR, "hello")
    assert elsewhere.requests == []


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"repository": "not-a-repo"}, "owner/name"),
        ({"token": ""}, "GITHUB_TOKEN"),
        ({"api_url": "http://api.example.com"}, "plain http"),
        ({"api_url": "ftp://127.0.0.1"}, "not an http"),
    ],
)
def test_bad_settings_are_usage_errors(
    api: FakeGitHub, changes: dict[str, str], words: str
) -> None:
    settings: dict[str, Any] = {"api_url": api.base_url, "repository": REPO, "token": TOKEN}
    settings.update(changes)
    with pytest.raises(UsageError, match=words):
        upsert_comment(GitHub(**settings), PR, "hello")
    with pytest.raises(UsageError, match="positive integer"):
        upsert_comment(_github(api), 0, "hello")
    assert api.requests == []


def test_the_token_is_not_in_the_settings_repr() -> None:
    assert TOKEN not in repr(GitHub(repository=REPO, token=TOKEN))
    assert GitHub(repository=REPO, token=TOKEN).api_url == "https://api.github.com"


def test_render_waiting_lists_each_waiting_experiment() -> None:
    text = render_waiting({"ber-sweep": "node1", "hello": "local2"})
    assert text.splitlines() == [
        "⏳ ber-sweep is waiting for node node1 (held by another run)",
        "⏳ hello is waiting for node local2 (held by another run)",
    ]
    assert render_waiting({}) == ""
    hostile = render_waiting({"<img src=x>\n[link](http://x)": "n*1*"})
    # every markdown/HTML character is backslash-escaped: shown literally, never rendered
    assert hostile == (
        "⏳ \\<img src=x\\> \\[link\\](http://x) is waiting for node n\\*1\\* (held by another run)"
    )


def test_the_command_line_posts_a_body_file(
    api: FakeGitHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("## radiops\nall good\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_API_URL", api.base_url)
    args = ["comment", "--pull-request", str(PR), "--body-file", str(summary)]
    assert radiops_main(args) == 0
    assert radiops_main([*args, "--author", "github-actions[bot]"]) == 0
    out = capsys.readouterr().out
    assert "created the summary comment on pull request #7" in out
    assert "updated the summary comment" in out
    assert len(_marked(api)) == 1

    api.fail_with = (403, "Resource not accessible by integration")
    assert radiops_main(args) == EnvironmentProblem.exit_code
    err = capsys.readouterr().err
    assert err.startswith("radiops: GitHub refused GET")
    assert TOKEN not in err


def test_the_comment_command_needs_nothing_but_the_standard_library(tmp_path: Path) -> None:
    # the publish job runs `python3 -m runner comment` from a checkout, nothing installed
    code = (
        "import sys\n"
        "from runner.cli.app import main\n"
        "status = main(['comment', '--pull-request', '7', '--body-file', sys.argv[1]])\n"
        "loaded = {name.split('.')[0] for name in sys.modules}\n"
        "print(status, sorted(loaded - set(sys.stdlib_module_names) - {'runner', '__main__'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code, str(tmp_path / "missing.md")],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split(maxsplit=1) == [str(UsageError.exit_code), "[]\n"], result
    assert "cannot read" in result.stderr and "missing.md" in result.stderr
