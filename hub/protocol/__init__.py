"""The CoCalc message protocol as data: events, codec, HTTP API catalogue and docs. No I/O.

messages.py  every event as a msgspec Struct (`Message` subclasses, `BY_EVENT`)
api.py       which events `POST /api/v1/<event>` serves (`API_EVENTS`)
codec.py     bytes <-> structs (`decode_client_frame`, `decode_api_params`, `encode`)
docs.py      the API reference, generated from the structs plus prose
"""

from hub.protocol.api import API_EVENTS
from hub.protocol.codec import (
    DecodeError,
    Reply,
    decode_api_params,
    decode_client_frame,
    encode,
    encode_error,
    encode_reply,
    fill_reply_id,
)
from hub.protocol.messages import ALL_MESSAGES, BY_EVENT, Message, message_id

__all__ = [
    "ALL_MESSAGES",
    "API_EVENTS",
    "BY_EVENT",
    "DecodeError",
    "Message",
    "Reply",
    "decode_api_params",
    "decode_client_frame",
    "encode",
    "encode_error",
    "encode_reply",
    "fill_reply_id",
    "message_id",
]
