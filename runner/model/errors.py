"""The one family of errors radiops raises; each carries its exit code.

Library code raises these; only ``runner.cli.app.main`` turns them into an exit
status, so every command fails the same way and no traceback reaches a user
for a problem in their input.
"""

from __future__ import annotations


class FatalError(Exception):
    """A problem the user can fix; printed without a traceback."""

    exit_code = 2


class InvalidInput(FatalError):
    """Files in the repository (scenarios, testbed.yaml, ...) are not valid."""

    exit_code = 1


class UsageError(FatalError):
    """The command line itself is wrong (unknown path, bad flag value)."""

    exit_code = 2


class EnvironmentProblem(FatalError):
    """Something outside the repository is missing: an engine, a registry, a tool."""

    exit_code = 3
