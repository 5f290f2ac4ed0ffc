"""One framed connection between a hub and a local hub, over asyncio streams.

Both ends use it: the hub's pool dials with `Link.connect`, the daemon answers with
`accept`. After the handshake a `Link` is symmetric:

    link = await Link.connect(host, port, token, timeout=10)
    await link.send({"event": "ping", "id": "…"})    # or pre-encoded JSON bytes
    await link.send_blob(uuid, data)                   # split into ≤ 1 MiB frames
    frame = await link.receive()                       # JsonFrame | BlobFrame
    link.close()

Writes go through one lock and each awaits `drain()`, so frames never interleave
and a peer that does not read slows its senders down instead of growing memory.
Exactly one task should call `receive()`. `keepalive()` runs the heartbeat rule
of the contract (a heartbeat every interval; close when the peer is silent for
1.5 intervals) for either side.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Mapping
from typing import Any, Final, Literal

import msgspec

from hub.local_hub.framing import (
    DEFAULT_MAX_FRAME_BYTES,
    UUID_BYTES,
    ClientHandshake,
    Frame,
    FrameDecoder,
    FrameError,
    HandshakeState,
    ServerHandshake,
    blob_header,
    json_header,
)

__all__ = [
    "BLOB_CHUNK_BYTES",
    "HEARTBEAT",
    "REFUSED_TEXT",
    "Link",
    "LinkClosed",
    "LinkError",
    "LinkProtocolError",
    "LinkRefused",
    "MessageTooLarge",
    "accept",
    "keepalive",
]

REFUSED_TEXT: Final = "Permission denied (invalid secret token) when connecting to the local hub."
DEFAULT_TIMEOUT_S: Final = 10.0
BLOB_CHUNK_BYTES: Final = 1024 * 1024
"""Largest blob piece `send_blob` puts in one frame (other frames may go in between)."""
HEARTBEAT: Final = b'{"event":"heartbeat"}'

_READ_BYTES: Final = 256 * 1024
_STREAM_LIMIT: Final = 1024 * 1024
_WRITE_HIGH_WATER: Final = 1024 * 1024
_encode = msgspec.json.Encoder().encode


class LinkError(Exception):
    """The link failed: could not connect, broke, or the peer misbehaved."""


class LinkRefused(LinkError):
    """The other side refused the secret token."""


class LinkClosed(LinkError):
    """The link is closed (by either side); nothing more can be sent or received."""


class LinkProtocolError(LinkError):
    """The peer sent bytes that break the framing; the link has been closed."""


class MessageTooLarge(ValueError):
    """A message does not fit in one frame of this link. The link itself is fine."""


class Link:
    """A framed, handshaken connection. See the module docstring."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        initial: bytes = b"",
        blob_chunk_bytes: int = BLOB_CHUNK_BYTES,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._decoder = FrameDecoder(max_frame_bytes)
        self._pending: collections.deque[Frame] = collections.deque()
        self._initial = initial
        self._write_lock = asyncio.Lock()
        self._receiving = False
        self._eof = False
        self.max_frame_bytes = max_frame_bytes
        self.blob_chunk_bytes = max(1, min(blob_chunk_bytes, max_frame_bytes - 1 - UUID_BYTES))
        self.last_received = time.monotonic()
        """`time.monotonic()` when bytes last arrived (a frame or part of one)."""
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        # Duck-typed: uvloop's transports are not asyncio.WriteTransport subclasses.
        set_limits = getattr(writer.transport, "set_write_buffer_limits", None)
        if set_limits is not None:
            set_limits(high=_WRITE_HIGH_WATER)

    # ------------------------------------------------------------------------- opening

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        token: str | bytes,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    ) -> Link:
        """Dial a local hub and present the token.

        Raises `LinkRefused` when the token is refused, `LinkError` on any other
        failure (refused connection, timeout, the peer closing early).
        """
        raw = token.encode() if isinstance(token, str) else token
        where = f"{host}:{port}"
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, limit=_STREAM_LIMIT)
                writer.write(ClientHandshake.hello(raw))
                await writer.drain()
                handshake = ClientHandshake()
                first = await reader.read(_READ_BYTES)
                if not first:
                    raise LinkError(
                        f"the local hub at {where} closed the link during the handshake"
                    )
                if handshake.feed(first) is HandshakeState.REJECTED:
                    raise LinkRefused(REFUSED_TEXT)
        except TimeoutError:
            _abort(writer)
            raise LinkError(
                f"timed out after {timeout:g} s connecting to the local hub at {where}"
            ) from None
        except LinkError:
            _abort(writer)
            raise
        except OSError as exc:
            _abort(writer)
            raise LinkError(f"cannot connect to the local hub at {where}: {exc}") from exc
        return cls(reader, writer, max_frame_bytes=max_frame_bytes, initial=handshake.leftover)

    # ------------------------------------------------------------------------- sending

    async def send(self, msg: Mapping[str, Any] | bytes) -> None:
        """Send one JSON message: a mapping, or bytes that already are its JSON."""
        payload = msg if isinstance(msg, bytes) else _encode(msg)
        if len(payload) + 1 > self.max_frame_bytes:
            raise MessageTooLarge(
                f"message of {len(payload)} bytes exceeds the link's frame limit "
                f"of {self.max_frame_bytes} bytes"
            )
        await self._write(json_header(len(payload)), payload)

    async def send_blob(self, uuid: str, data: bytes | bytearray | memoryview) -> None:
        """Send a blob under `uuid`, in as many frames as it needs (at least one)."""
        view = memoryview(data).cast("B")
        step = self.blob_chunk_bytes
        for start in range(0, max(len(view), 1), step):
            piece = view[start : start + step]
            await self._write(blob_header(uuid, len(piece)), piece)

    async def _write(self, header: bytes, payload: bytes | memoryview) -> None:
        async with self._write_lock:
            if self._writer.is_closing():
                raise LinkClosed("the link is closed")
            try:
                self._writer.writelines((header, payload))
                await self._writer.drain()
            except (ConnectionError, RuntimeError) as exc:
                self.close()
                raise LinkClosed(f"the link broke while sending: {exc}") from exc

    # ------------------------------------------------------------------------- receiving

    async def receive(self) -> Frame:
        """The next frame. Raises `LinkClosed` at the end, `LinkProtocolError` on garbage."""
        if self._receiving:
            raise RuntimeError("Link.receive() is already being awaited by another task")
        self._receiving = True
        try:
            while not self._pending:
                data = await self._read()
                try:
                    self._pending.extend(self._decoder.feed(data))
                except FrameError as exc:
                    self.close()
                    raise LinkProtocolError(f"protocol error from {self.peer}: {exc}") from exc
            return self._pending.popleft()
        finally:
            self._receiving = False

    async def _read(self) -> bytes:
        if self._initial:
            data, self._initial = self._initial, b""
            return data
        if self._eof:
            raise LinkClosed("the link is closed")
        try:
            data = await self._reader.read(_READ_BYTES)
        except (ConnectionError, OSError) as exc:
            self._eof = True
            self.close()
            raise LinkClosed(f"the link broke: {exc}") from exc
        if not data:
            self._eof = True
            self.close()
            raise LinkClosed("the peer closed the link")
        self.last_received = time.monotonic()
        return data

    # ------------------------------------------------------------------------- closing

    @property
    def closed(self) -> bool:
        return self._eof or self._writer.is_closing()

    def close(self) -> None:
        """Close the connection now; a pending `receive()` then raises `LinkClosed`."""
        if not self._writer.is_closing():
            self._writer.close()

    async def wait_closed(self) -> None:
        self.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()


def _abort(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        writer.close()


async def accept(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    token: bytes,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
) -> Link:
    """The daemon's side of the handshake on a fresh connection.

    Reads exactly `len(token)` bytes within `timeout`, answers `y` and returns the
    `Link`, or answers `n` + `Invalid secret token.`, closes and raises
    `LinkRefused` (`LinkError` when the client closes or times out first).
    """
    handshake = ServerHandshake(token)
    try:
        async with asyncio.timeout(timeout):
            got = 0
            while handshake.state is HandshakeState.PENDING:
                data = await reader.read(len(token) - got)
                if not data:
                    writer.close()
                    raise LinkError("the client closed the connection during the handshake")
                got += len(data)
                handshake.feed(data)
    except TimeoutError:
        writer.write(ServerHandshake.timeout_reply())
        writer.close()
        raise LinkError(f"no secret token within {timeout:g} s") from None
    except OSError as exc:
        writer.close()
        raise LinkError(f"the handshake failed: {exc}") from exc
    writer.write(handshake.reply())
    if handshake.state is HandshakeState.REJECTED:
        writer.close()
        raise LinkRefused("Invalid secret token.")
    return Link(reader, writer, max_frame_bytes=max_frame_bytes, initial=handshake.leftover)


KeepaliveEnd = Literal["closed", "silent", "stalled"]


async def keepalive(
    link: Link, interval_s: float, *, silent_after_s: float | None = None
) -> KeepaliveEnd:
    """Send a heartbeat every `interval_s`; close the link when the peer goes quiet.

    Returns why it stopped: `closed` (the link closed), `silent` (nothing received
    for `silent_after_s`, by default 1.5 intervals), or `stalled` (a heartbeat
    could not be written within that time because the peer does not read).
    """
    quiet_limit = 1.5 * interval_s if silent_after_s is None else silent_after_s
    next_beat = time.monotonic() + interval_s
    while not link.closed:
        now = time.monotonic()
        if now - link.last_received > quiet_limit:
            link.close()
            return "silent"
        if now >= next_beat:
            try:
                async with asyncio.timeout(quiet_limit):
                    await link.send(HEARTBEAT)
            except TimeoutError:
                link.close()
                return "stalled"
            except LinkError:
                return "closed"
            next_beat = time.monotonic() + interval_s
            continue
        wake = min(next_beat, link.last_received + quiet_limit + 0.001)
        await asyncio.sleep(max(0.0, wake - now))
    return "closed"
