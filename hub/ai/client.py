"""The OpenAI-compatible HTTP API, spoken with aiohttp: chat completions (whole or
streamed as server-sent events) and embeddings.

aiohttp rather than the `openai` package: it is already the hub's HTTP stack, adds
no dependency (the `openai` package brings httpx and pydantic), and its plain
reads let every failure (refused connection, 4xx/5xx, a body that is not what the
API promises, a stalled stream) become one clear `AiUnavailable` text. One client
session per request: an AI call takes seconds, the connection set-up is noise, and
nothing has to be closed at hub stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
from aiohttp.http_exceptions import LineTooLong

from hub.config import Settings
from hub.errors import HubError

MAX_ERROR_CHARS = 300
MAX_LINE_BYTES = 1_000_000


class AiUnavailable(HubError):
    """The endpoint could not give an answer (down, an error status, a bad body, too slow)."""


@dataclass(slots=True)
class Completion:
    text: str
    tokens: int | None  # usage.total_tokens when the endpoint reports it


@dataclass(frozen=True, slots=True)
class Endpoint:
    base_url: str
    api_key: str
    timeout_s: float

    @classmethod
    def of(cls, settings: Settings) -> Endpoint:
        return cls(settings.ai_base_url.rstrip("/"), settings.ai_api_key, settings.ai_timeout_s)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _session(self) -> aiohttp.ClientSession:
        # sock_read bounds the wait for each piece of a stream, total the whole call
        timeout = aiohttp.ClientTimeout(total=self.timeout_s, sock_read=self.timeout_s)
        return aiohttp.ClientSession(timeout=timeout, headers=self._headers())

    async def chat(self, body: dict[str, Any]) -> Completion:
        async with self._session() as http:
            data = await _post_json(http, f"{self.base_url}/chat/completions", body)
        try:
            text = data["choices"][0]["message"]["content"] or ""
            if not isinstance(text, str):
                raise TypeError
        except (KeyError, IndexError, TypeError):
            raise AiUnavailable("the AI endpoint sent a reply without a message") from None
        return Completion(text, _tokens(data))

    async def chat_stream(
        self, body: dict[str, Any], done: Completion
    ) -> AsyncGenerator[str, None]:
        """Yield the reply's pieces as they arrive; `done` gets the whole text and tokens."""
        async with self._session() as http:
            try:
                async with http.post(
                    f"{self.base_url}/chat/completions", json={**body, "stream": True}
                ) as resp:
                    await _check(resp)
                    async for data in _events(resp):
                        tokens = _tokens(data)
                        if tokens is not None:
                            done.tokens = tokens
                        piece = _delta(data)
                        if piece:
                            done.text += piece
                            yield piece
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise _unavailable(exc) from None

    async def embeddings(self, model: str, inputs: list[str]) -> tuple[list[list[float]], int]:
        """One vector per input, in order, and the tokens the endpoint counted."""
        async with self._session() as http:
            data = await _post_json(
                http, f"{self.base_url}/embeddings", {"model": model, "input": inputs}
            )
        try:
            items = sorted(data["data"], key=lambda d: d.get("index", 0))
            vectors = [[float(x) for x in item["embedding"]] for item in items]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise AiUnavailable("the AI endpoint sent embeddings in an unknown shape") from None
        if len(vectors) != len(inputs) or any(not v or len(v) != len(vectors[0]) for v in vectors):
            raise AiUnavailable("the AI endpoint sent the wrong number or size of embeddings")
        return vectors, _tokens(data) or 0


def _tokens(data: Any) -> int | None:
    usage = data.get("usage") if isinstance(data, dict) else None
    total = usage.get("total_tokens") if isinstance(usage, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def _delta(data: Any) -> str:
    try:
        piece = data["choices"][0]["delta"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""
    return piece if isinstance(piece, str) else ""


def _unavailable(exc: BaseException) -> AiUnavailable:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return AiUnavailable("the AI endpoint did not answer in time")
    if isinstance(exc, aiohttp.ClientConnectionError):
        return AiUnavailable("the AI endpoint cannot be reached")
    return AiUnavailable(f"the AI endpoint failed: {type(exc).__name__}")


async def _post_json(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> Any:
    try:
        async with http.post(url, json=body) as resp:
            await _check(resp)
            raw = await resp.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _unavailable(exc) from None
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise AiUnavailable("the AI endpoint sent a reply that is not JSON") from None
    if not isinstance(data, dict):
        raise AiUnavailable("the AI endpoint sent a reply that is not a JSON object")
    return data


async def _check(resp: aiohttp.ClientResponse) -> None:
    if resp.status < 400:
        return
    detail = ""
    try:
        body = msgspec.json.decode(await resp.read())
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str):
            detail = ": " + message[:MAX_ERROR_CHARS]
    except (msgspec.DecodeError, aiohttp.ClientError):
        pass
    raise AiUnavailable(f"the AI endpoint answered HTTP {resp.status}{detail}")


async def _events(resp: aiohttp.ClientResponse) -> AsyncIterator[Any]:
    """The JSON payloads of a server-sent event stream, until `data: [DONE]`."""
    while True:
        try:
            line = await resp.content.readline(max_line_length=MAX_LINE_BYTES)
        except LineTooLong:
            raise AiUnavailable("the AI endpoint sent a line that is too long") from None
        if not line:
            raise AiUnavailable("the AI endpoint's stream ended before [DONE]")
        text = line.strip()
        if not text.startswith(b"data:"):
            continue  # blank separators, comments (": keep-alive"), event names
        payload = text[5:].strip()
        if payload == b"[DONE]":
            return
        try:
            data = msgspec.json.decode(payload)
        except msgspec.DecodeError:
            raise AiUnavailable("the AI endpoint sent a stream part that is not JSON") from None
        if isinstance(data, dict) and "error" in data:
            error = data["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise AiUnavailable(
                f"the AI endpoint failed mid-reply: {str(message)[:MAX_ERROR_CHARS]}"
            )
        yield data
