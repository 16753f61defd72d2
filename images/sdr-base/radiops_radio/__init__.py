"""radiops_radio: what an experiment image needs to use its radio under radiops.

- :func:`open_radio` gives one :class:`Radio` interface: a USRP through UHD on a
  real node, the channel emulator over ZeroMQ on a simulated one, chosen by the
  environment radiops sets (:class:`RadioSettings`).
- :func:`write_recording` / :func:`read_recording`: SigMF captures.

Only the Python standard library, numpy, and (when used) uhd and pyzmq.
"""

from __future__ import annotations

from radiops_radio.radio import Radio, RadioError, open_radio
from radiops_radio.settings import RadioSettings, RadioSettingsError
from radiops_radio.sigmf import SigMFError, read_recording, write_recording

__all__ = [
    "Radio",
    "RadioError",
    "RadioSettings",
    "RadioSettingsError",
    "SigMFError",
    "open_radio",
    "read_recording",
    "write_recording",
]
