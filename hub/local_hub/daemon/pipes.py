"""Bounded byte channels between the event loop and one worker thread.

Tar work runs in a thread so heartbeats keep flowing; these pipes carry its bytes
without letting either side run ahead of the other by more than a bound:

* `ThreadToLoop` — a thread produces chunks (`ChunkWriter` is a file object for
  `tarfile`), a coroutine sends them on. The thread blocks when `depth` chunks
  wait; `abort()` makes its next write raise `Aborted`.
* `LoopToThread` — a coroutine feeds chunks (`await put`), a thread reads them as
  a file (`read(n)`). `put` waits while `max_bytes` are unread; `end()` is EOF,
  `abort()` makes the reader raise `Aborted`.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Final

_END: Final = object()
_ABORT: Final = object()


class Aborted(Exception):
    """The other side gave up; the worker thread should stop."""


class ThreadToLoop:
    def __init__(self, loop: asyncio.AbstractEventLoop, *, depth: int = 4) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._credits = threading.Semaphore(depth)
        self._depth = depth
        self._aborted = False

    # worker thread
    def put(self, chunk: bytes) -> None:
        self._credits.acquire()
        if self._aborted:
            raise Aborted
        self._loop.call_soon_threadsafe(self._queue.put_nowait, chunk)

    def finish(self) -> None:
        """Called once by the thread when it is done (also after an error)."""
        self._loop.call_soon_threadsafe(self._queue.put_nowait, _END)

    # event loop
    async def get(self) -> bytes | None:
        """The next chunk, or None once the thread has finished."""
        item = await self._queue.get()
        if item is _END:
            return None
        self._credits.release()
        assert isinstance(item, bytes)
        return item

    def abort(self) -> None:
        self._aborted = True
        for _ in range(self._depth + 1):
            self._credits.release()


class ChunkWriter:
    """A write-only file object that cuts what it is given into `chunk_bytes` pieces."""

    def __init__(self, pipe: ThreadToLoop, chunk_bytes: int) -> None:
        self._pipe = pipe
        self._chunk = chunk_bytes
        self._buf = bytearray()

    def write(self, data: bytes) -> int:
        self._buf += data
        while len(self._buf) >= self._chunk:
            self._pipe.put(bytes(self._buf[: self._chunk]))
            del self._buf[: self._chunk]
        return len(data)

    def flush(self) -> None:
        """Send what is buffered (tarfile calls it too; only the last call matters)."""

    def close(self) -> None:
        if self._buf:
            self._pipe.put(bytes(self._buf))
            self._buf.clear()


class LoopToThread:
    def __init__(self, loop: asyncio.AbstractEventLoop, *, max_bytes: int) -> None:
        self._loop = loop
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._max = max_bytes
        self._unread = 0
        self._space = asyncio.Event()
        self._closed = False
        self._leftover = memoryview(b"")
        self._eof = False

    # event loop
    async def put(self, chunk: bytes) -> None:
        """Queue `chunk` for the thread; silently dropped once the reader is gone."""
        while not self._closed and self._unread and self._unread + len(chunk) > self._max:
            self._space.clear()
            await self._space.wait()
        if self._closed:
            return
        self._unread += len(chunk)
        self._queue.put(chunk)

    def end(self) -> None:
        self._queue.put(_END)

    def abort(self) -> None:
        self._queue.put(_ABORT)

    def _consumed(self, n: int) -> None:
        self._unread -= n
        self._space.set()

    def _reader_gone(self) -> None:
        self._closed = True
        self._space.set()

    # worker thread
    def read(self, n: int = -1) -> bytes:
        if not self._leftover:
            if self._eof:
                return b""
            item = self._queue.get()
            if item is _ABORT:
                raise Aborted
            if item is _END:
                self._eof = True
                return b""
            assert isinstance(item, bytes)
            self._loop.call_soon_threadsafe(self._consumed, len(item))
            self._leftover = memoryview(item)
        size = len(self._leftover) if n < 0 else min(n, len(self._leftover))
        out = bytes(self._leftover[:size])
        self._leftover = self._leftover[size:]
        return out

    def wait_for_end(self) -> None:
        """Read to the end (or abort) and discard: the thread no longer needs the bytes."""
        while self.read(1 << 20):
            pass

    def close(self) -> None:
        """Called once by the thread when it stops reading."""
        self._loop.call_soon_threadsafe(self._reader_gone)
