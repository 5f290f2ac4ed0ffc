"""The project link's framing and handshake, bytes in and frames out, with no I/O."""

from __future__ import annotations

import pytest

from hub.local_hub.framing import (
    BLOB_HEADER_BYTES,
    DEFAULT_MAX_FRAME_BYTES,
    REJECT_TEXT,
    BlobFrame,
    ClientHandshake,
    Frame,
    FrameDecoder,
    FrameError,
    HandshakeState,
    JsonFrame,
    ServerHandshake,
    blob_header,
    encode_blob,
    encode_json,
    json_header,
)

UUID_A = "0a1b2c3d-0000-4000-8000-000000000001"
UUID_B = "0a1b2c3d-0000-4000-8000-000000000002"

FRAMES: list[Frame] = [
    JsonFrame(b'{"event":"ping","id":"1"}'),
    BlobFrame(UUID_A, b"\x00\x01binary\xff" * 3),
    JsonFrame(b"{}"),
    BlobFrame(UUID_B, b""),
    JsonFrame('{"text":"héllo ☃"}'.encode()),
]


def encode(frame: Frame) -> bytes:
    if isinstance(frame, JsonFrame):
        return encode_json(frame.payload)
    return encode_blob(frame.uuid, frame.data)


STREAM = b"".join(encode(f) for f in FRAMES)


def feed_all(decoder: FrameDecoder, pieces: list[bytes]) -> list[Frame]:
    out: list[Frame] = []
    for piece in pieces:
        out.extend(decoder.feed(piece))
    return out


# ----------------------------------------------------------------------------- encoding


def test_json_frame_layout() -> None:
    assert encode_json(b"{}") == b"\x00\x00\x00\x03j{}"
    assert json_header(2) == b"\x00\x00\x00\x03j"


def test_blob_frame_layout() -> None:
    frame = encode_blob(UUID_A, b"xyz")
    assert frame[:4] == (1 + 36 + 3).to_bytes(4, "big")
    assert frame[4:5] == b"b"
    assert frame[5:41] == UUID_A.encode()
    assert frame[41:] == b"xyz"
    assert len(blob_header(UUID_A, 3)) == BLOB_HEADER_BYTES


@pytest.mark.parametrize("bad", ["short", UUID_A + "x", "é" * 36])
def test_blob_uuid_must_be_36_ascii_characters(bad: str) -> None:
    with pytest.raises(ValueError):
        encode_blob(bad, b"")


# ----------------------------------------------------------------------------- decoding


def test_one_feed_with_every_frame_merged() -> None:
    assert FrameDecoder().feed(STREAM) == FRAMES


def test_every_split_point_of_the_stream() -> None:
    for cut in range(len(STREAM) + 1):
        decoder = FrameDecoder()
        assert feed_all(decoder, [STREAM[:cut], STREAM[cut:]]) == FRAMES, cut
        assert decoder.buffered == 0


def test_every_pair_of_split_points() -> None:
    n = len(STREAM)
    for a in range(0, n + 1, 3):
        for b in range(a, n + 1, 5):
            decoder = FrameDecoder()
            assert feed_all(decoder, [STREAM[:a], STREAM[a:b], STREAM[b:]]) == FRAMES


def test_one_byte_at_a_time() -> None:
    decoder = FrameDecoder()
    got: list[Frame] = []
    for i in range(len(STREAM)):
        got.extend(decoder.feed(STREAM[i : i + 1]))
    assert got == FRAMES
    assert decoder.buffered == 0


def test_frames_come_out_as_soon_as_complete() -> None:
    decoder = FrameDecoder()
    first = encode(FRAMES[0])
    assert decoder.feed(first[:-1]) == []
    assert decoder.buffered == len(first) - 1
    assert decoder.feed(first[-1:] + STREAM[len(first) : len(first) + 2]) == [FRAMES[0]]
    assert decoder.buffered == 2


def test_empty_feed_is_harmless() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(STREAM) == FRAMES


def test_blob_of_exactly_the_uuid_is_an_empty_blob() -> None:
    assert FrameDecoder().feed(encode_blob(UUID_A, b"")) == [BlobFrame(UUID_A, b"")]


def test_large_frame_in_many_pieces() -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    frame = encode_blob(UUID_A, data)
    decoder = FrameDecoder()
    got = feed_all(decoder, [frame[i : i + 65536] for i in range(0, len(frame), 65536)])
    assert got == [BlobFrame(UUID_A, data)]


# ----------------------------------------------------------------------------- limits


def test_frame_of_exactly_the_limit_is_accepted() -> None:
    limit = 1000
    payload = b"x" * (limit - 1)
    assert FrameDecoder(limit).feed(encode_json(payload)) == [JsonFrame(payload)]
    blob = b"y" * (limit - 1 - 36)
    assert FrameDecoder(limit).feed(encode_blob(UUID_A, blob)) == [BlobFrame(UUID_A, blob)]


def test_frame_one_byte_over_the_limit_is_refused_from_its_header() -> None:
    limit = 1000
    decoder = FrameDecoder(limit)
    header = (limit + 1).to_bytes(4, "big")
    assert decoder.feed(header[:3]) == []
    with pytest.raises(FrameError, match="exceeds the limit of 1000"):
        decoder.feed(header[3:])


def test_default_limit_is_16_mib_plus_64() -> None:
    decoder = FrameDecoder()
    assert decoder.max_frame_bytes == DEFAULT_MAX_FRAME_BYTES == 16 * 1024 * 1024 + 64
    assert decoder.feed((DEFAULT_MAX_FRAME_BYTES).to_bytes(4, "big") + b"j") == []
    with pytest.raises(FrameError):
        FrameDecoder().feed((DEFAULT_MAX_FRAME_BYTES + 1).to_bytes(4, "big"))


def test_zero_length_is_refused() -> None:
    with pytest.raises(FrameError, match="length 0"):
        FrameDecoder().feed(b"\x00\x00\x00\x00")


@pytest.mark.parametrize("kind", [b"x", b"J", b"B", b"\x00", b"\xff"])
def test_unknown_type_byte_is_refused_before_the_body(kind: bytes) -> None:
    decoder = FrameDecoder()
    with pytest.raises(FrameError, match="unknown frame type"):
        decoder.feed(b"\x00\x00\x00\x10" + kind)  # 15 bytes of body never sent


def test_bad_type_after_good_frames() -> None:
    with pytest.raises(FrameError):
        FrameDecoder().feed(STREAM + b"\x00\x00\x00\x02zz")


@pytest.mark.parametrize("length", [1, 2, 36])
def test_blob_shorter_than_its_uuid_is_refused(length: int) -> None:
    frame = length.to_bytes(4, "big") + b"b" + b"u" * (length - 1)
    with pytest.raises(FrameError, match="shorter than its uuid"):
        FrameDecoder().feed(frame)


def test_non_ascii_uuid_is_refused() -> None:
    frame = (37).to_bytes(4, "big") + b"b" + b"\xff" * 36
    with pytest.raises(FrameError, match="ASCII"):
        FrameDecoder().feed(frame)


def test_after_an_error_every_feed_fails() -> None:
    decoder = FrameDecoder()
    with pytest.raises(FrameError):
        decoder.feed(b"\x00\x00\x00\x00")
    with pytest.raises(FrameError):
        decoder.feed(encode_json(b"{}"))


def test_limit_must_fit_a_blob_uuid() -> None:
    with pytest.raises(ValueError):
        FrameDecoder(36)


# ----------------------------------------------------------------------------- handshake

TOKEN = b"t" * 32 + b"0123456789abcdef0123456789abcdef"


def test_server_accepts_the_token_in_any_pieces() -> None:
    for cut in range(len(TOKEN)):
        hs = ServerHandshake(TOKEN)
        assert hs.feed(TOKEN[:cut]) is HandshakeState.PENDING
        assert hs.feed(TOKEN[cut:]) is HandshakeState.ACCEPTED
        assert hs.reply() == b"y"
        assert hs.leftover == b""


def test_server_accepts_one_byte_at_a_time() -> None:
    hs = ServerHandshake(TOKEN)
    for i in range(len(TOKEN) - 1):
        assert hs.feed(TOKEN[i : i + 1]) is HandshakeState.PENDING
    assert hs.feed(TOKEN[-1:]) is HandshakeState.ACCEPTED


def test_server_keeps_bytes_after_the_token() -> None:
    hs = ServerHandshake(TOKEN)
    assert hs.feed(TOKEN + STREAM[:10]) is HandshakeState.ACCEPTED
    assert hs.leftover == STREAM[:10]


@pytest.mark.parametrize(
    "sent", [b"x" * len(TOKEN), TOKEN[:-1] + b"!", b"\x00" * len(TOKEN), TOKEN.upper()]
)
def test_server_rejects_a_wrong_token(sent: bytes) -> None:
    hs = ServerHandshake(TOKEN)
    assert hs.feed(sent) is HandshakeState.REJECTED
    assert hs.reply() == b"n" + REJECT_TEXT.encode() == b"nInvalid secret token."


def test_server_decides_only_after_exactly_the_token_length() -> None:
    hs = ServerHandshake(TOKEN)
    assert hs.feed(b"x" * (len(TOKEN) - 1)) is HandshakeState.PENDING
    with pytest.raises(RuntimeError):
        hs.reply()
    assert hs.feed(b"x") is HandshakeState.REJECTED
    with pytest.raises(RuntimeError):
        hs.feed(b"more")


def test_server_timeout_reply_is_a_rejection() -> None:
    assert ServerHandshake.timeout_reply() == b"nInvalid secret token."


def test_server_needs_a_token() -> None:
    with pytest.raises(ValueError):
        ServerHandshake(b"")


def test_client_accepts_y_and_keeps_what_follows() -> None:
    hs = ClientHandshake()
    assert ClientHandshake.hello(TOKEN) == TOKEN
    assert hs.feed(b"") is HandshakeState.PENDING
    assert hs.feed(b"y" + STREAM) is HandshakeState.ACCEPTED
    assert FrameDecoder().feed(hs.leftover) == FRAMES


@pytest.mark.parametrize("answer", [b"n", b"nInvalid secret token.", b"Y", b"\x00", b"yes"[1:]])
def test_client_rejects_anything_but_y(answer: bytes) -> None:
    hs = ClientHandshake()
    assert hs.feed(answer) is HandshakeState.REJECTED
    with pytest.raises(RuntimeError):
        hs.feed(b"y")
