"""Memory housekeeping: give freed heap back to the operating system.

Used by the wiring module. CPython frees objects into glibc's malloc, which keeps freed pages for reuse
instead of returning them; after a burst (a large list, thousands of writes) a long-running process keeps
that high-water mark as resident memory. `malloc_trim(0)` returns what is free. It is a no-op outside
glibc (e.g. musl) and costs a few milliseconds, so it runs once a minute.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)


def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc.malloc_trim if libc is not None and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def trim() -> bool:
    """Return free heap pages to the OS now; False where the C library cannot."""
    function = _malloc_trim()
    if function is None:
        return False
    function(0)
    return True


async def trim_periodically(interval: float = 60.0) -> None:
    function = _malloc_trim()
    if function is None:
        log.debug("malloc_trim is not available: freed memory stays with the allocator")
        return
    while True:
        await asyncio.sleep(interval)
        function(0)
