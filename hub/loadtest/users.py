"""One simulated user: an account, a project, a way in (password, cookie or API key),
and the operations of the mix, each timed from request to its last reply."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from hub.client import HubClient
from hub.loadtest.stats import Stats

OPS = ("ping", "exec", "file", "feed", "cell")
WS_ONLY = ("feed", "cell")  # no HTTP API for changefeeds and worksheets


class OpError(Exception):
    pass


@dataclass(slots=True)
class Account:
    email: str
    password: str
    account_id: str
    api_key: str
    cookie: str
    project_id: str


def _check(reply: dict[str, Any]) -> dict[str, Any]:
    if reply.get("event") == "error":
        raise OpError(str(reply.get("error")))
    return reply


async def make_account(url: str, run: str, index: int, password: str) -> Account:
    """Sign up (with an API key and a remember-me cookie) and create a project."""
    email = f"loadtest-{run}-{index}@example.com"
    async with HubClient.connect(url) as client:
        me = _check(
            await client.call(
                "create_account",
                raise_errors=False,
                email_address=email,
                password=password,
                first_name="Load",
                last_name=f"User{index}",
                agreed_to_terms=True,
                get_api_key=True,
            )
        )
        # a remember-me cookie comes with a sign-in that asks for one
        _check(
            await client.call(
                "sign_in",
                raise_errors=False,
                email_address=email,
                password=password,
                remember_me=True,
            )
        )
        cookie = ""
        async with asyncio.timeout(30):
            while not cookie:
                push = await client.next_push()
                if push.get("event") == "cookies":
                    cookie = str(push.get("value") or "")
        project = _check(await client.call("create_project", raise_errors=False, title="load"))
    return Account(
        email,
        password,
        str(me["account_id"]),
        str(me.get("api_key") or ""),
        cookie,
        str(project["project_id"]),
    )


class Transport:
    """How a user talks to the hub: its own WebSocket, or the HTTP API with its key."""

    async def call(self, event: str, **fields: Any) -> dict[str, Any]:
        raise NotImplementedError


class WsTransport(Transport):
    def __init__(self, client: HubClient) -> None:
        self.client = client

    async def call(self, event: str, **fields: Any) -> dict[str, Any]:
        last: dict[str, Any] = {}
        async for reply in self.client.stream(event, **fields):
            last = _check(reply)
        return last


class HttpTransport(Transport):
    def __init__(self, http: aiohttp.ClientSession, base: str, key: str) -> None:
        self.http = http
        self.base = base
        # the key is the basic-auth user name, as with `curl -u KEY:`
        self.headers = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}

    async def call(self, event: str, **fields: Any) -> dict[str, Any]:
        async with self.http.post(
            f"{self.base}/api/v1/{event}", json=fields, headers=self.headers
        ) as r:
            body = await r.json(content_type=None)
            if r.status != 200:
                raise OpError(
                    f"HTTP {r.status}: {body.get('error') if isinstance(body, dict) else body}"
                )
            return _check(body)


class User:
    def __init__(self, account: Account, stats: Stats, think_s: float, cell_path: str) -> None:
        self.account = account
        self.stats = stats
        self.think_s = think_s
        self.cell_path = cell_path
        self.transport: Transport | None = None
        self.client: HubClient | None = None
        self._feed: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._feed_id = f"feed-{uuid.uuid4()}"
        self._titles = itertools.count()

    @contextlib.asynccontextmanager
    async def session(self, url: str, http_base: str, auth: str) -> AsyncIterator[User]:
        """Connect and sign in the way `auth` says; timed as the `connect` event."""
        started = time.perf_counter()
        if auth == "key":
            async with aiohttp.ClientSession() as http:
                self.transport = HttpTransport(http, http_base, self.account.api_key)
                await self.transport.call("ping")
                self.stats.op("connect").ok(time.perf_counter() - started)
                yield self
            return
        cookie = self.account.cookie if auth == "cookie" else None
        async with HubClient.connect(url, cookie=cookie) as client:
            self.client = client
            self.transport = WsTransport(client)
            if auth == "password":
                await self.transport.call(
                    "sign_in", email_address=self.account.email, password=self.account.password
                )
            else:
                await self._signed_in_by_cookie()
            self.stats.op("connect").ok(time.perf_counter() - started)
            router = asyncio.ensure_future(self._route_pushes())
            try:
                await self._open_feed()
                yield self
            finally:
                router.cancel()

    async def _signed_in_by_cookie(self) -> None:
        assert self.client is not None
        async with asyncio.timeout(10):
            while True:
                push = await self.client.next_push()
                if push.get("event") == "signed_in":
                    return
                if push.get("event") == "remember_me_failed":
                    raise OpError("the remember-me cookie was refused")

    async def _route_pushes(self) -> None:
        assert self.client is not None
        while True:
            push = await self.client.pushes.get()
            if push.get("id") == self._feed_id:
                self._feed.put_nowait(push)

    async def _open_feed(self) -> None:
        assert self.client is not None
        query = {"projects": {"project_id": self.account.project_id, "title": None}}
        await self.client.send(
            {
                "event": "query",
                "id": self._feed_id,
                "changes": True,
                "multi_response": True,
                "query": query,
            }
        )
        async with asyncio.timeout(30):
            first = await self._feed.get()
        _check(first)

    # --- the operations ---------------------------------------------------------------

    async def run_op(self, name: str) -> None:
        ops: dict[str, Callable[[], Awaitable[None]]] = {
            "ping": self.ping,
            "exec": self.exec,
            "file": self.file,
            "feed": self.feed,
            "cell": self.cell,
        }
        if self.client is None and name in WS_ONLY:
            return  # an API-key user has no WebSocket
        await ops[name]()

    async def _timed(self, name: str, work: Awaitable[Any]) -> None:
        started = time.perf_counter()
        try:
            await work
        except (OpError, TimeoutError, OSError, aiohttp.ClientError) as exc:
            self.stats.op(name).failed(str(exc) or type(exc).__name__)
        except Exception as exc:  # a client-side bug must not end the whole run
            self.stats.op(name).failed(f"{type(exc).__name__}: {exc}")
        else:
            self.stats.op(name).ok(time.perf_counter() - started)

    async def ping(self) -> None:
        assert self.transport is not None
        await self._timed("ping", self.transport.call("ping"))

    async def exec(self) -> None:
        assert self.transport is not None
        await self._timed(
            "exec",
            self.transport.call(
                "project_exec", project_id=self.account.project_id, command="echo", args=["hi"]
            ),
        )

    async def file(self) -> None:
        assert self.transport is not None
        pid = self.account.project_id
        await self._timed(
            "write_file",
            self.transport.call(
                "write_text_file_to_project", project_id=pid, path="load.txt", content="x" * 100
            ),
        )
        await self._timed(
            "read_file",
            self.transport.call("read_text_file_from_project", project_id=pid, path="load.txt"),
        )

    async def feed(self) -> None:
        await self._timed("feed", self._write_and_see())

    async def _write_and_see(self) -> None:
        assert self.transport is not None
        title = f"t{next(self._titles)}-{uuid.uuid4().hex[:6]}"
        await self.transport.call(
            "query", query={"projects": {"project_id": self.account.project_id, "title": title}}
        )
        async with asyncio.timeout(30):
            while True:
                change = _check(await self._feed.get())
                if (change.get("new_val") or {}).get("title") == title:
                    return

    async def cell(self) -> None:
        assert self.transport is not None
        await self._timed(
            "cell",
            self.transport.call(
                "sagews_execute_code",
                project_id=self.account.project_id,
                path=self.cell_path,
                code="print(6 * 7)",
            ),
        )
