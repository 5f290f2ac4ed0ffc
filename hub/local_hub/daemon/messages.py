"""The requests a local hub understands, as msgspec structs, decoded once per frame.

Fields the hub may leave out or send as `null` are `… | None = None`; handlers
apply CoCalc's defaults. Unknown fields (`project_id`, `client_id`, …) are
ignored. `decode` returns a struct, or a `Rejected` saying what to answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

Id = str | int | None


class Request(msgspec.Struct, tag_field="event", kw_only=True):
    id: Id = None
    project_id: Any = None


class Heartbeat(Request, tag="heartbeat"):
    pass


class Ping(Request, tag="ping"):
    pass


class ProjectExec(Request, tag="project_exec"):
    command: str
    args: list[str | int | float | bool] | None = None
    path: str | None = None
    timeout: float | None = None
    max_output: int | None = None
    bash: bool | None = None
    err_on_exit: bool | None = None
    aggregate: Any = None
    stream: bool | None = None


class ReadTextFile(Request, tag="read_text_file_from_project"):
    path: str


class WriteTextFile(Request, tag="write_text_file_to_project"):
    path: str
    content: str


class ReadFile(Request, tag="read_file_from_project"):
    path: str
    archive: str | None = None


class WriteFile(Request, tag="write_file_to_project"):
    path: str
    data_uuid: str


class CopyExport(Request, tag="copy_export"):
    path: str
    exclude: list[str] | None = None


class CopyImport(Request, tag="copy_import"):
    path: str
    is_dir: bool | None = None
    overwrite_newer: bool | None = None
    delete_missing: bool | None = None
    backup: bool | None = None
    exclude: list[str] | None = None


class CopyImportEnd(Request, tag="copy_import_end"):
    is_dir: bool | None = None
    abort: bool | None = None


class NamedServerPort(Request, tag="named_server_port"):
    name: str


ALL_REQUESTS: tuple[type[Request], ...] = (
    Heartbeat,
    Ping,
    ProjectExec,
    ReadTextFile,
    WriteTextFile,
    ReadFile,
    WriteFile,
    CopyExport,
    CopyImport,
    CopyImportEnd,
    NamedServerPort,
)
_KNOWN = {cls.__struct_config__.tag for cls in ALL_REQUESTS}
_DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder(
    Heartbeat
    | Ping
    | ProjectExec
    | ReadTextFile
    | WriteTextFile
    | ReadFile
    | WriteFile
    | CopyExport
    | CopyImport
    | CopyImportEnd
    | NamedServerPort
)
_ANY: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


@dataclass(frozen=True, slots=True)
class Rejected:
    """A frame that is not a request this daemon runs: answer `text`, or nothing when None."""

    id: Id
    event: str | None
    text: str | None


def decode(payload: bytes, *, home: str) -> Request | Rejected:
    try:
        msg: Request = _DECODER.decode(payload)
        return msg
    except msgspec.DecodeError:
        pass
    try:
        obj = _ANY.decode(payload)
    except (msgspec.DecodeError, RecursionError):
        return Rejected(None, None, "invalid JSON message")
    if not isinstance(obj, dict):
        return Rejected(None, None, "message must be a JSON object with an 'event' field")
    raw_id = obj.get("id")
    id_: Id = raw_id if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
    event = obj.get("event")
    if not isinstance(event, str):
        return Rejected(id_, None, "message must be a JSON object with an 'event' field")
    if event == "error":
        return Rejected(id_, event, None)  # never answer an error with an error
    if event in _KNOWN:
        try:
            msg = msgspec.convert(
                {k: v for k, v in obj.items() if v is not None}, _DECODER_TYPE_FOR[event]
            )
            return msg
        except msgspec.ValidationError as exc:
            return Rejected(id_, event, f"invalid '{event}' message: {exc}")
    project = obj.get("project_id")
    who = project if isinstance(project, str) and project else home
    return Rejected(
        id_, event, f"Project {who} does not implement handling mesg with event='{event}'"
    )


_DECODER_TYPE_FOR: dict[str, type[Request]] = {
    str(cls.__struct_config__.tag): cls for cls in ALL_REQUESTS
}
