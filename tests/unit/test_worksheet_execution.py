"""The daemon's per-cell bookkeeping: the ack window, acks by count, the output cap, detaching."""

from __future__ import annotations

import asyncio
from typing import Any

from hub.local_hub.worksheet.supervisor import Execution


def execution(window: int, max_bytes: int = 1_000_000) -> tuple[Execution, list[Any]]:
    sent: list[Any] = []

    async def reply(output: dict[str, Any]) -> None:
        sent.append(output)

    async def send_blob(uuid: str, data: bytes) -> None:
        sent.append((uuid, data))

    return Execution(reply, send_blob, window, max_bytes), sent


async def emit_all(ex: Execution, outputs: list[dict[str, Any]]) -> asyncio.Task[None]:
    async def go() -> None:
        for output in outputs:
            await ex.emit(output)

    task = asyncio.ensure_future(go())
    for _ in range(20):
        await asyncio.sleep(0)
    return task


async def test_window_stops_at_n_and_an_ack_without_count_frees_it_all() -> None:
    ex, sent = execution(window=3)
    task = await emit_all(ex, [{"stdout": str(i)} for i in range(7)])
    assert len(sent) == 3 and not task.done()
    ex.ack()
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(sent) == 6 and not task.done()
    ex.ack()
    await task
    assert [o["stdout"] for o in sent] == [str(i) for i in range(7)]


async def test_ack_with_a_count_frees_that_many() -> None:
    ex, sent = execution(window=3)
    task = await emit_all(ex, [{"stdout": str(i)} for i in range(5)])
    assert len(sent) == 3
    ex.ack(1)
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(sent) == 4
    ex.ack(10)  # more than was sent: never below zero
    await task
    assert ex.unacked == 1


async def test_release_and_detach_end_the_wait() -> None:
    ex, sent = execution(window=1)
    task = await emit_all(ex, [{"stdout": "a"}, {"stdout": "b"}, {"stdout": "c"}])
    assert len(sent) == 1
    ex.release()  # an interrupt: the rest of the cell is not held back
    await task
    assert len(sent) == 3
    ex2, sent2 = execution(window=1)
    task = await emit_all(ex2, [{"stdout": "a"}, {"stdout": "b"}])
    ex2.detach()
    await task
    assert len(sent2) == 1


async def test_output_cap_at_its_edge_then_the_cell_is_held() -> None:
    ex, sent = execution(window=100, max_bytes=10)
    await ex.emit({"stdout": "x" * 10})
    assert sent == [{"stdout": "x" * 10}]
    task = await emit_all(ex, [{"stdout": "y"}, {"stdout": "z"}])
    assert len(sent) == 2 and "stopped at 10 bytes" in sent[1]["stderr"]
    assert not task.done()  # held: the reader would stop here
    ex.release()
    await task
    assert len(sent) == 2


async def test_a_detached_cell_drops_output_up_to_the_cap_then_is_held() -> None:
    ex, sent = execution(window=1, max_bytes=10)
    ex.detach()
    await ex.emit({"stdout": "x" * 10})
    task = await emit_all(ex, [{"stdout": "y"}])
    assert sent == [] and not task.done()
    ex.release()
    await task


async def test_a_blob_goes_before_its_part_and_counts_toward_the_cap() -> None:
    ex, sent = execution(window=100, max_bytes=10)
    await ex.emit({"file": {"uuid": "u"}}, blob=("u", b"12345"))
    assert sent == [("u", b"12345"), {"file": {"uuid": "u"}}]
    ex.release()  # not held after the cap, so the call returns
    await ex.emit({"file": {"uuid": "v"}}, blob=("v", b"123456"))
    assert len(sent) == 3 and "stderr" in sent[2]  # the notice; the blob was not sent
