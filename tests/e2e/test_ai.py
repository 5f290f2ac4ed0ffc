"""AI assistants from a user's side: chatgpt and openai_embeddings_* over the WebSocket
and the HTTP API, against a local OpenAI-compatible stand-in (tests/fixtures/openai_standin.py)
and the real embedded PostgreSQL with pgvector."""

from __future__ import annotations

import asyncio
import math
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.test_projects import account, close, new_project
from tests.fixtures.hub import basic_auth
from tests.fixtures.openai_standin import OpenAIStandin, bag_of_words, running_standin
from tests.fixtures.timeouts import eventually, seconds

KEY = "sk-standin-secret"
MAX_TOKENS = 1000


@pytest.fixture
async def standin() -> AsyncIterator[OpenAIStandin]:
    async with running_standin() as s:
        yield s


@pytest.fixture
def ai_extra() -> dict[str, Any]:
    """Settings one test changes (parametrize `ai_extra` to override)."""
    return {}


@pytest.fixture
def hub_overrides(standin: OpenAIStandin, ai_extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "ai_base_url": standin.url,
        "ai_api_key": KEY,
        "ai_models": "model-a, model-b",
        "ai_default_model": "model-a",
        "ai_embedding_model": "standin-embed",
        "ai_max_tokens": MAX_TOKENS,
        **ai_extra,
    }


async def api(http: Any, url: str, key: str, event: str, **body: Any) -> dict[str, Any]:
    async with http.post(f"{url}/api/v1/{event}", json=body, headers=basic_auth(key)) as r:
        assert r.status == 200, await r.text()
        reply: dict[str, Any] = await r.json()
        return reply


async def error_of(client: Any, event: str, **fields: Any) -> dict[str, Any]:
    reply: dict[str, Any] = await client.call(event, raise_errors=False, **fields)
    assert reply["event"] == "error", reply
    return reply


# --- chat -----------------------------------------------------------------------------


async def test_chat_whole_reply_over_websocket_and_http(connect, standin, http, http_url) -> None:
    c, me = await account(connect, "chat@example.com")
    try:
        history = [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4"},
        ]
        reply = await c.call(
            "chatgpt", text="and 3+3?", system="You are terse.", history=history, id="q-1"
        )
        assert reply == {"event": "chatgpt_response", "id": "q-1", "text": "echo: and 3+3?"}
        [sent] = standin.chats()
        assert sent.authorization == f"Bearer {KEY}"
        assert sent.body["model"] == "model-a"
        assert sent.body["messages"] == [
            {"role": "system", "content": "You are terse."},
            *history,
            {"role": "user", "content": "and 3+3?"},
        ]
        prompt = math.ceil(len("You are terse.What is 2+2?4and 3+3?") / 4)
        assert sent.body["max_tokens"] == MAX_TOKENS - prompt
        assert "stream" not in sent.body

        other = await c.call("chatgpt", text="hi", model="model-b")
        assert other["text"] == "echo: hi" and standin.chats()[-1].body["model"] == "model-b"

        over_http = await api(http, http_url, me["api_key"], "chatgpt", text="from curl")
        assert over_http["event"] == "chatgpt_response" and over_http["text"] == "echo: from curl"
        assert over_http["id"]
    finally:
        await close(c)


async def test_streamed_reply_arrives_in_order(connect, standin, http, http_url) -> None:
    c, me = await account(connect, "stream@example.com")
    try:
        standin.reply = "one two three four five six seven eight nine ten"
        parts = [p async for p in c.stream("chatgpt", text="count", stream=True, id="s-1")]
        *pieces, last = parts
        assert len(pieces) >= 2
        for p in pieces:
            assert p["event"] == "chatgpt_response" and p["id"] == "s-1"
            assert p["multi_response"] is True and p["text"]
        assert "".join(p["text"] for p in pieces) == standin.reply
        assert last == {"event": "chatgpt_response", "id": "s-1"}  # no text, no multi_response
        assert standin.chats()[-1].body["stream"] is True

        # HTTP has one reply: the whole text at once
        whole = await api(http, http_url, me["api_key"], "chatgpt", text="x", stream=True)
        assert whole["text"] == standin.reply and "multi_response" not in whole
    finally:
        await close(c)


async def test_bad_requests_are_refused_with_the_id(connect, standin) -> None:
    c, _ = await account(connect, "bad@example.com")
    try:
        err = await error_of(c, "chatgpt", text="hi", model="gpt-secret", id="m-1")
        assert err["id"] == "m-1"
        assert err["error"] == (
            "model 'gpt-secret' is not available on this server; use one of: model-a, model-b"
        )
        err = await error_of(c, "chatgpt", text="hi", history=[{"role": "wizard", "content": "x"}])
        assert "history[0] needs a role" in err["error"]
        err = await error_of(c, "chatgpt", text="hi", history=["just a string"])
        assert "history[0] must be an object" in err["error"]
        err = await error_of(c, "chatgpt", text="   ")
        assert err["error"] == "chatgpt: text must not be empty"
        assert standin.chats() == []  # nothing reached the endpoint
    finally:
        await close(c)


@pytest.mark.parametrize("ai_extra", [{"ai_requests_per_minute": 2}])
async def test_rate_limit_per_account(connect, standin, http, http_url, hub) -> None:
    c, me = await account(connect, "rate@example.com")
    d, _ = await account(connect, "rate2@example.com")
    try:
        assert (await c.call("chatgpt", text="1"))["text"] == "echo: 1"
        parts = [p async for p in c.stream("chatgpt", text="2", stream=True)]
        assert "".join(p.get("text", "") for p in parts) == "echo: 2"
        err = await error_of(c, "chatgpt", text="3", id="r-3")
        assert err["id"] == "r-3"
        assert err["error"].startswith("AI rate limit reached: at most 2 requests per minute;")
        # the same account over HTTP shares the limit; another account does not
        over_http = await api(http, http_url, me["api_key"], "chatgpt", text="4")
        assert over_http["event"] == "error" and "AI rate limit reached" in over_http["error"]
        assert (await d.call("chatgpt", text="5"))["text"] == "echo: 5"
        assert len(standin.chats()) == 3
        # a minute later the window has room again
        await hub.state.db.execute("UPDATE ai_usage SET time = time - interval '61 seconds'")
        assert (await c.call("chatgpt", text="6"))["text"] == "echo: 6"
    finally:
        await close(c)
        await close(d)


@pytest.mark.parametrize("ai_extra", [{"ai_requests_per_minute": 3}])
async def test_concurrent_requests_cannot_pass_the_rate_together(connect, standin) -> None:
    c, _ = await account(connect, "burst@example.com")
    try:
        replies = await asyncio.gather(
            *(c.call("chatgpt", text=f"q{i}", raise_errors=False) for i in range(8))
        )
        ok = [r for r in replies if r["event"] == "chatgpt_response"]
        refused = [r for r in replies if r["event"] == "error"]
        assert len(ok) == 3 and len(refused) == 5
        assert all("AI rate limit reached" in r["error"] for r in refused)
        assert len(standin.chats()) == 3
    finally:
        await close(c)


async def test_client_gone_mid_stream(connect, standin, hub) -> None:
    c, me = await account(connect, "gone@example.com")
    standin.gate = asyncio.Event()
    standin.reply = "first second third"
    try:
        parts = c.stream("chatgpt", text="go", stream=True)
        first = await anext(parts)
        assert first["text"] == "first " and first["multi_response"] is True
    finally:
        await close(c)
    standin.gate.set()  # the rest arrives for a client that has left

    async def recorded() -> bool:
        tokens = await hub.state.db.fetchval(
            "SELECT tokens FROM ai_usage WHERE account_id = $1", uuid.UUID(me["account_id"])
        )
        return bool(tokens)

    await eventually(recorded, 10)
    # the hub still answers others
    d, _ = await account(connect, "after@example.com")
    try:
        standin.reply = None
        assert (await d.call("chatgpt", text="ok"))["text"] == "echo: ok"
    finally:
        await close(d)


@pytest.mark.parametrize("ai_extra", [{"ai_max_tokens": 50, "ai_tokens_per_day": 10}])
async def test_token_limits(connect, standin, hub) -> None:
    c, me = await account(connect, "tokens@example.com")
    try:
        # a request's prompt (characters/4) must leave room for a reply within 50 tokens
        err = await error_of(c, "chatgpt", text="x" * 197)  # about 50 tokens
        assert err["error"] == (
            "chatgpt: the request is too long: about 50 tokens, and a request"
            " (prompt and reply) may have at most 50"
        )
        assert (await c.call("chatgpt", text="x" * 196))["event"] == "chatgpt_response"
        assert standin.chats()[-1].body["max_tokens"] == 1  # 50 - 49
        # the stand-in reports 7 tokens a reply: 7 used, 3 left today, then none
        second = await c.call("chatgpt", text="y")
        assert second["event"] == "chatgpt_response"
        assert standin.chats()[-1].body["max_tokens"] == 3
        err = await error_of(c, "chatgpt", text="z", id="t-3")
        assert err["id"] == "t-3"
        assert err["error"] == ("AI token limit reached: 14 of 10 tokens used in the last 24 hours")
        used = await hub.state.db.fetch(
            "SELECT tokens FROM ai_usage WHERE account_id = $1 ORDER BY id",
            uuid.UUID(me["account_id"]),
        )
        assert [r["tokens"] for r in used] == [7, 7]
    finally:
        await close(c)


async def test_tokens_are_estimated_when_the_endpoint_does_not_count(connect, standin, hub) -> None:
    c, me = await account(connect, "estimate@example.com")
    try:
        standin.tokens = None
        standin.reply = "r" * 40  # 10 tokens
        await c.call("chatgpt", text="q" * 20)  # 5 tokens
        tokens = await hub.state.db.fetchval(
            "SELECT tokens FROM ai_usage WHERE account_id = $1", uuid.UUID(me["account_id"])
        )
        assert tokens == 15
    finally:
        await close(c)


@pytest.mark.parametrize("ai_extra", [{"ai_timeout_s": 1.0}])
async def test_endpoint_failures_are_clear_errors(connect, standin, hub) -> None:
    c, me = await account(connect, "down@example.com")
    try:
        standin.fail_status = 500
        expected = "the AI endpoint answered HTTP 500: the stand-in was told to fail"
        assert (await error_of(c, "chatgpt", text="a", id="f-1")) == {
            "event": "error",
            "id": "f-1",
            "error": expected,
        }
        parts = [p async for p in c.stream("chatgpt", text="b", stream=True)]
        assert parts == [{"event": "error", "id": parts[0]["id"], "error": expected}]

        standin.fail_status = None
        standin.stall = True
        started = time.monotonic()
        err = await error_of(c, "chatgpt", text="c", stream=True, wait_s=seconds(10))
        assert err["error"] == "the AI endpoint did not answer in time"
        assert time.monotonic() - started < seconds(5)
        # failed requests count against the rate, but cost no tokens
        tokens = await hub.state.db.fetch(
            "SELECT tokens FROM ai_usage WHERE account_id = $1", uuid.UUID(me["account_id"])
        )
        assert [r["tokens"] for r in tokens] == [0, 0, 0]
    finally:
        await close(c)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize("ai_extra", [{"ai_base_url": f"http://127.0.0.1:{closed_port()}/v1"}])
async def test_endpoint_that_cannot_be_reached(connect) -> None:
    c, _ = await account(connect, "unreachable@example.com")
    try:
        err = await error_of(c, "chatgpt", text="hello")
        assert err["error"] == "the AI endpoint cannot be reached"
    finally:
        await close(c)


@pytest.mark.parametrize("ai_extra", [{"ai_base_url": ""}])
async def test_not_configured(connect, http, http_url) -> None:
    c, me = await account(connect, "noai@example.com")
    try:
        pid = await new_project(c)
        text = "the AI assistant is not configured on this server (ai_base_url)"
        assert (await error_of(c, "chatgpt", text="hi", id="n-1")) == {
            "event": "error",
            "id": "n-1",
            "error": text,
        }
        for event, fields in [
            ("openai_embeddings_save", {"project_id": pid, "path": "a.md", "data": []}),
            ("openai_embeddings_remove", {"project_id": pid, "path": "a.md", "data": []}),
            ("openai_embeddings_search", {"scope": f"projects/{pid}", "text": "x", "limit": 3}),
        ]:
            assert (await error_of(c, event, **fields))["error"] == text
            over_http = await api(http, http_url, me["api_key"], event, **fields)
            assert over_http["event"] == "error" and over_http["error"] == text
        over_http = await api(http, http_url, me["api_key"], "chatgpt", text="hi")
        assert over_http["error"] == text
    finally:
        await close(c)


async def test_chat_in_a_project_needs_write_access(connect, standin) -> None:
    c, _ = await account(connect, "owner-chat@example.com")
    d, them = await account(connect, "stranger-chat@example.com")
    try:
        pid = await new_project(c)
        ok = await c.call("chatgpt", text="about my file", project_id=pid, path="a.py")
        assert ok["text"] == "echo: about my file"
        err = await error_of(d, "chatgpt", text="about their file", project_id=pid)
        assert err["error"] == (
            f"User {them['account_id']} does not have write access to project {pid}"
        )
        assert len(standin.chats()) == 1
    finally:
        await close(c)
        await close(d)


# --- embeddings -----------------------------------------------------------------------

DOCS = [
    {"id": "cats", "text": "cats purr and chase mice", "meta": {"kind": "pet", "n": 1}},
    {"id": "dogs", "text": "dogs bark and fetch sticks", "meta": {"kind": "pet", "n": 2}},
    {"id": "stars", "text": "stars shine in the night sky", "meta": {"kind": "sky", "n": 3}},
]


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


async def test_embeddings_save_search_remove(connect, standin, hub) -> None:
    c, _ = await account(connect, "embed@example.com")
    try:
        pid = await new_project(c)
        saved = await c.call(
            "openai_embeddings_save", project_id=pid, path="notes/a.md", data=DOCS, id="e-1"
        )
        assert saved["event"] == "openai_embeddings_save_response" and saved["id"] == "e-1"
        ids = saved["ids"]
        url = f"projects/{pid}/files/notes/a.md#cats"
        assert ids[0] == str(uuid.uuid5(uuid.NAMESPACE_URL, url))
        [call] = standin.embedding_calls()
        assert call.body == {"model": "standin-embed", "input": [d["text"] for d in DOCS]}
        assert call.authorization == f"Bearer {KEY}"

        found = await c.call(
            "openai_embeddings_search", scope=f"projects/{pid}", text="the cats purr", limit=3
        )
        assert found["event"] == "openai_embeddings_search_response"
        matches = found["matches"]
        assert matches[0]["id"] == ids[0]
        assert matches[0]["payload"] == {
            "text": DOCS[0]["text"], "url": url, "meta": {"kind": "pet", "n": 1}
        }  # fmt: skip
        expected = cosine(bag_of_words("the cats purr"), bag_of_words(DOCS[0]["text"]))
        assert matches[0]["score"] == pytest.approx(expected, rel=1e-4)
        scores = [m["score"] for m in matches]
        assert scores == sorted(scores, reverse=True) and len(matches) == 3

        # filter, limit, offset, selector
        pets = await c.call(
            "openai_embeddings_search", scope=[f"projects/{pid}/files/notes"], text="night sky",
            limit=5, filter={"must": [{"key": "meta.kind", "match": {"value": "pet"}}]},
        )  # fmt: skip
        assert {m["id"] for m in pets["matches"]} == {ids[0], ids[1]}
        ranged = await c.call(
            "openai_embeddings_search", scope=f"projects/{pid}", limit=5,
            filter={"must": [{"key": "meta.n", "range": {"gte": 2}}],
                    "must_not": [{"key": "text", "match": {"text": "bark"}}]},
        )  # fmt: skip
        assert [m["id"] for m in ranged["matches"]] == [ids[2]]
        first = await c.call(
            "openai_embeddings_search", scope=f"projects/{pid}", text="cats", limit=1
        )
        second = await c.call(
            "openai_embeddings_search", scope=f"projects/{pid}", text="cats", limit=1, offset=1
        )
        assert first["matches"][0]["id"] == ids[0]
        assert second["matches"][0]["id"] != ids[0] and len(second["matches"]) == 1
        slim = await c.call(
            "openai_embeddings_search", scope=f"projects/{pid}", text="dogs", limit=1,
            selector={"include": ["url"]},
        )  # fmt: skip
        assert slim["matches"][0]["payload"] == {"url": f"projects/{pid}/files/notes/a.md#dogs"}
        # without text: every point of the scope, by url, no score
        listed = await c.call("openai_embeddings_search", scope=f"projects/{pid}", limit=10)
        assert [m["id"] for m in listed["matches"]] == [ids[0], ids[1], ids[2]]
        assert all("score" not in m for m in listed["matches"])
        elsewhere = await c.call(
            "openai_embeddings_search", scope=f"projects/{pid}/files/other", text="cats", limit=5
        )
        assert elsewhere["matches"] == []

        # the same texts again: stored vectors are reused, the endpoint is not asked
        calls = len(standin.embedding_calls())
        again = await c.call("openai_embeddings_save", project_id=pid, path="b.md", data=DOCS)
        assert len(again["ids"]) == 3 and len(standin.embedding_calls()) == calls

        removed = await c.call(
            "openai_embeddings_remove", project_id=pid, path="notes/a.md", data=[{"id": "cats"}]
        )
        assert removed == {
            "event": "openai_embeddings_remove_response", "id": removed["id"], "ids": [ids[0]]
        }  # fmt: skip
        after = await c.call(
            "openai_embeddings_search", scope=f"projects/{pid}/files/notes", text="cats", limit=5
        )
        assert ids[0] not in [m["id"] for m in after["matches"]]
    finally:
        await close(c)


async def test_embeddings_over_http(connect, standin, http, http_url) -> None:
    c, me = await account(connect, "embed-http@example.com")
    try:
        pid = await new_project(c)
        key = me["api_key"]
        saved = await api(
            http, http_url, key, "openai_embeddings_save", project_id=pid, path="x.txt", data=DOCS
        )
        assert saved["event"] == "openai_embeddings_save_response" and len(saved["ids"]) == 3
        found = await api(
            http, http_url, key, "openai_embeddings_search",
            scope=f"projects/{pid}", text="dogs fetch", limit=2,
        )  # fmt: skip
        assert found["event"] == "openai_embeddings_search_response"
        assert found["matches"][0]["id"] == saved["ids"][1] and len(found["matches"]) == 2
        removed = await api(
            http, http_url, key, "openai_embeddings_remove",
            project_id=pid, path="x.txt", data=[{"id": "dogs"}, {"id": "nothing-here"}],
        )  # fmt: skip
        assert removed["ids"] == [saved["ids"][1]]
    finally:
        await close(c)


async def test_hash_unchanged_keeps_the_vector(connect, standin, hub) -> None:
    c, _ = await account(connect, "hash@example.com")
    try:
        pid = await new_project(c)
        item = {"id": "p1", "text": "alpha beta", "hash": "h1", "meta": {"v": 1}}
        await c.call("openai_embeddings_save", project_id=pid, path="h.md", data=[item])
        calls = len(standin.embedding_calls())
        await c.call(
            "openai_embeddings_save", project_id=pid, path="h.md", data=[{**item, "meta": {"v": 2}}]
        )
        assert len(standin.embedding_calls()) == calls
        listed = await c.call("openai_embeddings_search", scope=f"projects/{pid}", limit=5)
        assert listed["matches"][0]["payload"]["meta"] == {"v": 2}
        # a new hash with new text: a new vector
        await c.call(
            "openai_embeddings_save", project_id=pid, path="h.md",
            data=[{"id": "p1", "text": "gamma delta", "hash": "h2"}],
        )  # fmt: skip
        assert standin.embedding_calls()[-1].body["input"] == ["gamma delta"]
    finally:
        await close(c)


async def test_embeddings_scope_and_access(connect, standin) -> None:
    c, _ = await account(connect, "mine@example.com")
    d, them = await account(connect, "theirs@example.com")
    try:
        mine = await new_project(c)
        theirs = await new_project(d)
        await d.call("openai_embeddings_save", project_id=theirs, path="s.md", data=DOCS)
        calls = len(standin.embedding_calls())
        err = await error_of(
            c, "openai_embeddings_search", scope=[f"projects/{mine}", f"projects/{theirs}"],
            text="cats", limit=5, id="x-1",
        )  # fmt: skip
        assert err["id"] == "x-1" and f"read access to project {theirs}" in err["error"]
        assert len(standin.embedding_calls()) == calls  # refused before any work
        err = await error_of(
            c, "openai_embeddings_save", project_id=theirs, path="s.md", data=DOCS[:1]
        )
        assert f"write access to project {theirs}" in err["error"]
        err = await error_of(
            c, "openai_embeddings_remove", project_id=theirs, path="s.md", data=[{"id": "cats"}]
        )
        assert f"write access to project {theirs}" in err["error"]
        for scope, text in [
            ("share", 'scope "share" not supported (use projects/<project_id>/…)'),
            ("projects/not-a-uuid", 'scope "projects/not-a-uuid": not a project id'),
            (f"projects/{theirs.upper()}", "not a project id"),
            ([], "scope must be a string or a list of 1 to 100 strings"),
            (f"projects/{theirs}/../{mine}", "not supported"),
        ]:
            err = await error_of(c, "openai_embeddings_search", scope=scope, limit=5)
            assert text in err["error"]
        # a filter cannot widen the scope: its conditions are ANDed under it
        err_free = await c.call(
            "openai_embeddings_search", scope=f"projects/{mine}", limit=5,
            filter={"should": [{"key": "url", "match": {"text": f"projects/{theirs}"}}]},
        )  # fmt: skip
        assert err_free["matches"] == []
        assert them["account_id"]
    finally:
        await close(c)
        await close(d)


async def test_embeddings_bad_input(connect, standin) -> None:
    c, _ = await account(connect, "embad@example.com")
    try:
        pid = await new_project(c)
        scope = f"projects/{pid}"
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("openai_embeddings_save", {"data": [{"id": "a"}]}, "data[0].text must be"),
            ("openai_embeddings_save", {"data": ["text"]}, "data[0] must be an object"),
            ("openai_embeddings_save", {"data": [{"text": "t"}] * 51}, "at most 50 items"),
            ("openai_embeddings_save", {"path": "", "data": DOCS}, "path must be"),
            ("openai_embeddings_remove", {"data": [{}]}, "data[0].id must be"),
            ("openai_embeddings_search", {"limit": 0}, "limit must be a positive number up to 200"),
            ("openai_embeddings_search", {"limit": 201}, "up to 200"),
            ("openai_embeddings_search", {"limit": 5, "offset": -1}, "offset must be"),
            ("openai_embeddings_search", {"limit": 5, "text": "x" * 4001}, "at most 4000"),
            ("openai_embeddings_search", {"limit": 5, "filter": {"nope": []}}, "unsupported field"),
            (
                "openai_embeddings_search",
                {"limit": 5, "filter": {"must": [{"key": "meta.a;DROP", "match": {"value": 1}}]}},
                "unsupported key",
            ),
            ("openai_embeddings_search", {"limit": 5, "selector": {"only": []}}, "selector must"),
        ]  # fmt: skip
        for event, fields, text in cases:
            if event == "openai_embeddings_search":
                fields = {"scope": scope, **fields}
            else:
                fields = {"project_id": pid, "path": "p.md", **fields}
            err = await error_of(c, event, **fields)
            assert text in err["error"], (event, fields, err)
        assert standin.embedding_calls() == []
        fifty = [{"id": str(i), "text": f"item {i}"} for i in range(50)]
        saved = await c.call("openai_embeddings_save", project_id=pid, path="p.md", data=fifty)
        assert len(saved["ids"]) == 50
        most = await c.call("openai_embeddings_search", scope=scope, text="item", limit=200)
        assert len(most["matches"]) == 50
        # the connection is still fine
        assert (await c.call("ping"))["event"] == "pong"
    finally:
        await close(c)


async def test_without_pgvector_the_embeddings_events_say_so(connect, standin, hub) -> None:
    c, _ = await account(connect, "nopgv@example.com")
    try:
        pid = await new_project(c)
        await hub.state.db.execute("DROP TABLE ai_embeddings")
        err = await error_of(
            c, "openai_embeddings_save", project_id=pid, path="a.md", data=DOCS, id="v-1"
        )
        assert err == {
            "event": "error",
            "id": "v-1",
            "error": "embeddings need the pgvector extension in PostgreSQL (see docs/ai.md)",
        }
        assert (await c.call("chatgpt", text="still here"))["text"] == "echo: still here"
    finally:
        await close(c)


async def test_the_key_is_never_logged(connect, standin, capsys) -> None:
    c, _ = await account(connect, "nolog@example.com")
    try:
        standin.fail_status = 401
        err = await error_of(c, "chatgpt", text="hi")
        assert err["error"] == "the AI endpoint answered HTTP 401: the stand-in was told to fail"
        standin.fail_status = None
        await c.call("chatgpt", text="hi")
    finally:
        await close(c)
    out, errs = capsys.readouterr()
    assert "ai chat" in out and KEY not in out and KEY not in errs
