"""The project link's bytes, without I/O: the token handshake and the frames after it.

Like `websockets/protocol.py`, nothing here reads or writes a socket. Bytes go in
(`feed`), frames or a verdict come out, and the encoders return bytes to send.

Handshake (before any frame). The hub sends the raw secret token; the daemon
answers one byte `y`, or `n` followed by `Invalid secret token.` and closes:

    server = ServerHandshake(token)          client = ClientHandshake()
    server.feed(data) -> HandshakeState      client.feed(data) -> HandshakeState
    server.reply() -> b"y" | b"n…"           ClientHandshake.hello(token) -> bytes
    server.leftover                          client.leftover   (bytes past the handshake)

Frames. A 4-byte big-endian length N, then N bytes: one type byte and N-1 bytes of
payload. `j`: one UTF-8 JSON message. `b`: a 36-byte ASCII uuid, then blob bytes.
N is at least 1 and at most `max_frame_bytes`; a bad length or an unknown type
byte is a `FrameError`, after which the decoder refuses all further input.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass
from typing import Final, NoReturn

__all__ = [
    "BLOB_HEADER_BYTES",
    "DEFAULT_MAX_FRAME_BYTES",
    "REJECT_TEXT",
    "UUID_BYTES",
    "BlobFrame",
    "ClientHandshake",
    "Frame",
    "FrameDecoder",
    "FrameError",
    "HandshakeState",
    "JsonFrame",
    "ServerHandshake",
    "blob_header",
    "encode_blob",
    "encode_json",
    "json_header",
]

DEFAULT_MAX_FRAME_BYTES: Final = 16 * 1024 * 1024 + 64
"""Largest N (type byte plus payload) accepted by default: a 16 MiB blob chunk and its uuid."""

UUID_BYTES: Final = 36
LENGTH_BYTES: Final = 4
BLOB_HEADER_BYTES: Final = LENGTH_BYTES + 1 + UUID_BYTES
"""Bytes a blob frame adds to its data: length, type byte and uuid."""

TYPE_JSON: Final = ord("j")
TYPE_BLOB: Final = ord("b")

ACCEPT: Final = b"y"
REJECT_TEXT: Final = "Invalid secret token."
REJECT: Final = b"n" + REJECT_TEXT.encode()


class FrameError(Exception):
    """The peer broke the framing rules; the link cannot continue."""


@dataclass(frozen=True, slots=True)
class JsonFrame:
    """One message: the raw UTF-8 JSON bytes (decoded by whoever receives it)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class BlobFrame:
    """One piece of a blob; a blob may span several frames with the same uuid."""

    uuid: str
    data: bytes


Frame = JsonFrame | BlobFrame


# ----------------------------------------------------------------------------- encoding


def json_header(payload_len: int) -> bytes:
    """The 5 bytes before a JSON payload of `payload_len` bytes."""
    return (payload_len + 1).to_bytes(LENGTH_BYTES, "big") + b"j"


def blob_header(uuid: str, data_len: int) -> bytes:
    """The 41 bytes before `data_len` blob bytes: length, `b` and the 36-byte uuid."""
    raw = uuid.encode("ascii")
    if len(raw) != UUID_BYTES:
        raise ValueError(f"a blob uuid must be {UUID_BYTES} ASCII characters, got {uuid!r}")
    return (data_len + 1 + UUID_BYTES).to_bytes(LENGTH_BYTES, "big") + b"b" + raw


def encode_json(obj_bytes: bytes) -> bytes:
    """One `j` frame around already-encoded JSON bytes."""
    return json_header(len(obj_bytes)) + obj_bytes


def encode_blob(uuid: str, data: bytes) -> bytes:
    """One `b` frame carrying `data` under `uuid`."""
    return blob_header(uuid, len(data)) + data


# ----------------------------------------------------------------------------- decoding


class FrameDecoder:
    """Turns a byte stream into frames, whatever the read boundaries are.

    `feed` returns every frame completed by the new bytes, in order, and keeps
    the incomplete rest. A length header is checked as soon as its 4 bytes are
    in, and the type byte as soon as it is in, so an oversized or garbage frame
    is refused before its body is buffered.
    """

    __slots__ = ("_buf", "_error", "max_frame_bytes")

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        if max_frame_bytes < 1 + UUID_BYTES:
            raise ValueError(f"max_frame_bytes must be at least {1 + UUID_BYTES}")
        self.max_frame_bytes = max_frame_bytes
        self._buf = bytearray()
        self._error: str | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        if self._error is not None:
            raise FrameError(self._error)
        buf = self._buf
        buf += data
        frames: list[Frame] = []
        with memoryview(buf) as view:
            pos = self._parse(view, frames)
        if pos:
            del buf[:pos]
        return frames

    def _parse(self, view: memoryview, frames: list[Frame]) -> int:
        """Append every complete frame in `view` to `frames`; return the bytes consumed."""
        pos = 0
        size = len(view)
        while size - pos >= LENGTH_BYTES:
            length = int.from_bytes(view[pos : pos + LENGTH_BYTES], "big")
            self._check_length(length)
            body = pos + LENGTH_BYTES
            if size == body:
                break
            kind = view[body]
            if kind != TYPE_JSON and kind != TYPE_BLOB:
                self._fail(f"unknown frame type byte {kind:#04x}")
            if kind == TYPE_BLOB and length < 1 + UUID_BYTES:
                self._fail(f"blob frame of {length} bytes is shorter than its uuid")
            end = body + length
            if end > size:
                break
            if kind == TYPE_JSON:
                frames.append(JsonFrame(bytes(view[body + 1 : end])))
            else:
                frames.append(self._blob(view, body + 1, end))
            pos = end
        return pos

    def _check_length(self, length: int) -> None:
        if length == 0:
            self._fail("frame of length 0")
        if length > self.max_frame_bytes:
            self._fail(f"frame of {length} bytes exceeds the limit of {self.max_frame_bytes}")

    def _blob(self, view: memoryview, start: int, end: int) -> BlobFrame:
        raw = bytes(view[start : start + UUID_BYTES])
        if not raw.isascii():
            self._fail("blob uuid is not ASCII")
        return BlobFrame(raw.decode("ascii"), bytes(view[start + UUID_BYTES : end]))

    def _fail(self, text: str) -> NoReturn:
        self._error = text
        raise FrameError(text)


# ----------------------------------------------------------------------------- handshake


class HandshakeState(enum.Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class ServerHandshake:
    """The daemon's side: collect exactly `len(token)` bytes, then compare in constant time."""

    __slots__ = ("_buf", "_token", "leftover", "state")

    def __init__(self, token: bytes) -> None:
        if not token:
            raise ValueError("the secret token must not be empty")
        self._token = token
        self._buf = bytearray()
        self.state = HandshakeState.PENDING
        self.leftover = b""
        """Bytes the client sent after the token (frames pipelined behind it)."""

    def feed(self, data: bytes) -> HandshakeState:
        if self.state is not HandshakeState.PENDING:
            raise RuntimeError("handshake already decided")
        self._buf += data
        need = len(self._token)
        if len(self._buf) < need:
            return self.state
        got, self.leftover = bytes(self._buf[:need]), bytes(self._buf[need:])
        self._buf.clear()
        ok = hmac.compare_digest(got, self._token)
        self.state = HandshakeState.ACCEPTED if ok else HandshakeState.REJECTED
        return self.state

    def reply(self) -> bytes:
        """What to send once decided: `y`, or `n` and the reason (then close)."""
        if self.state is HandshakeState.PENDING:
            raise RuntimeError("handshake not decided yet")
        return ACCEPT if self.state is HandshakeState.ACCEPTED else REJECT

    @staticmethod
    def timeout_reply() -> bytes:
        """What to send when the client did not finish sending a token in time."""
        return REJECT


class ClientHandshake:
    """The hub's side: after sending `hello(token)`, the first byte decides."""

    __slots__ = ("leftover", "state")

    def __init__(self) -> None:
        self.state = HandshakeState.PENDING
        self.leftover = b""
        """Bytes after `y`: frames the daemon sent right behind its answer."""

    @staticmethod
    def hello(token: bytes) -> bytes:
        return token

    def feed(self, data: bytes) -> HandshakeState:
        if self.state is not HandshakeState.PENDING:
            raise RuntimeError("handshake already decided")
        if not data:
            return self.state
        if data[:1] == ACCEPT:
            self.state = HandshakeState.ACCEPTED
            self.leftover = bytes(data[1:])
        else:
            self.state = HandshakeState.REJECTED
        return self.state
