"""A minimal WebSocket client on an asyncio ``Protocol``: the load generator's wire.

The benchmark client must cost less per round trip than the servers it
measures, or the client is what gets measured. A callback-driven protocol with
no task per message does: the handshake is one request and one ``101``, a text
frame out is a header plus the payload XOR-ed with the connection's mask key
(``websockets.speedups.apply_mask``, in C), and a frame in is a short header
parse. The mask key is drawn at random once per connection rather than per
frame (RFC 6455 wants one per frame; servers cannot tell, and it keeps
``os.urandom`` out of the loop). No extensions are offered, so no compression.

Server frames are text (1), binary (2), continuation (0), close (8), ping (9)
and pong (10); pings are answered, a close is echoed and the transport closed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
from collections.abc import Callable, Mapping
from typing import cast

from websockets.speedups import apply_mask

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_FRAME = 64 * 2**20

OnMessage = Callable[[bytes, bool], None]


class HandshakeError(Exception):
    """The server did not answer the upgrade with a valid ``101``."""


class WSClient(asyncio.Protocol):
    """One client connection. ``on_message(payload, is_text)`` gets each message."""

    def __init__(
        self, host: str, port: int, path: str, headers: Mapping[str, str], on_message: OnMessage
    ) -> None:
        self._host = host
        self._port = port
        self._path = path
        self._headers = headers
        self.on_message = on_message
        self._key = base64.b64encode(os.urandom(16))
        self._mask = os.urandom(4)
        self._buf = b""
        self._upgraded = False
        self._fragments: list[bytes] = []
        self._fragment_text = False
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.response_headers: dict[str, str] = {}

    # -- asyncio.Protocol -------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, hence the cast.
        self.transport = cast(asyncio.Transport, transport)
        lines = [
            f"GET {self._path} HTTP/1.1",
            f"Host: {self._host}:{self._port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self._key.decode()}",
            "Sec-WebSocket-Version: 13",
            *(f"{k}: {v}" for k, v in self._headers.items()),
        ]
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or HandshakeError("connection closed during handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        if not self._upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self._buf = buf
                return
            self._check_handshake(buf[:end])
            buf = buf[end + 4 :]
            if not self._upgraded:
                return
        self._buf = self._parse_frames(buf)

    # -- handshake and framing --------------------------------------------

    def _check_handshake(self, head: bytes) -> None:
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        for line in header_lines:
            name, _, value = line.partition(":")
            self.response_headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1(self._key + _GUID).digest()).decode()
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or parts[1] != "101":
            self._fail(HandshakeError(f"upgrade refused: {status_line}"))
        elif self.response_headers.get("sec-websocket-accept") != expected:
            self._fail(HandshakeError("bad Sec-WebSocket-Accept"))
        else:
            self._upgraded = True
            self.opened.set_result(None)

    def _fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def _parse_frames(self, buf: bytes) -> bytes:
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = struct.unpack_from("!H", buf, pos + 2)[0]
                head = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = struct.unpack_from("!Q", buf, pos + 2)[0]
                head = 10
            if length > MAX_FRAME:
                self._fail(HandshakeError(f"frame of {length} bytes"))
                return b""
            mask = b""
            if b1 & 0x80:
                if n - pos < head + 4:
                    break
                mask = buf[pos + head : pos + head + 4]
                head += 4
            if n - pos < head + length:
                break
            payload = buf[pos + head : pos + head + length]
            if mask:
                payload = apply_mask(payload, mask)
            pos += head + length
            self._frame(b0 & 0x80, b0 & 0x0F, payload)
        return buf[pos:]

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode == 1 or opcode == 2:
            if fin:
                self.on_message(payload, opcode == 1)
            else:
                self._fragments = [payload]
                self._fragment_text = opcode == 1
        elif opcode == 0:
            self._fragments.append(payload)
            if fin:
                data = b"".join(self._fragments)
                self._fragments = []
                self.on_message(data, self._fragment_text)
        elif opcode == 9:
            self._send(0xA, payload)
        elif opcode == 8 and self.transport is not None and not self.transport.is_closing():
            self._send(0x8, payload[:2])
            self.transport.close()

    def _send(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            header = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0xFF, n)
        assert self.transport is not None
        self.transport.write(header + self._mask + apply_mask(payload, self._mask))

    # -- public -------------------------------------------------------------

    def send_text(self, payload: bytes) -> None:
        """Send one text frame (``payload`` must be UTF-8)."""
        self._send(0x1, payload)

    def close(self) -> None:
        """Send a close frame (1000) and close the transport without waiting."""
        if self.transport is not None and not self.transport.is_closing():
            self._send(0x8, struct.pack("!H", 1000))
            self.transport.close()


async def connect(
    host: str,
    port: int,
    path: str = "/hub",
    headers: Mapping[str, str] | None = None,
    on_message: OnMessage | None = None,
    connect_timeout: float = 10.0,
) -> WSClient:
    """Open a connection and finish the upgrade, or raise within ``connect_timeout`` seconds."""
    loop = asyncio.get_running_loop()

    def ignore(payload: bytes, is_text: bool) -> None:
        return None

    async with asyncio.timeout(connect_timeout):
        _, proto = await loop.create_connection(
            lambda: WSClient(host, port, path, headers or {}, on_message or ignore), host, port
        )
        await proto.opened
    return proto
