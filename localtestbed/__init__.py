"""The local testbed: Docker engines, a registry and a base image on one machine.

``scripts/testbed`` installs the Debian packages it needs, becomes root and runs
``python3 -m localtestbed``. Tests import :func:`describe` and :func:`status`
instead of reading the command's text.
"""

from __future__ import annotations

from localtestbed.layout import Testbed, describe
from localtestbed.settings import Settings, SettingsError
from localtestbed.status import Report, status

__all__ = ["Report", "Settings", "SettingsError", "Testbed", "describe", "status"]
