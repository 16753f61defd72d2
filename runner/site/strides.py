"""A recording read in bounded blocks at evenly spaced offsets, never all of it at once.

Recordings run to gigabytes. Every view of one (PSD, spectrogram, time
envelope, constellation) reads a fixed budget of samples spread over the
whole file with ``os.pread``, so its cost and memory do not grow with the
recording, and a ten-minute capture is shown from its first second to its
last. The number of samples comes from the file's size, never from what
its metadata claims.
"""

from __future__ import annotations

import itertools
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from runner.site.spectrum import (
    ComplexArray,
    FloatArray,
    UnsupportedRecording,
    sample_dtype,
    scale,
)

# one read is at most this many samples (8 MiB of cf32; 16 MiB once complex128)
MAX_BLOCK = 1 << 20
ENVELOPE_COLUMNS = 800
ENVELOPE_SAMPLES = 1 << 16  # per column: a column spanning more is read in sub-blocks
ENVELOPE_PIECES = 16  # sub-blocks per column, evenly spread over its span
_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True, kw_only=True)
class Envelope:
    """The least and greatest I and Q in each column of the time view.

    ``starts[c]`` is the first sample of column ``c``; ``exact`` is True when
    every sample was read, else each column's values are those of the
    samples read in ENVELOPE_PIECES sub-blocks across it.
    """

    starts: npt.NDArray[np.int64]
    count: int  # samples in the recording: the last column ends there
    low: ComplexArray  # real part: least I, imaginary: least Q
    high: ComplexArray
    exact: bool


class SampleFile:
    """The samples of an open SigMF data file; ``count`` whole samples, from its size."""

    def __init__(self, fd: int, datatype: str) -> None:
        self.fd = fd
        self.is_complex, self.dtype = sample_dtype(datatype)
        self.width = self.dtype.itemsize * (2 if self.is_complex else 1)
        self.count = os.fstat(fd).st_size // self.width

    @classmethod
    @contextmanager
    def open(cls, path: Path, datatype: str) -> Iterator[SampleFile]:
        """The file at ``path`` (a regular file, no link followed), closed afterwards."""
        fd = os.open(path, _FLAGS)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UnsupportedRecording("not a regular file")
            yield cls(fd, datatype)
        finally:
            os.close(fd)

    def raw(self, start: int, count: int) -> npt.NDArray[np.generic]:
        """Samples ``start`` .. ``start + count`` as stored: shape (n, 2) when complex."""
        start = max(0, min(start, self.count))
        count = max(0, min(count, self.count - start, MAX_BLOCK))
        data = os.pread(self.fd, count * self.width, start * self.width)
        whole = len(data) // self.width * self.width  # the file may have shrunk meanwhile
        values = np.frombuffer(data[:whole], dtype=self.dtype)
        return values.reshape(-1, 2) if self.is_complex else values.reshape(-1, 1)

    def read(self, start: int, count: int) -> ComplexArray:
        """Samples as complex numbers, integers scaled to [-1, 1)."""
        values = self.scale(self.raw(start, count))
        if self.is_complex:
            result: ComplexArray = values[:, 0] + 1j * values[:, 1]
            return result
        return values[:, 0].astype(np.complex128)

    def scale(self, raw: npt.NDArray[np.generic]) -> FloatArray:
        """Stored values as floats; integers scaled to [-1, 1)."""
        return scale(raw)

    def spread(self, blocks: int, size: int) -> list[ComplexArray]:
        """``blocks`` blocks of ``size`` samples evenly spaced from start to end.

        A recording of at most ``blocks * size`` samples (and MAX_BLOCK) is read
        whole, as one block.
        """
        if self.count <= min(blocks * size, MAX_BLOCK):
            return [self.read(0, self.count)]
        starts = np.linspace(0, self.count - size, blocks).astype(np.int64)
        return [self.read(int(start), size) for start in starts]

    def envelope(
        self, *, columns: int = ENVELOPE_COLUMNS, per_column: int = ENVELOPE_SAMPLES
    ) -> Envelope:
        """Least and greatest I and Q per column, the columns spanning the whole recording."""
        columns = max(1, min(columns, self.count))
        edges = np.linspace(0, self.count, columns + 1).astype(np.int64)
        pieces = max(1, min(ENVELOPE_PIECES, per_column))
        piece = max(1, per_column // pieces)
        low = np.full((columns, 2), np.nan)
        high = np.full((columns, 2), np.nan)
        exact = True
        for column, (start, end) in enumerate(itertools.pairwise(edges)):
            span = int(end - start)
            if span <= per_column:
                parts = [self.raw(int(start), span)]
            else:
                exact = False
                offsets = np.linspace(start, end - piece, pieces).astype(np.int64)
                parts = [self.raw(int(offset), piece) for offset in offsets]
            found = [_extremes(part) for part in parts if len(part)]
            if found:
                # extremes of the stored values, then scaled: scaling keeps their order
                lanes = found[0][0].shape[0]
                low[column, :lanes] = self.scale(np.min([f[0] for f in found], axis=0))
                high[column, :lanes] = self.scale(np.max([f[1] for f in found], axis=0))
        if not self.is_complex:
            low[:, 1] = high[:, 1] = 0.0
        return Envelope(
            starts=edges[:-1],
            count=self.count,
            low=low[:, 0] + 1j * low[:, 1],
            high=high[:, 0] + 1j * high[:, 1],
            exact=exact,
        )


def _extremes(
    raw: npt.NDArray[np.generic],
) -> tuple[npt.NDArray[np.generic], npt.NDArray[np.generic]]:
    """Least and greatest of each column of ``raw`` (n, lanes), n > 0.

    Reduced as rows of 32 samples first: numpy's reduction down a column of
    an (n, 2) array runs two values at a time, across a row of 64 at full speed.
    """
    lanes = raw.shape[1]
    whole = len(raw) // 32 * 32
    pieces = [raw[whole:]] if whole < len(raw) else []
    if whole:
        wide = raw[:whole].reshape(-1, 32 * lanes)
        pieces += [wide.min(axis=0).reshape(-1, lanes), wide.max(axis=0).reshape(-1, lanes)]
    joined = np.concatenate(pieces)
    return joined.min(axis=0), joined.max(axis=0)
