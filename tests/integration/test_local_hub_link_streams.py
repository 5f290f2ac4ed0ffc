"""`Link` between two endpoints in this process: writes, blobs, backpressure, errors."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import msgspec
import pytest

from hub.local_hub.framing import BlobFrame, JsonFrame
from hub.local_hub.link import (
    Link,
    LinkClosed,
    LinkError,
    LinkProtocolError,
    LinkRefused,
    MessageTooLarge,
    accept,
)
from tests.fixtures.timeouts import seconds

TOKEN = b"k" * 64


@contextlib.asynccontextmanager
async def server(
    handler: object = None, **accept_kwargs: float
) -> AsyncIterator[tuple[int, asyncio.Queue[Link]]]:
    """A port whose connections are accepted (token handshake) and queued as Links."""
    accepted: asyncio.Queue[Link] = asyncio.Queue()
    tasks: set[asyncio.Task[None]] = set()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            link = await accept(reader, writer, TOKEN, **accept_kwargs)  # type: ignore[arg-type]
        except LinkError:
            return
        await accepted.put(link)

    srv = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        yield srv.sockets[0].getsockname()[1], accepted
    finally:
        srv.close()
        while not accepted.empty():
            await accepted.get_nowait().wait_closed()
        await srv.wait_closed()


@contextlib.asynccontextmanager
async def pair(max_frame_bytes: int = 1 << 20) -> AsyncIterator[tuple[Link, Link]]:
    async with server(max_frame_bytes=max_frame_bytes) as (port, accepted):
        client = await Link.connect(
            "127.0.0.1", port, TOKEN, timeout=seconds(5), max_frame_bytes=max_frame_bytes
        )
        near = await asyncio.wait_for(accepted.get(), seconds(5))
        try:
            yield client, near
        finally:
            await client.wait_closed()
            await near.wait_closed()


async def test_messages_both_ways() -> None:
    async with pair() as (client, daemon):
        before = time.monotonic()
        await client.send({"event": "ping", "id": "1"})
        frame = await daemon.receive()
        assert frame == JsonFrame(b'{"event":"ping","id":"1"}')
        assert daemon.last_received >= before
        await daemon.send(b'{"event":"pong","id":"1"}')
        assert await client.receive() == JsonFrame(b'{"event":"pong","id":"1"}')


async def test_concurrent_writers_never_interleave_frames() -> None:
    async with pair() as (client, daemon):
        client.blob_chunk_bytes = 1000

        async def writer(i: int) -> None:
            uuid = f"{i:036d}"
            await client.send_blob(uuid, bytes([i]) * 3500)  # four frames
            await client.send({"event": "done", "id": i})

        senders = asyncio.gather(*(writer(i) for i in range(50)))
        blobs: dict[str, bytearray] = {}
        done: set[int] = set()
        while len(done) < 50:
            frame = await asyncio.wait_for(daemon.receive(), seconds(5))
            if isinstance(frame, BlobFrame):
                assert len(frame.data) <= 1000
                blobs.setdefault(frame.uuid, bytearray()).extend(frame.data)
            else:
                msg = msgspec.json.decode(frame.payload)
                i = msg["id"]
                assert bytes(blobs[f"{i:036d}"]) == bytes([i]) * 3500  # complete before its message
                done.add(i)
        await senders


async def test_an_empty_blob_is_one_frame() -> None:
    async with pair() as (client, daemon):
        await client.send_blob("u" * 36, b"")
        assert await daemon.receive() == BlobFrame("u" * 36, b"")


async def test_too_large_message_is_refused_and_the_link_lives_on() -> None:
    async with pair(max_frame_bytes=1000) as (client, daemon):
        with pytest.raises(MessageTooLarge):
            await client.send(b"x" * 1000)
        await client.send(b"y" * 999)  # exactly the limit with its type byte
        assert await daemon.receive() == JsonFrame(b"y" * 999)
        assert client.blob_chunk_bytes == 1000 - 1 - 36
        await client.send_blob("u" * 36, b"z" * 2000)
        sizes = [len((await daemon.receive()).data) for _ in range(3)]  # type: ignore[union-attr]
        assert sizes == [963, 963, 74]


async def test_a_peer_that_does_not_read_blocks_the_sender() -> None:
    async with pair(max_frame_bytes=2 << 20) as (client, daemon):
        chunk = b"b" * (1 << 20)
        sent = 0
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                while True:
                    await client.send_blob("u" * 36, chunk)
                    sent += len(chunk)
        assert sent < 64 << 20  # stopped by backpressure, not by memory
        received = 0
        end = asyncio.ensure_future(client.send(b'{"event":"end"}'))  # behind the blobs
        while True:
            frame = await asyncio.wait_for(daemon.receive(), seconds(10))
            if isinstance(frame, JsonFrame):
                break
            received += len(frame.data)
        await end
        assert received >= sent


async def test_garbage_is_a_protocol_error_that_closes_the_link() -> None:
    async with pair() as (client, daemon):
        client._writer.write(b"\x00\x00\x00\x05zjunk")  # an unknown type byte
        with pytest.raises(LinkProtocolError, match="unknown frame type"):
            await asyncio.wait_for(daemon.receive(), seconds(5))
        assert daemon.closed
        with pytest.raises(LinkClosed):
            await asyncio.wait_for(client.receive(), seconds(5))


async def test_closed_links_raise_link_closed() -> None:
    async with pair() as (client, daemon):
        client.close()
        with pytest.raises(LinkClosed):
            await client.send({"event": "ping"})
        with pytest.raises(LinkClosed):
            await asyncio.wait_for(daemon.receive(), seconds(5))
        with pytest.raises(LinkClosed):
            await daemon.receive()


async def test_only_one_receiver_at_a_time() -> None:
    async with pair() as (client, daemon):
        first = asyncio.ensure_future(daemon.receive())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError):
            await daemon.receive()
        await client.send(b"{}")
        assert await first == JsonFrame(b"{}")


async def test_wrong_token_and_silent_or_closing_servers() -> None:
    async with server() as (port, _):
        with pytest.raises(LinkRefused):
            await Link.connect("127.0.0.1", port, b"w" * 64, timeout=seconds(5))

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    async def closes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    for handler, text in ((silent, "timed out after 0.3 s"), (closes, "closed|reset")):
        srv = await asyncio.start_server(handler, "127.0.0.1", 0)
        try:
            with pytest.raises(LinkError, match=text) as caught:
                await Link.connect("127.0.0.1", srv.sockets[0].getsockname()[1], TOKEN, timeout=0.3)
            assert not isinstance(caught.value, LinkRefused)
        finally:
            srv.close()
            await srv.wait_closed()


async def test_accept_times_out_with_a_refusal() -> None:
    async with server(timeout=0.2) as (port, accepted):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(seconds(5)):
            assert await reader.read() == b"nInvalid secret token."
        writer.close()
        await writer.wait_closed()
        assert accepted.empty()
