"""The pull-request comment: created once, then edited in place on every run.

The comment is found again by ``MARKER``, an HTML comment that starts its body
(invisible once rendered). Only the standard library talks to the GitHub REST
API, and no message this module produces ever contains the token.

Used by the testbed workflow's publish job, from the trusted base checkout::

    python3 -m runner comment --pull-request 12 --body-file summary.md

with ``GITHUB_TOKEN``, ``GITHUB_REPOSITORY`` and ``GITHUB_API_URL`` from the
environment (the token is never taken from the command line).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runner import __version__
from runner.model.errors import EnvironmentProblem, UsageError
from runner.model.references import is_loopback

MARKER = "<!-- radiops-summary -->"
DEFAULT_API_URL = "https://api.github.com"
# GitHub refuses comment bodies longer than this many characters.
MAX_BODY_CHARS = 65536
# Pages of 100 comments followed at most while looking for ours.
MAX_PAGES = 50
# GitHub's error messages are short; never read more than this of one.
MAX_ERROR_BYTES = 64 * 1024
# Largest page of comments accepted (100 comments of up to 64 KiB each, and JSON).
MAX_PAGE_BYTES = 32 * 1024 * 1024

_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_NEXT_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!~])")


class GitHubError(EnvironmentProblem):
    """The GitHub API refused a request or did not answer."""


@dataclass(frozen=True, kw_only=True)
class GitHub:
    """Where and as whom to call the GitHub REST API.

    ``author`` (optional) is the login that writes the comment, e.g.
    ``github-actions[bot]`` for the workflow token: when set, a marked comment
    written by anyone else (a quote, a forgery) is never taken for ours.
    """

    api_url: str = DEFAULT_API_URL
    repository: str
    token: str = field(repr=False)
    author: str | None = None


def upsert_comment(github: GitHub, pull_request: int, body: str, *, timeout: float = 30) -> str:
    """Edit this pull request's radiops comment, or create it; return "updated" or "created"."""
    _check(github, pull_request)
    text = _comment_body(body)
    client = _Client(github, timeout)
    existing = _find_comment(client, github, pull_request)
    if existing is not None:
        client.request("PATCH", f"/repos/{github.repository}/issues/comments/{existing}", text)
        return "updated"
    client.request("POST", f"/repos/{github.repository}/issues/{pull_request}/comments", text)
    return "created"


def render_waiting(waiting: Mapping[str, str]) -> str:
    """One line per experiment waiting for a node that another run holds."""
    return "\n".join(
        f"⏳ {_plain(experiment)} is waiting for node {_plain(node)} (held by another run)"
        for experiment, node in sorted(waiting.items())
    )


def _plain(text: str) -> str:
    """Text from a pull request, shown literally in markdown (no links, HTML, formatting)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _comment_body(body: str) -> str:
    text = body if body.startswith(MARKER) else f"{MARKER}\n{body}"
    if len(text) > MAX_BODY_CHARS:
        note = "\n\n… (cut: the full summary is in the workflow run's job summary)"
        text = text[: MAX_BODY_CHARS - len(note)] + note
    return text


def _check(github: GitHub, pull_request: int) -> None:
    if not _REPOSITORY.fullmatch(github.repository):
        raise UsageError(f"repository {github.repository!r} is not of the form owner/name")
    if isinstance(pull_request, bool) or not isinstance(pull_request, int) or pull_request < 1:
        raise UsageError(f"pull request number {pull_request!r} is not a positive integer")
    if not github.token:
        raise UsageError("no GitHub token: set GITHUB_TOKEN")
    url = urllib.parse.urlsplit(github.api_url)
    try:
        url.port  # noqa: B018 (raises ValueError for a malformed port)
    except ValueError:
        raise UsageError(f"GitHub API URL {github.api_url!r} has an invalid port") from None
    if url.scheme not in ("https", "http") or not url.hostname:
        raise UsageError(f"GitHub API URL {github.api_url!r} is not an http(s) URL")
    if url.scheme == "http" and not is_loopback(url.hostname):
        raise UsageError(
            f"GitHub API URL {github.api_url!r} is plain http: the token is only sent over https "
            "(or to this machine)"
        )


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _find_comment(client: _Client, github: GitHub, pull_request: int) -> int | None:
    url: str | None = client.url(
        f"/repos/{github.repository}/issues/{pull_request}/comments?per_page=100"
    )
    pages = 0
    while url is not None and pages < MAX_PAGES:
        pages += 1
        comments, url = client.get_page(url)
        for comment in comments:
            if not isinstance(comment, dict):
                continue
            comment_body = comment.get("body")
            comment_id = comment.get("id")
            if not isinstance(comment_body, str) or not comment_body.startswith(MARKER):
                continue
            if github.author is not None and _login(comment) != github.author:
                continue
            if isinstance(comment_id, int) and not isinstance(comment_id, bool):
                return comment_id
    return None


def _login(comment: Mapping[str, Any]) -> str | None:
    user = comment.get("user")
    login = user.get("login") if isinstance(user, dict) else None
    return login if isinstance(login, str) else None


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but carry the token only to the API's own origin."""

    def __init__(self, origin: tuple[str, str, int | None], authorization: str) -> None:
        self._origin = origin
        self._authorization = authorization

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) == self._origin:
            new.add_unredirected_header("Authorization", self._authorization)
        return new


class _Client:
    def __init__(self, github: GitHub, timeout: float) -> None:
        self._github = github
        self._timeout = timeout
        self._base = github.api_url.rstrip("/")
        self._origin = _origin(self._base)
        # The token goes in an unredirected header, which urllib never copies to a
        # redirected request; _SameOriginRedirects adds it back for the API's own origin only.
        self._authorization = f"Bearer {github.token}"
        self._opener = urllib.request.build_opener(
            _SameOriginRedirects(self._origin, self._authorization)
        )

    def url(self, path: str) -> str:
        return self._base + path

    def get_page(self, url: str) -> tuple[list[Any], str | None]:
        data, headers = self._send("GET", url, None, MAX_PAGE_BYTES)
        comments = self._json(data, "GET", url)
        if not isinstance(comments, list):
            raise GitHubError(f"GitHub answered GET {url} with something other than a list")
        next_url = _next_link(headers.get("Link", ""))
        if next_url is not None and _origin(next_url) != self._origin:
            raise GitHubError(f"GitHub's next page ({next_url}) is on another host; not following")
        return comments, next_url

    def request(self, method: str, path: str, body: str) -> None:
        url = self.url(path)
        data, _ = self._send(method, url, json.dumps({"body": body}).encode(), MAX_PAGE_BYTES)
        self._json(data, method, url)

    def _json(self, data: bytes, method: str, url: str) -> Any:
        try:
            return json.loads(data)
        except ValueError:
            raise GitHubError(f"GitHub answered {method} {url} with invalid JSON") from None

    def _send(
        self, method: str, url: str, data: bytes | None, limit: int
    ) -> tuple[bytes, Mapping[str, str]]:
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (checked scheme)
        request.add_unredirected_header("Authorization", self._authorization)
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("User-Agent", f"radiops/{__version__}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                body = response.read(limit + 1)
                if len(body) > limit:
                    raise GitHubError(f"GitHub's answer to {method} {url} is over {limit} bytes")
                return body, response.headers
        except urllib.error.HTTPError as error:
            raise GitHubError(self._secret_free(_http_message(method, url, error))) from None
        except TimeoutError:
            raise GitHubError(
                f"GitHub did not answer {method} {url} within {self._timeout:g} s"
            ) from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise GitHubError(
                    f"GitHub did not answer {method} {url} within {self._timeout:g} s"
                ) from None
            reason = self._secret_free(str(error.reason))
            raise GitHubError(f"could not reach GitHub for {method} {url}: {reason}") from None
        except OSError as error:
            reason = self._secret_free(str(error))
            raise GitHubError(
                f"connection to GitHub lost during {method} {url}: {reason}"
            ) from None

    def _secret_free(self, text: str) -> str:
        return text.replace(self._github.token, "***") if self._github.token else text


def _next_link(link: str) -> str | None:
    for part in link.split(","):
        match = _NEXT_LINK.search(part)
        if match:
            return match.group(1)
    return None


_HINTS = {
    401: "the token was rejected (expired or wrong)",
    403: "the token may not do this: the job needs 'pull-requests: write', and pull requests "
    "from forks only ever get a read-only token",
    404: "no such repository or pull request, or the token cannot see it",
    422: "GitHub refused the comment's content",
}


def _http_message(method: str, url: str, error: urllib.error.HTTPError) -> str:
    detail = ""
    try:
        raw = error.read(MAX_ERROR_BYTES)
        message = json.loads(raw).get("message") if raw else None
        if isinstance(message, str):
            detail = f": {' '.join(message.split())[:300]}"
    except (OSError, ValueError, AttributeError):
        pass
    hint = _HINTS.get(error.code)
    if hint is None and error.code >= 500:
        hint = "GitHub had a problem; running the job again usually helps"
    text = f"GitHub refused {method} {url} (HTTP {error.code}{detail})"
    return f"{text}; {hint}" if hint else text
