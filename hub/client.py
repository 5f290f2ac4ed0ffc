"""A Python client for the hub's WebSocket protocol, built on `websockets`.

    import asyncio
    from hub.client import HubClient

    async def main():
        async with HubClient.connect("ws://127.0.0.1:5000/hub") as hub:
            print(await hub.call("ping"))
            await hub.call("sign_in", email_address="a@example.com", password="secret123")

    asyncio.run(main())

`call()` sends one message with a fresh `id` and returns the reply as a dict
(raising `HubCallError` for an `error` event unless `raise_errors=False`);
`stream()` yields every reply of a multi-response call until the last one.
Messages the hub pushes without an id (`signed_in` after a cookie,
`remember_me_failed`, `version`, `reconnect`, `cookies`) wait in `pushes`.

Terminals: binary frames carry a terminal's bytes, the first byte being the
`data_channel` of `session_started`. `send_binary(channel, data)` types into a
terminal; `next_binary()` returns the next binary frame as (channel, data).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection


class HubCallError(Exception):
    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__(reply.get("error"))
        self.reply = reply


class HubClient:
    def __init__(self, conn: ClientConnection, timeout: float = 30.0) -> None:
        self.conn = conn
        self.timeout = timeout
        self.pushes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.binary: asyncio.Queue[bytes] = asyncio.Queue()
        self._waiting: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self.closed = asyncio.Event()

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls,
        url: str,
        *,
        cookie: str | None = None,
        cookie_name: str = "remember_me",
        timeout: float = 30.0,
        max_size: int | None = 64 * 1024 * 1024,
    ) -> AsyncIterator[HubClient]:
        headers = {"Cookie": f"{cookie_name}={cookie}"} if cookie else None
        async with websockets.connect(
            url, additional_headers=headers, max_size=max_size, open_timeout=timeout
        ) as conn:
            client = cls(conn, timeout)
            try:
                yield client
            finally:
                await client.aclose()

    async def aclose(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self.conn.close()

    async def __aenter__(self) -> HubClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _read(self) -> None:
        try:
            async for frame in self.conn:
                if isinstance(frame, bytes):
                    self.binary.put_nowait(frame)
                    continue
                try:
                    msg = json.loads(frame)
                except ValueError:
                    continue
                msg_id = msg.get("id") if isinstance(msg, dict) else None
                queue = self._waiting.get(msg_id) if isinstance(msg_id, str) else None
                if queue is not None:
                    queue.put_nowait(msg)
                else:
                    self.pushes.put_nowait(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()
            for queue in self._waiting.values():
                queue.put_nowait({"event": "error", "error": "connection closed"})

    async def send(self, message: dict[str, Any]) -> None:
        """Send one message as it is (no id added, no reply awaited)."""
        await self.conn.send(json.dumps(message))

    async def call(
        self, event: str, *, raise_errors: bool = True, wait_s: float | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Send `event` with `fields` and a fresh id; return the first reply.

        `wait_s` bounds the wait for the reply (default: the client's timeout); a
        field named `timeout` is sent to the hub like any other field.
        """
        async for reply in self.stream(event, wait_s=wait_s, **fields):
            if raise_errors and reply.get("event") == "error":
                raise HubCallError(reply)
            return reply
        raise HubCallError({"event": "error", "error": "no reply"})

    async def stream(
        self, event: str, *, wait_s: float | None = None, **fields: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield every reply to one call until one arrives without `multi_response: true`."""
        message_id = str(fields.pop("id", None) or uuid.uuid4())
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._waiting[message_id] = queue
        try:
            await self.send({"event": event, "id": message_id, **fields})
            while True:
                reply = await asyncio.wait_for(queue.get(), wait_s or self.timeout)
                yield reply
                if reply.get("multi_response") is not True:
                    return
        finally:
            self._waiting.pop(message_id, None)

    async def send_binary(self, channel: int, data: bytes) -> None:
        """Send `data` to the terminal on `channel` (one binary frame)."""
        await self.conn.send(bytes((channel,)) + data)

    async def next_binary(self, timeout: float | None = None) -> tuple[int, bytes]:
        """The next binary frame from the hub, as (data channel, bytes)."""
        frame = await asyncio.wait_for(self.binary.get(), timeout or self.timeout)
        return (frame[0] if frame else 0), frame[1:]

    async def next_push(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message the hub sent without a pending call's id."""
        return await asyncio.wait_for(self.pushes.get(), timeout or self.timeout)

    async def sign_in(self, email: str, password: str, **fields: Any) -> dict[str, Any]:
        reply = await self.call("sign_in", email_address=email, password=password, **fields)
        if reply.get("event") != "signed_in":
            raise HubCallError(reply)
        return reply
