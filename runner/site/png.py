"""A PNG file from a numpy array, written with zlib and struct alone."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import numpy.typing as npt

# A perceptually ordered dark-to-bright ramp (viridis' end points and three between).
RAMP = np.array(
    [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)], dtype=np.float64
)


def colorize(values: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
    """Values in [0, 1] (clipped) to RGB along the ramp; shape (h, w) -> (h, w, 3)."""
    position = np.clip(values, 0.0, 1.0) * (len(RAMP) - 1)
    low = np.floor(position).astype(np.int64).clip(0, len(RAMP) - 2)
    fraction = (position - low)[..., None]
    rgb = RAMP[low] * (1.0 - fraction) + RAMP[low + 1] * fraction
    result: npt.NDArray[np.uint8] = np.rint(rgb).astype(np.uint8)
    return result


def encode_png(rgb: npt.NDArray[np.uint8]) -> bytes:
    """An 8-bit RGB PNG of an (height, width, 3) array."""
    height, width, channels = rgb.shape
    if channels != 3 or height == 0 or width == 0:
        raise ValueError(f"need a non-empty (height, width, 3) array, got {rgb.shape}")
    rows = np.ascontiguousarray(rgb, dtype=np.uint8).reshape(height, width * 3)
    filtered = np.concatenate([np.zeros((height, 1), dtype=np.uint8), rows], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(filtered.tobytes(), 6))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
