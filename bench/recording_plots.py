"""The four plots of a 1 GiB recording: time and peak memory, against smaller work.

Writes a SigMF recording of SIZE_MIB MiB (cf32_le, default 1024: 134 million
samples) in a temporary folder, generated in 8 MiB chunks: noise, a tone in
the second half and a burst every few seconds. Then, each in its own child
process (its peak RSS is its own: VmHWM from /proc, which starts afresh at exec,
unlike ``ru_maxrss`` of a forked child), times:

- radiops: ``recording_plots`` (sha256 of the file, PSD, spectrogram,
  I/Q against time, constellation) with an empty cache;
- baseline 1: the same plots of a 64 MiB recording made the same way;
- baseline 2: a plain sequential read of the 1 GiB file in 8 MiB blocks;
- baseline 3: its sha256 (which radiops computes too, for the cache key,
  when the caller does not know it).

The file was just written, so these run from the page cache; ``--cold``
also evicts the file's pages (``posix_fadvise DONTNEED``, this file only)
before each run and times the same again from disk. Prints seconds and peak
RSS of each and the ratios; exits 1 when radiops takes 10 s or more or
300 MB of RSS or more (the targets of issue 16).

Usage: .venv/bin/python bench/recording_plots.py [SIZE_MIB] [--cold]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RATE = 10e6
CHUNK = 1 << 20  # samples per generated chunk (8 MiB of cf32)
BASELINE_MIB = 64
TARGET_S = 10.0
TARGET_RSS = 300 * 1000 * 1000

# the child's own peak RSS (VmHWM): ru_maxrss of a forked child starts at its parent's
HWM = """
def hwm():
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024
"""

PLOT = (
    HWM
    + """
import json, sys, time
from pathlib import Path
start = time.perf_counter()
from runner.site.cache import BuildCache
from runner.site.plots import recording_plots
imported = time.perf_counter()
made = recording_plots(
    Path(sys.argv[1]), {"datatype": "cf32_le", "sample_rate": float(sys.argv[3]),
    "center_frequency": 2.45e9}, cache=BuildCache(Path(sys.argv[2])))
assert made.problem is None, made.problem
print(json.dumps({"seconds": time.perf_counter() - imported, "hwm": hwm()}))
"""
)

HASH = (
    HWM
    + """
import hashlib, json, sys, time
start = time.perf_counter()
digest = hashlib.sha256()
with open(sys.argv[1], "rb", buffering=0) as handle:
    while block := handle.read(1 << 20):
        digest.update(block)
print(json.dumps({"seconds": time.perf_counter() - start, "hwm": hwm()}))
"""
)

READ = (
    HWM
    + """
import json, sys, time
start = time.perf_counter()
with open(sys.argv[1], "rb", buffering=0) as handle:
    while handle.read(8 << 20):
        pass
print(json.dumps({"seconds": time.perf_counter() - start, "hwm": hwm()}))
"""
)


def write_recording(path: Path, mib: int) -> None:
    """A cf32 recording of ``mib`` MiB: noise, a tone in its second half, bursts."""
    rng = np.random.default_rng(16)
    noise = (np.array([1, 1j]) @ rng.normal(scale=0.05, size=(2, CHUNK))).astype(np.complex64)
    t = np.arange(CHUNK) / RATE
    chunks = mib * (1 << 20) // (8 * CHUNK)
    with path.open("wb") as out:
        for i in range(chunks):
            block = noise * (1 + 0.1 * (i % 7))
            if i >= chunks // 2:
                block = block + np.exp(2j * np.pi * (1e6 + 1e3 * i) * t).astype(np.complex64)
            if i % 13 == 5:
                block[CHUNK // 3 : CHUNK // 3 + 20000] += 0.8 - 0.8j
            out.write(block.tobytes())


def child(script: str, *args: str) -> tuple[float, float, int]:
    """Runs ``script``; (seconds it printed, wall seconds, peak RSS in bytes) of that child."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    if process.wait() != 0:
        raise SystemExit(f"child failed ({process.returncode})")
    wall = time.perf_counter() - started
    found = json.loads(output)
    return float(found["seconds"]), wall, int(found["hwm"])


def evict(path: Path) -> None:
    """Drops this file's pages from the page cache (after writing them out)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def measure(big: Path, small: Path, work: Path, *, cold: bool) -> dict[str, tuple[float, ...]]:
    found: dict[str, tuple[float, ...]] = {}
    for name, script, path in (
        ("radiops", PLOT, big),
        (f"baseline 1: plots of {BASELINE_MIB} MiB", PLOT, small),
        ("baseline 2: sequential read", READ, big),
        ("baseline 3: sha256 of the file", HASH, big),
    ):
        if cold:
            evict(path)
        cache = tempfile.mkdtemp(dir=work, prefix="cache-")
        found[name] = child(script, str(path), cache, str(RATE))
    return found


def report(title: str, found: dict[str, tuple[float, ...]], size_mib: int) -> bool:
    print(f"\n{title}")
    for name, (seconds, wall, rss) in found.items():
        print(
            f"  {name:38s} {seconds:7.2f} s  (process {wall:6.2f} s)  peak RSS {rss / 1e6:6.1f} MB"
        )
    plot, small, read, digest = (found[name][0] for name in found)
    print(f"  ratio radiops / plots of {BASELINE_MIB} MiB: {plot / small:.2f}")
    print(f"  ratio radiops / sequential read:   {plot / read:.2f}")
    print(f"  ratio radiops / sha256 of the file: {plot / digest:.2f}")
    seconds, _, rss = found["radiops"]
    ok = seconds < TARGET_S and rss < TARGET_RSS
    print(
        f"  target for {size_mib} MiB: under {TARGET_S:.0f} s and {TARGET_RSS / 1e6:.0f} MB:"
        f" {'met' if ok else 'MISSED'}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size_mib", nargs="?", type=int, default=1024)
    parser.add_argument("--cold", action="store_true", help="also time from disk")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="radiops-bench-") as folder:
        work = Path(folder)
        big, small = work / "big.sigmf-data", work / "small.sigmf-data"
        started = time.perf_counter()
        write_recording(big, options.size_mib)
        write_recording(small, BASELINE_MIB)
        print(
            f"wrote {options.size_mib} MiB and {BASELINE_MIB} MiB cf32 recordings "
            f"in {time.perf_counter() - started:.1f} s"
        )
        ok = report("warm (page cache)", measure(big, small, work, cold=False), options.size_mib)
        if options.cold:
            found = measure(big, small, work, cold=True)
            ok = report("cold (file evicted)", found, options.size_mib) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
