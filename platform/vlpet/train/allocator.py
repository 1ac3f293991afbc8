"""Keep freed memory in a CPU training process instead of handing it back to the OS after every step.

glibc serves blocks above a dynamic threshold (128 KiB to start) with mmap and returns them on free, and trims
the heap top above 128 KiB. A training step allocates and frees the same activation tensors every step, so
with the defaults each of them is faulted in again page by page: on BART-base with VL-PET-large that is about
55,000 minor page faults and roughly 75 ms of a 1.9 s CPU step (BENCHMARKS.md). Raising both limits once per
process keeps those blocks in the heap for reuse; the peak resident set stays within a few percent.

It is skipped where it cannot apply or was chosen otherwise: not glibc, the user set any ``MALLOC_*_``
variable (their choice wins), or ``VLPET_MALLOC_TUNING=0``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 2**20        # glibc's largest allowed mmap threshold on 64-bit
TRIM_THRESHOLD_BYTES = 2**31 - 1         # mallopt takes an int: keep up to 2 GiB of free heap top
OPT_OUT = "VLPET_MALLOC_TUNING"

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the two limits once in this process; returns whether they are in effect."""
    global _applied
    if _applied is None:
        _applied = _apply()
    return _applied


def _apply() -> bool:
    if os.environ.get(OPT_OUT, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if any(name.startswith("MALLOC_") and name.endswith("_") for name in os.environ):
        return False
    libc = _glibc()
    if libc is None:
        return False
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))


def _glibc():
    """The process's C library if it is glibc (it has ``gnu_get_libc_version`` and ``mallopt``), else None."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.gnu_get_libc_version
        libc.mallopt
    except (OSError, AttributeError):
        return None
    return libc
