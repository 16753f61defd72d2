"""Docker Engine releases radiops refuses: those with known ``docker cp`` / archive flaws.

Podman's own are in :mod:`runner.engine.engine_kind`.

radiops copies parameters into and results out of containers that run
untrusted code, through the engine's archive endpoints (what ``docker cp``
uses). On an engine with one of these flaws, a container could reach the
node's file system through that copy, so such a node is refused before any
run starts. Versions are the upstream ones an engine reports; a distribution
that backports a fix without raising the version must be upgraded instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Version = tuple[int, int, int]


@dataclass(frozen=True, kw_only=True)
class Advisory:
    """One flaw: the releases it affects are ``introduced`` <= version < the fix of its series.

    ``fixed`` lists the first fixed release of every series that got a fix; a
    release of an older series without one is affected.
    """

    cve: str
    summary: str
    fixed: tuple[Version, ...]
    introduced: Version = (0, 0, 0)

    def affects(self, version: Version, *, prerelease: bool = False) -> bool:
        """Whether ``version`` (a pre-release of it when ``prerelease``) has the flaw."""
        if version < self.introduced:
            return False
        for fix in self.fixed:
            if version[:2] == fix[:2]:  # its series got a fix: from that release on
                return version < fix or (version == fix and prerelease)
        return version[:2] < max(self.fixed)[:2]  # an older series: never fixed


ADVISORIES = (
    Advisory(
        cve="CVE-2018-15664",
        summary="docker cp symlink-exchange race reads and writes host files",
        fixed=((18, 9, 7), (19, 3, 0)),
    ),
    Advisory(
        cve="CVE-2019-14271",
        summary="docker cp loads libraries from the container into a host process",
        introduced=(19, 3, 0),
        fixed=((19, 3, 1),),
    ),
    Advisory(
        cve="CVE-2021-41089",
        summary="docker cp into a crafted container changes permissions of host files",
        fixed=((20, 10, 9),),
    ),
)

# 20.10.24, 18.09.1-ce, 19.03.0-rc3, 20.10.24+dfsg1, 20.10.0~rc1+dfsg1, v24.0.7
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?P<rest>.*)$")
_PRERELEASE = re.compile(r"^[-~.]?(?:rc|beta|alpha|tp|dev)", re.IGNORECASE)


def parse_version(version: str) -> tuple[Version, bool] | None:
    """``version`` as (major, minor, patch) and whether it is a pre-release; None if unreadable."""
    found = _VERSION.match(version.strip())
    if found is None:
        return None
    parsed = (int(found[1]), int(found[2]), int(found[3] or 0))
    return parsed, bool(_PRERELEASE.match(found["rest"]))


def engine_version_problem(version: str) -> str | None:
    """Why a Docker Engine reporting ``version`` must not run untrusted containers; None if none.

    An unreadable version is refused too: its fixes cannot be known.
    """
    read = parse_version(version)
    if read is None:
        return f"cannot tell which security fixes Docker Engine '{version}' has; upgrade it"
    parsed, prerelease = read
    flaws = [a for a in ADVISORIES if a.affects(parsed, prerelease=prerelease)]
    if not flaws:
        return None
    newest = max(fix for advisory in flaws for fix in advisory.fixed)
    listed = "; ".join(f"{a.cve} ({a.summary})" for a in flaws)
    return (
        f"Docker Engine {version} has known docker cp flaws: {listed}; "
        f"upgrade it to {'.'.join(map(str, newest))} or later"
    )
