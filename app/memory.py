"""Freed memory goes back to the system once a burst of large answers is over.

glibc keeps what Python frees in its heaps for reuse and returns it only from the top of a heap, so
after a burst of large answers the resident set stayed at its peak: 1,136 MiB after 91 clients had
read their 64-avatar 256 px JSON answers, against 811 MiB when ready (`python -m bench.memory`). That
is memory no request uses, counted against the pod's limit and request all the same. So when the
answers held drop to none after at least `min_bytes` were sent, `malloc_trim(0)` hands the free
pages back, on a thread of its own (it walks every heap) and at most once per `min_interval_s`.
Nothing happens where the C library has no malloc_trim (musl, macOS).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


def libc_malloc_trim() -> Callable[[], object] | None:
    """glibc's `malloc_trim(0)`, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if trim is None:
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


def _on_a_thread(fn: Callable[[], object]) -> None:
    threading.Thread(target=fn, name="malloc-trim", daemon=True).start()


class Trimmer:
    """Decides when freed memory is worth handing back: after `min_bytes` of answers, not more often
    than every `min_interval_s`."""

    def __init__(
        self,
        trim: Callable[[], object] | None = None,
        min_bytes: int = 64 << 20,
        min_interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        run: Callable[[Callable[[], object]], None] = _on_a_thread,
    ) -> None:
        self.trim = trim
        self.min_bytes = min_bytes
        self.min_interval_s = min_interval_s
        self.clock = clock
        self.run = run
        self.pending = 0
        self._last = -float("inf")

    def drained(self, released: int) -> None:
        """The answers held dropped to none, `released` bytes after the last time they did."""
        self.pending += released
        now = self.clock()
        if self.trim is None or self.pending < self.min_bytes or now - self._last < self.min_interval_s:
            return
        self.pending, self._last = 0, now
        self.run(self.trim)
