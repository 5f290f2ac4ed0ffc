"""The API reference: complete, derived from the structs, and JSON-able."""

from __future__ import annotations

import msgspec
import pytest

from hub.protocol import API_EVENTS, BY_EVENT
from hub.protocol.docs import (
    API_DESCRIPTIONS,
    FIELD_DESCRIPTIONS,
    SUMMARIES,
    api_reference,
    api_reference_markdown,
)


def test_every_event_has_a_one_line_summary() -> None:
    assert set(SUMMARIES) == set(BY_EVENT)
    for event, text in SUMMARIES.items():
        assert text.strip() and "\n" not in text, event


def test_descriptions_only_for_api_events_and_fields_that_exist() -> None:
    assert set(API_DESCRIPTIONS) == API_EVENTS
    for event, fields in FIELD_DESCRIPTIONS.items():
        names = {f.encode_name for f in msgspec.structs.fields(BY_EVENT[event])}
        assert set(fields) <= names, event


@pytest.mark.parametrize("event", sorted(API_EVENTS))
def test_every_api_event_and_field_is_described(event: str) -> None:
    doc = api_reference()["events"][event]
    assert doc["description"].strip()
    assert "curl" in doc["description"] and f"/api/v1/{event}" in doc["description"]
    assert "http://127.0.0.1:5000" in doc["description"]
    fields = msgspec.structs.fields(BY_EVENT[event])
    assert list(doc["fields"]) == [f.encode_name for f in fields]
    for name, entry in doc["fields"].items():
        assert entry["description"].strip(), f"{event}.{name}"
        assert "\n" not in entry["description"]


def test_required_and_defaults_come_from_the_structs() -> None:
    events = api_reference()["events"]
    exec_ = events["project_exec"]["fields"]
    assert exec_["project_id"]["required"] is True and "default" not in exec_["project_id"]
    assert exec_["id"] == {"description": exec_["id"]["description"], "required": False}
    assert exec_["args"]["default"] == []
    assert exec_["timeout"]["default"] == 10
    assert exec_["bash"]["default"] is False
    assert exec_["err_on_exit"]["default"] is True
    assert exec_["path"]["default"] == ""
    assert events["query"]["fields"]["multi_response"]["default"] is False
    assert events["copy_path_status"]["fields"]["limit"]["default"] == 1000
    for event, doc in events.items():
        for f in msgspec.structs.fields(BY_EVENT[event]):
            assert doc["fields"][f.encode_name]["required"] is f.required


def test_reference_is_json_and_has_an_intro() -> None:
    ref = api_reference()
    assert set(ref) == {"intro", "events"}
    assert set(ref["events"]) == API_EVENTS
    intro = ref["intro"]
    for needle in ("POST /api/v1/<event>", "Bearer", "400", "401", "404", "413", "429", "200"):
        assert needle in intro
    assert msgspec.json.decode(msgspec.json.encode(ref)) == ref


def test_no_key_placeholder_other_than_sk() -> None:
    for text in API_DESCRIPTIONS.values():
        assert "cocalc.com" not in text
        if "-u " in text:
            assert "-u sk_yourkey:" in text


def test_markdown() -> None:
    md = api_reference_markdown()
    assert md.startswith("# HTTP API reference\n")
    for event in API_EVENTS:
        assert f"\n## {event}\n" in md
        assert f"`POST /api/v1/{event}`" in md
    assert "| `project_id` | yes |  |" in md
    assert "| `timeout` | no | `10` |" in md
    assert "| `args` | no | `[]` |" in md
    # Table cells never break the table.
    for line in md.splitlines():
        if line.startswith("| `"):
            assert line.count(" | ") - line.count("\\|") == 3, line
