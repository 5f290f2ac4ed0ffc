"""Rewriting a relayed message's id without decoding it."""

from __future__ import annotations

import msgspec

from hub.local_hub.pool import Relayed


def test_only_the_id_key_is_rewritten() -> None:
    call_id = "fccc1845-e337-4b93-89ee-000000000005"
    sneaky = f'text with "id":"{call_id}" inside'
    payload = msgspec.json.encode(
        {"event": "project_exec_output", "stdout": sneaky, "id": call_id, "multi_response": True}
    )
    rewritten = Relayed(payload, None, True).with_id(call_id, 'client "id" \u2028 1')
    assert rewritten is not None
    decoded = msgspec.json.decode(rewritten)
    assert decoded["id"] == 'client "id" \u2028 1'
    assert decoded["stdout"] == sneaky


def test_unusual_spacing_falls_back_to_decoding() -> None:
    payload = b'{"event": "x", "id": "abc", "multi_response": true}'
    item = Relayed(payload, None, True)
    assert item.with_id("abc", "new") is None
    assert item.message()["id"] == "abc"
