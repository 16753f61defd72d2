"""Fixtures live in the tests.testing package; this file only registers them."""

from __future__ import annotations

pytest_plugins = [
    "tests.testing.repos",
    "tests.testing.gitops",
    "tests.testing.testbed_fixtures",
]
