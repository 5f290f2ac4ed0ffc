"""Make an account on a running hub and get what the benchmarks need from it.

Over one WebSocket (the ``websockets`` client): ``create_account`` with
``get_api_key``, then ``sign_in`` with ``remember_me`` for the cookie token;
if the account reply carried no key, ``api_key`` ``regenerate`` makes one.
Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

TIMEOUT = 30.0


@dataclass
class HubCredentials:
    email: str
    password: str
    account_id: str
    cookie_name: str
    cookie_value: str
    api_key: str

    @property
    def cookie_header(self) -> str:
        return f"{self.cookie_name}={self.cookie_value}"


class SetupError(Exception):
    pass


async def _call(ws: ClientConnection, event: str, **fields: Any) -> list[dict[str, Any]]:
    """Send one message; return every message up to and including the one with its id."""
    rid = str(uuid.uuid4())
    await ws.send(json.dumps({"event": event, "id": rid, **fields}))
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(TIMEOUT):
        while True:
            raw = await ws.recv()
            if not isinstance(raw, str):
                continue
            msg = json.loads(raw)
            seen.append(msg)
            if msg.get("id") == rid:
                return seen


async def setup_account(ws_url: str) -> HubCredentials:
    email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
    password = "bench-" + uuid.uuid4().hex
    async with connect(ws_url, compression=None, open_timeout=TIMEOUT) as ws:
        created = await _call(
            ws,
            "create_account",
            first_name="Bench",
            last_name="Mark",
            email_address=email,
            password=password,
            agreed_to_terms=True,
            get_api_key=True,
        )
        reply = created[-1]
        if reply.get("event") != "signed_in":
            raise SetupError(f"create_account: {reply}")
        account_id = str(reply.get("account_id", ""))
        api_key = str(reply.get("api_key") or "")
        if not api_key:
            info = (await _call(ws, "api_key", action="regenerate", password=password))[-1]
            api_key = str(info.get("api_key") or "")
            if not api_key:
                raise SetupError(f"api_key regenerate: {info}")
    # A fresh connection, so the sign-in is not "already signed in".
    async with connect(ws_url, compression=None, open_timeout=TIMEOUT) as ws:
        msgs = await _call(ws, "sign_in", email_address=email, password=password, remember_me=True)
        if msgs[-1].get("event") != "signed_in":
            raise SetupError(f"sign_in: {msgs[-1]}")
        cookies = [m for m in msgs if m.get("event") == "cookies" and m.get("value")]
        if not cookies:
            raise SetupError(f"sign_in with remember_me sent no cookies message: {msgs}")
        cookie_name = str(cookies[0].get("set") or "remember_me")
        cookie_value = str(cookies[0]["value"])
    return HubCredentials(email, password, account_id, cookie_name, cookie_value, api_key)
