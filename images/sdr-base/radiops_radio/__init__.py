"""radiops_radio: what an experiment image needs to use its radio under radiops.

- :func:`open_radio` gives one :class:`Radio` interface over UHD: the USRP of a
  real node, or the simulated USRP that libuhd loads on a simulated one (it
  streams through the run's channel emulator), from the settings radiops puts in
  the environment (:class:`RadioSettings`).
- :func:`write_recording` / :func:`read_recording`: SigMF captures.

Only the Python standard library, numpy, and (when a radio is opened) uhd.
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
