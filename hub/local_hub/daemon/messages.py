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


class ExecuteJavascript(Request, tag="execute_javascript"):
    """Sent by a process in the project (it has the token); passed on to every other hub."""

    code: str
    obj: Any = None
    session_uuid: str | None = None
    coffeescript: bool | None = None
    cell_id: str | None = None


BASE_REQUESTS: tuple[type[Request], ...] = (
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
    ExecuteJavascript,
)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A frame that is not a request this daemon runs: answer `text`, or nothing when None."""

    id: Id
    event: str | None
    text: str | None


_ANY: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


class RequestDecoder:
    """Decodes a frame into one of `requests` (a struct per event), or says what to answer."""

    def __init__(self, requests: tuple[type[Request], ...]) -> None:
        self._by_event: dict[str, type[Request]] = {
            str(cls.__struct_config__.tag): cls for cls in requests
        }
        union: Any = requests[0]
        for cls in requests[1:]:
            union = union | cls
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(union)

    def decode(self, payload: bytes, *, home: str) -> Request | Rejected:
        try:
            msg: Request = self._decoder.decode(payload)
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
        cls = self._by_event.get(event)
        if cls is not None:
            try:
                return msgspec.convert({k: v for k, v in obj.items() if v is not None}, cls)
            except msgspec.ValidationError as exc:
                return Rejected(id_, event, f"invalid '{event}' message: {exc}")
        project = obj.get("project_id")
        who = project if isinstance(project, str) and project else home
        return Rejected(
            id_, event, f"Project {who} does not implement handling mesg with event='{event}'"
        )
