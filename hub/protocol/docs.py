"""The HTTP API reference, as data: prose written here, facts taken from the structs.

Each event has a one-line summary; each HTTP API event also has a longer
description with a `curl` example and a line for every field. Whether a field is
required and what its default is are never written by hand: they come from the
message `Struct`s, so the reference cannot disagree with what the hub accepts.

`api_reference()` is the JSON form (served by the hub and printed by
`hub api-docs --json`); `api_reference_markdown()` is the same as Markdown.
"""

from __future__ import annotations

from typing import Any

import msgspec

from hub.protocol.api import API_EVENTS
from hub.protocol.doc_events import API_DESCRIPTIONS, INTRO, SUMMARIES
from hub.protocol.doc_fields import COMMON_FIELDS, FIELD_DESCRIPTIONS
from hub.protocol.messages import ALL_MESSAGES, Message

__all__ = [
    "API_DESCRIPTIONS",
    "FIELD_DESCRIPTIONS",
    "INTRO",
    "SUMMARIES",
    "api_reference",
    "api_reference_markdown",
    "field_description",
]


def field_description(event: str, name: str) -> str:
    """The one-line description of field `name` of `event` ("" when there is none)."""
    own = FIELD_DESCRIPTIONS.get(event, {})
    return own.get(name) or COMMON_FIELDS.get(name, "")


# --------------------------------------------------------------------------- the reference


def _fields(cls: type[Message]) -> dict[str, dict[str, Any]]:
    event = str(cls.__struct_config__.tag)
    out: dict[str, dict[str, Any]] = {}
    for f in msgspec.structs.fields(cls):
        entry: dict[str, Any] = {
            "description": field_description(event, f.encode_name),
            "required": f.required,
        }
        if f.default_factory is not msgspec.NODEFAULT:
            entry["default"] = msgspec.to_builtins(f.default_factory())
        elif not f.required and f.default is not msgspec.UNSET:
            entry["default"] = msgspec.to_builtins(f.default)
        out[f.encode_name] = entry
    return out


def _api_classes() -> list[type[Message]]:
    return [cls for cls in ALL_MESSAGES if str(cls.__struct_config__.tag) in API_EVENTS]


def api_reference() -> dict[str, Any]:
    """The HTTP API reference as JSON-able data: an intro and every API event with its fields."""
    events: dict[str, Any] = {}
    for cls in _api_classes():
        event = str(cls.__struct_config__.tag)
        events[event] = {"description": API_DESCRIPTIONS[event], "fields": _fields(cls)}
    return {"intro": INTRO, "events": events}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def api_reference_markdown() -> str:
    """The HTTP API reference as one Markdown document, a section per event."""
    ref = api_reference()
    lines = ["# HTTP API reference", "", ref["intro"].rstrip(), "", "## Events", ""]
    lines += [f"- [`{e}`](#{e}) — {SUMMARIES.get(e, '')}" for e in ref["events"]]
    for event, doc in ref["events"].items():
        lines += ["", f"## {event}", "", f"`POST /api/v1/{event}`", "", doc["description"]]
        lines += ["", "| field | required | default | description |", "| --- | --- | --- | --- |"]
        for name, f in doc["fields"].items():
            default = ""
            if "default" in f:
                default = "`" + _cell(msgspec.json.encode(f["default"]).decode()) + "`"
            required = "yes" if f["required"] else "no"
            lines.append(f"| `{name}` | {required} | {default} | {_cell(f['description'])} |")
    return "\n".join(lines) + "\n"
