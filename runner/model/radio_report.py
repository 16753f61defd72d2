"""What the simulated USRP says of the libuhd an application opened it with.

images/sdr-base's simulated USRP (sim_usrp/) writes ``RADIOPS_RADIO_REPORT`` in a
simulated role's container each time an application opens the device; the
runner reads it once the container has ended and records, per role, that the
radio was a simulated UHD device and which UHD the application used. The
container wrote the file: it is read with a size cap and checked field by field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

#: where a simulated role's container finds RADIOPS_RADIO_REPORT pointing (a folder
#: the runner makes writable before the container starts)
RADIO_REPORT_DIR = "/radiops/radio"
RADIO_REPORT = f"{RADIO_REPORT_DIR}/uhd.json"
MAX_BYTES = 4096
#: what a UHD version or ABI string looks like ("4.3.0.0+ds1-5", "4.3.0")
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+~_-]{0,127}")
DEVICE = "simulated USRP"


@dataclass(frozen=True)
class DeviceReport:
    """The simulated device was opened through libuhd ``uhd_version`` (ABI ``uhd_abi``)."""

    uhd_version: str
    uhd_abi: str


class BadReport(Exception):
    """The report is not what the simulated USRP writes."""


def parse_report(data: bytes) -> DeviceReport:
    """The report in ``data``; BadReport saying what is wrong with it."""
    if len(data) > MAX_BYTES:
        raise BadReport(f"{len(data)} bytes, over the limit of {MAX_BYTES}")
    try:
        fields = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadReport(f"not JSON: {exc}") from None
    if not isinstance(fields, dict) or fields.get("device") != DEVICE:
        raise BadReport(f'not an object with "device": "{DEVICE}"')
    values = {}
    for key in ("uhd_version", "uhd_abi"):
        value = fields.get(key)
        if not isinstance(value, str) or not _VERSION.fullmatch(value):
            raise BadReport(f"{key} must be a version string such as 4.3.0.0, not {value!r:.80}")
        values[key] = value
    return DeviceReport(**values)
