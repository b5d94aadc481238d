"""Memory: giving the C library's freed memory back to the operating system.

glibc keeps what a process frees for its next allocations, and a heap with one live block near
its top cannot shrink at all. A build that frees a SQLite page cache, or arrays of tens of
megabytes between the passes of the compare stage, would still count all of it as its own.
"""

from __future__ import annotations

import ctypes


def give_back_memory() -> None:
    """Return the heap's free memory to the operating system (on glibc; elsewhere nothing to do)."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS, Windows)
        pass
