"""Bytes to message structs and back: the only place the hub parses or writes JSON messages.

Two ways in:

* `decode_client_frame` — a WebSocket text frame. One decoder over the tagged union
  of every event is built at import time and tried first; only when it fails does
  the slow path run, to apply CoCalc's "null means absent" rule or to say exactly
  what is wrong. Unknown extra fields are ignored, as CoCalc's hub ignored them.
* `decode_api_params` — the parsed body of `POST /api/v1/<event>`. Strict: an
  unknown parameter is an error. Form bodies carry only strings, so their values
  are coerced to the field types first.

Every failure is a `DecodeError` carrying a client-facing `text`, the request's
`id` when it can be recovered (so the error reply still reaches the right
callback), the `event` when known, and a `kind`.

One way out: `encode` (and `encode_error`, the shortcut for error replies).
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal, TypeAlias

import msgspec
import msgspec.inspect as mi

from hub.protocol.messages import ALL_MESSAGES, BY_EVENT, Error, Message

__all__ = [
    "DecodeError",
    "DecodeKind",
    "decode_api_params",
    "decode_client_frame",
    "encode",
    "encode_error",
    "unknown_event_text",
]

DecodeKind = Literal["json", "no_event", "unknown_event", "invalid"]

NO_EVENT_TEXT: Final = "message must be a JSON object with an 'event' field"


def unknown_event_text(event: str) -> str:
    """CoCalc's words for an event it has no handler for."""
    return f"Hub does not know how to handle a '{event}' event."


class DecodeError(Exception):
    """A message that could not be turned into a struct.

    `kind` says why: `json` (not JSON at all), `no_event` (not an object with a
    string `event`), `unknown_event` (no such event), `invalid` (a field is
    missing, has the wrong type, or — on the HTTP API — is not a parameter).
    """

    def __init__(
        self,
        text: str,
        *,
        kind: DecodeKind,
        id: str | None = None,
        event: str | None = None,
    ) -> None:
        super().__init__(text)
        self.text = text
        self.kind: DecodeKind = kind
        self.id = id
        self.event = event

    def __repr__(self) -> str:
        return (
            f"DecodeError({self.text!r}, kind={self.kind!r}, id={self.id!r}, event={self.event!r})"
        )


# ----------------------------------------------------------------------------- decoding

_MESSAGE_UNION: Any = functools.reduce(operator.or_, ALL_MESSAGES)
_FRAME_DECODER: msgspec.json.Decoder[Message] = msgspec.json.Decoder(_MESSAGE_UNION)
_ANY_DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


def decode_client_frame(data: bytes | str) -> Message:
    """Decode one WebSocket text frame into its message struct, or raise DecodeError."""
    try:
        return _FRAME_DECODER.decode(data)
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        pass
    return _decode_slowly(data)


def _decode_slowly(data: bytes | str) -> Message:
    """The fast decode failed: retry with nulls dropped, or explain the failure."""
    try:
        obj = _ANY_DECODER.decode(data)
    except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
        raise DecodeError(_json_problem(exc), kind="json", id=_scan_for_id(data)) from None
    if not isinstance(obj, dict):
        raise DecodeError(NO_EVENT_TEXT, kind="no_event")
    id_ = _as_id(obj.get("id"))
    event = obj.get("event")
    if not isinstance(event, str):
        raise DecodeError(NO_EVENT_TEXT, kind="no_event", id=id_)
    cls = BY_EVENT.get(event)
    if cls is None:
        raise DecodeError(unknown_event_text(event), kind="unknown_event", id=id_, event=event)
    present = {key: value for key, value in obj.items() if value is not None}
    try:
        return msgspec.convert(present, cls)
    except (msgspec.ValidationError, RecursionError) as exc:
        raise DecodeError(_explain(exc), kind="invalid", id=id_, event=event) from None


def decode_api_params(event: str, params: Mapping[str, Any], *, from_form: bool) -> Message:
    """Build the message for `POST /api/v1/<event>` from its parsed body.

    `params` is a JSON object or the form fields (repeated `k[]=…` keys already a
    list under `k`). Parameters that are not fields of the event, and `event`
    itself, are refused; null values count as absent. With `from_form`, string
    values are coerced to the field types (`"true"` → True, `"3"` → 3, a JSON
    text for an object or list field, one string for a list field → `[it]`).
    Whether the event belongs to the HTTP API is the caller's business.
    """
    id_ = _as_id(params.get("id"))
    cls = BY_EVENT.get(event)
    if cls is None:
        raise DecodeError(unknown_event_text(event), kind="unknown_event", id=id_, event=event)
    coercers = _FORM_COERCERS[cls]
    obj: dict[str, Any] = {}
    for key, value in params.items():
        coerce = coercers.get(key)
        if coerce is None:
            raise DecodeError(f"unknown parameter '{key}'", kind="invalid", id=id_, event=event)
        if value is None:
            continue
        try:
            obj[key] = coerce(value) if from_form else value
        except ValueError as exc:
            raise DecodeError(f"{exc} at $.{key}", kind="invalid", id=id_, event=event) from None
    obj["event"] = event
    try:
        return msgspec.convert(obj, cls, strict=not from_form)
    except (msgspec.ValidationError, RecursionError) as exc:
        raise DecodeError(_explain(exc), kind="invalid", id=id_, event=event) from None


def _as_id(value: Any) -> str | None:
    """A request id as the reply must carry it: strings as they are, integers as text."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


# Best effort for frames that are not JSON: an `"id": "…"` or `"id": 123` near the start.
_ID_SCAN_LIMIT = 65536
_ID_PATTERN = re.compile(rb'"id"\s*:\s*(?:("(?:[^"\\\n]|\\.){0,200}")|(-?\d{1,30})\b)')


def _scan_for_id(data: bytes | str) -> str | None:
    if isinstance(data, str):
        data = data[:_ID_SCAN_LIMIT].encode("utf-8", "replace")
    match = _ID_PATTERN.search(data, 0, _ID_SCAN_LIMIT)
    if match is None:
        return None
    if match.group(2) is not None:
        return match.group(2).decode("ascii")
    try:
        return _as_id(_ANY_DECODER.decode(match.group(1)))
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return None


def _json_problem(exc: Exception) -> str:
    detail = str(exc)
    if isinstance(exc, UnicodeError):
        detail = "text is not valid UTF-8"
    elif isinstance(exc, RecursionError):
        detail = _TOO_DEEP
    detail = detail.removeprefix("JSON is malformed: ")
    return f"malformed JSON: {_lower_first(detail)}"


_TOO_DEEP = "nested too deeply"
_AT_PATH = re.compile(r" - at `(\$[^`]*)`$")
_MISSING = re.compile(r"Object missing required field `([^`]*)`")
_UNKNOWN = re.compile(r"Object contains unknown field `([^`]*)`")


def _explain(exc: msgspec.ValidationError | RecursionError) -> str:
    """Rewrite msgspec's wording into the hub's: `expected str, got int at $.email_address`."""
    if isinstance(exc, RecursionError):
        return _TOO_DEEP
    text = str(exc)
    where = ""
    if (at := _AT_PATH.search(text)) is not None:
        text, where = text[: at.start()], f" at {at.group(1)}"
    if (m := _MISSING.fullmatch(text)) is not None:
        return f"missing required field '{m.group(1)}'{where}"
    if (m := _UNKNOWN.fullmatch(text)) is not None:
        return f"unknown field '{m.group(1)}'{where}"
    return _lower_first(text.replace("`", "")) + where


def _lower_first(text: str) -> str:
    # "Invalid UUID" -> "invalid UUID"; leave acronyms and quoted words alone.
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


# ----------------------------------------------------------------------------- form coercion

Coercer = Callable[[Any], Any]


def _keep(value: Any) -> Any:
    return value


def _members(t: mi.Type) -> list[mi.Type]:
    # (msgspec.inspect already leaves UnsetType out of unions.)
    return list(t.types) if isinstance(t, mi.UnionType) else [t]


_SCALARS = (mi.StrType, mi.IntType, mi.FloatType, mi.BoolType, mi.UUIDType, mi.DateTimeType)


def _form_coercer(t: mi.Type) -> Coercer:
    """How to turn one form value (a string, or a list of them) into what field type `t` wants.

    msgspec's lax mode (`strict=False`) already turns strings into numbers,
    booleans, UUIDs and dates. What it cannot do is make a list or an object
    from one string, so that is done here: a JSON text is parsed when the field
    cannot hold a plain string, and a lone string for a list of scalars (and
    nothing else) becomes a one-item list.
    """
    members = _members(t)
    if any(isinstance(x, mi.AnyType | mi.StrType) for x in members):
        return _keep  # a string is already acceptable as it is
    lists = [x for x in members if isinstance(x, mi.ListType)]
    wants_list = bool(lists)
    wants_dict = any(isinstance(x, mi.DictType) for x in members)
    if not (wants_list or wants_dict):
        return _keep
    wrap = (
        len(members) == 1
        and wants_list
        and all(isinstance(x, _SCALARS) for x in _members(lists[0].item_type))
    )

    def coerce(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value.lstrip()[:1] in ("[", "{"):
            try:
                parsed = _ANY_DECODER.decode(value)
            except (msgspec.DecodeError, UnicodeError):
                parsed = None
            except RecursionError:
                raise ValueError("nested too deeply") from None
            if (isinstance(parsed, list) and wants_list) or (
                isinstance(parsed, dict) and wants_dict
            ):
                return parsed
        return [value] if wrap else value

    return coerce


def _coercers_for(cls: type[Message]) -> dict[str, Coercer]:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return {f.encode_name: _form_coercer(f.type) for f in info.fields}


_FORM_COERCERS: Final[dict[type[Message], dict[str, Coercer]]] = {
    cls: _coercers_for(cls) for cls in ALL_MESSAGES
}


# ----------------------------------------------------------------------------- encoding

_ENCODER: Final = msgspec.json.Encoder()


def encode(msg: Message) -> bytes:
    """The JSON bytes for `msg`: `event` first, unset fields left out, dates as ISO 8601 UTC."""
    return _ENCODER.encode(msg)


def encode_error(text: str, id: str | None) -> bytes:
    """`{"event":"error","id":…,"error":text}` (without `id` when it is None)."""
    if id is None:
        return _ENCODER.encode(Error(error=text))
    return _ENCODER.encode(Error(id=id, error=text))


# A reply is a typed message, or — for messages relayed from a project, which may be
# any event — the decoded JSON object itself, passed through without a schema.
Reply: TypeAlias = Message | dict[str, Any]


def encode_reply(reply: Reply) -> bytes:
    return _ENCODER.encode(reply)


def fill_reply_id(reply: Reply, request_id: str | None) -> None:
    """Give `reply` the request's id unless it already has one."""
    if request_id is None:
        return
    if isinstance(reply, dict):
        if not isinstance(reply.get("id"), str):
            reply["id"] = request_id
    elif "id" in reply.__struct_fields__ and not isinstance(getattr(reply, "id", None), str):
        reply.id = request_id  # type: ignore[attr-defined]
