"""The radio: a USRP through UHD's Python API (Debian's python3-uhd), real or simulated.

Each direction is tuned and given its streamer on first use, because a role's
one antenna setting names a port of the direction it uses (``RX2`` is no TX port).
Every ``receive`` is one capture of exactly ``count`` samples (UHD's
"num samps and done" mode): consecutive calls are separate captures with a gap
between them, never an overflow while the code does something else. Successive
``transmit`` calls form one burst, ended by ``close``.
"""

from __future__ import annotations

import os
import time
from typing import Any, Self

import numpy as np
import uhd

from radiops_radio.radio import SAMPLE, TIMEOUT_MARGIN_S, RadioError, as_complex64
from radiops_radio.settings import RadioSettings

#: per-call streamer timeout; the overall deadline is checked between calls
_POLL_S = 0.5


class UhdRadio:
    """A USRP, opened with the settings' device arguments (``UHD_ARGS``)."""

    def __init__(self, settings: RadioSettings) -> None:
        self.settings = settings
        args = settings.device_args
        try:
            self._usrp = uhd.usrp.MultiUSRP(args)
        except RuntimeError as exc:  # pyuhd turns UHD's exceptions into RuntimeError
            what = "the simulated USRP" if settings.simulated else "the USRP"
            hint = ""
            if settings.simulated and not os.environ.get("UHD_MODULE_PATH"):
                hint = (
                    " (UHD_MODULE_PATH is not set: radiops sets it in the container of a role "
                    "whose radio is simulated, and libuhd loads the simulated USRP from there)"
                )
            raise RadioError(
                f"cannot open {what} (UHD device arguments {args!r}): {exc}".strip() + hint
            ) from None
        self._rx: Any = None
        self._tx: Any = None
        self._in_burst = False
        self._closed = False

    # -- receive ------------------------------------------------------------------------

    def receive(self, count: int, *, timeout: float | None = None) -> np.ndarray:
        if count < 0:
            raise ValueError(f"count must be 0 or more, not {count}")
        streamer = self._rx = self._rx or self._streamer("rx")
        out = np.empty(count, dtype=SAMPLE)
        if count == 0:
            return out
        buffer = np.empty((1, streamer.get_max_num_samps()), dtype=np.complex64)
        metadata = uhd.types.RXMetadata()
        command = uhd.types.StreamCMD(uhd.types.StreamMode.num_done)
        command.num_samps = count
        command.stream_now = True
        streamer.issue_stream_cmd(command)
        deadline = time.monotonic() + (
            timeout if timeout is not None else self.default_timeout(count)
        )
        filled = 0
        try:
            while filled < count:
                if time.monotonic() > deadline:
                    raise RadioError(f"received {filled} of {count} samples before the timeout")
                got = streamer.recv(buffer, metadata, _POLL_S)
                code = metadata.error_code
                if code == uhd.types.RXMetadataErrorCode.timeout:
                    continue
                if code != uhd.types.RXMetadataErrorCode.none:
                    raise RadioError(
                        f"receiving failed after {filled} of {count} samples: "
                        f"{metadata.strerror()} (samples were lost: the capture is not contiguous)"
                    )
                taken = min(got, count - filled)
                out[filled : filled + taken] = buffer[0, :taken]
                filled += taken
        except RadioError:
            streamer.issue_stream_cmd(uhd.types.StreamCMD(uhd.types.StreamMode.stop_cont))
            raise
        return out

    # -- transmit -----------------------------------------------------------------------

    def transmit(self, samples: np.ndarray) -> None:
        data = as_complex64(samples).astype(np.complex64, copy=False).reshape(1, -1)
        streamer = self._tx = self._tx or self._streamer("tx")
        metadata = uhd.types.TXMetadata()
        metadata.has_time_spec = False
        step = streamer.get_max_num_samps()
        sent = 0
        deadline = time.monotonic() + data.shape[1] / self.settings.rate + 10.0
        while sent < data.shape[1]:
            metadata.start_of_burst = not self._in_burst
            metadata.end_of_burst = False
            done = streamer.send(data[:, sent : sent + step], metadata, _POLL_S)
            if done:
                self._in_burst = True
                sent += done
            elif time.monotonic() > deadline:
                raise RadioError(f"the USRP took {sent} of {data.shape[1]} samples, then no more")

    # -- both ---------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._tx is not None and self._in_burst:
            metadata = uhd.types.TXMetadata()
            metadata.end_of_burst = True
            self._tx.send(np.zeros((1, 1), dtype=np.complex64), metadata, _POLL_S)
        self._rx = self._tx = None
        del self._usrp  # releases the device

    def _streamer(self, direction: str) -> Any:
        """Tune ``direction`` ("rx" or "tx") to the settings and return its streamer."""
        if self._closed:
            raise RadioError("the radio is closed")
        usrp, settings, channel = self._usrp, self.settings, self.settings.channel

        def call(name: str, *args: Any) -> Any:
            return getattr(usrp, f"{name.replace('XX', direction)}")(*args)

        try:
            channels = call("get_XX_num_channels")
            if channel >= channels:
                raise RadioError(
                    f"RADIOPS_RADIO_CHANNEL={channel}, but the USRP has {channels} "
                    f"{direction.upper()} channel(s)"
                )
            call("set_XX_rate", settings.rate, channel)
            call("set_XX_freq", uhd.types.TuneRequest(settings.frequency), channel)
            if settings.gain is not None:
                call("set_XX_gain", settings.gain, channel)
            if settings.antenna is not None:
                ports = list(call("get_XX_antennas", channel))
                if settings.antenna not in ports:
                    raise RadioError(
                        f"RADIOPS_RADIO_ANTENNA={settings.antenna} is no {direction.upper()} "
                        f"port of channel {channel}; it has {', '.join(ports) or 'none'}"
                    )
                call("set_XX_antenna", settings.antenna, channel)
            stream_args = uhd.usrp.StreamArgs("fc32", "sc16")
            stream_args.channels = [channel]
            return call("get_XX_stream", stream_args)
        except RuntimeError as exc:
            raise RadioError(f"cannot set up the USRP's {direction.upper()} side: {exc}") from None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def default_timeout(self, count: int) -> float:
        return count / self.settings.rate + TIMEOUT_MARGIN_S
