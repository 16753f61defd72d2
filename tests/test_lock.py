"""requirements.lock is complete, hashed, and what scripts/bootstrap installed here."""

from __future__ import annotations

import os
import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.testing.repos import PROJECT

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)(?: ; (.+?))?\s*\\?$")


def _lock() -> Path:
    return Path(os.environ.get("RADIOPS_LOCK", PROJECT / "requirements.lock"))


def _pins() -> dict[str, str]:
    """name -> version of every entry that applies to this interpreter and platform."""
    text = _lock().read_text()
    pins: dict[str, str] = {}
    for entry in re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2]):
        first = entry.splitlines()[0]
        match = PIN.match(first)
        assert match, f"not an exact pin: {first}"
        assert "--hash=sha256:" in entry, f"no hash for {first}"
        name, version, marker = match.groups()
        parsed = Requirement(f"x ; {marker}").marker if marker else None
        if parsed is None or parsed.evaluate():
            pins[canonicalize_name(name)] = version
    return pins


def _wanted() -> list[Requirement]:
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    texts = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["dev"],
        *project["build-system"]["requires"],
    ]
    return [Requirement(t) for t in texts]


def test_every_requirement_of_pyproject_is_pinned_in_the_lock_within_its_range() -> None:
    pins = _pins()
    assert len(pins) > 40  # the whole tree, not a handful
    for requirement in _wanted():  # a marker is evaluated in this interpreter's environment
        if requirement.marker and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in the lock: run scripts/lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"the lock pins {name}=={pins[name]}, outside {requirement}: run scripts/lock"
        )


def test_this_environment_is_exactly_the_lock() -> None:
    # scripts/bootstrap installs the lock and nothing else (besides radiops itself)
    pins = _pins()
    installed: dict[str, str] = {
        canonicalize_name(d.metadata["Name"]): d.version
        for d in metadata.distributions()
        if d.metadata["Name"]
    }
    installed.pop("radiops")
    differ = {n: (v, installed.get(n)) for n, v in pins.items() if installed.get(n) != v}
    unlocked = sorted(set(installed) - set(pins))
    assert differ == {}, "installed versions differ from the lock (run scripts/bootstrap)"
    assert unlocked == [], "installed but not locked"
