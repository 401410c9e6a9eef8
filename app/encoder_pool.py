"""The encoder threads: image files are made smallest job first, so cheap answers never queue behind bulk ones.

A 512 px HD PNG takes about 20 ms of a core, a 64 px one 0.5 ms (docs/hd.md). In a first-in,
first-out pool, a flood of 512 px avatars (or 256-avatar grids) made every 64 px avatar wait behind
all of them: one client asking 64 px avatars of another release waited 515 ms at the median during a
64-client 512 px flood, against 4 ms alone. Here each job carries its work (pixels to encode), and
idle threads take the smallest first, in arrival order among equals. Large jobs wait only while
smaller ones are queued; the generator and upscaler lanes bound how fast small work can arrive.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class EncoderPool:
    """A fixed set of threads taking callables from a heap ordered by (work, arrival)."""

    def __init__(self, threads: int, name: str = "encode") -> None:
        self._heap: list[tuple[int, int, Callable[[], Any], Future[Any]]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, work: int, fn: Callable[[], T]) -> Future[T]:
        """Run `fn` on a pool thread; jobs of less `work` run first."""
        future: Future[T] = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the encoder pool is shut down")
            heapq.heappush(self._heap, (work, next(self._order), fn, future))
            self._ready.notify()
        return future

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._heap and not self._closed:
                    self._ready.wait()
                if not self._heap:
                    return  # closed and drained
                _, _, fn, future = heapq.heappop(self._heap)
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the awaiting request, never lost in the thread
                future.set_exception(exc)

    def shutdown(self, wait: bool = True) -> None:
        """Take no more jobs; the queued ones still run (requests are waiting on them)."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        if wait:
            for thread in self._threads:
                thread.join()
