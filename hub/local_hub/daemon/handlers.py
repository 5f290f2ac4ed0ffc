"""One small function per request: `async def handle(msg, conn) -> reply | None`.

A handler returns the reply (the connection adds the id), or sends its own
messages and returns None (streams), or raises `ProjectError` for an `error`
reply. `copy_import*` are not here: the connection runs them in frame order.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from hub.local_hub.daemon import messages as m
from hub.local_hub.daemon.errors import ProjectError
from hub.local_hub.daemon.execute import ExecOptions, Which

if TYPE_CHECKING:
    from hub.local_hub.daemon.connection import HubConnection

Reply = dict[str, Any] | None
Handler = Callable[[Any, "HubConnection"], Awaitable[Reply]]


async def ping(msg: m.Ping, conn: HubConnection) -> Reply:
    return {"event": "pong", "now": time.time()}


async def project_exec(msg: m.ProjectExec, conn: HubConnection) -> Reply:
    if msg.command == "smc-jupyter":
        raise ProjectError("do not run smc-jupyter directly")
    opts = ExecOptions.from_request(msg)
    executor = conn.project.executor
    if msg.stream:

        async def send(which: Which, text: str) -> None:
            await conn.reply(
                msg.id,
                {
                    "event": "project_exec_output",
                    "stdout": text if which == "stdout" else "",
                    "stderr": text if which == "stderr" else "",
                    "multi_response": True,
                },
            )

        code = await executor.stream(opts, send)
        return {"event": "project_exec_output", "stdout": "", "stderr": "", "exit_code": code}
    if msg.aggregate is not None:
        result = await conn.project.aggregator.run(opts, msg.aggregate, lambda: executor.run(opts))
    else:
        result = await executor.run(opts)
    return {
        "event": "project_exec_output",
        "stdout": result.stdout,
        "stderr": result.stderr,
        "exit_code": result.exit_code,
    }


async def read_text_file(msg: m.ReadTextFile, conn: HubConnection) -> Reply:
    content = await conn.project.files.read_text(msg.path)
    return {"event": "text_file_read_from_project", "content": content}


async def write_text_file(msg: m.WriteTextFile, conn: HubConnection) -> Reply:
    await conn.project.files.write_text(msg.path, msg.content)
    return {"event": "file_written_to_project"}


async def read_file(msg: m.ReadFile, conn: HubConnection) -> Reply:
    return await conn.project.archives.read_file(msg.path, msg.archive, conn.send_blob)


async def write_file(msg: m.WriteFile, conn: HubConnection) -> Reply:
    data = conn.take_blob(msg.data_uuid)
    await conn.project.files.write_bytes(msg.path, data)
    return {"event": "file_written_to_project"}


async def copy_export(msg: m.CopyExport, conn: HubConnection) -> Reply:
    return await conn.project.copies.export(msg.id, msg.path, msg.exclude or (), conn.send_blob)


async def named_server_port(msg: m.NamedServerPort, conn: HubConnection) -> Reply:
    port = await conn.project.named_servers.port(msg.name)
    return {"event": "named_server_port", "name": msg.name, "port": port}


async def execute_javascript(msg: m.ExecuteJavascript, conn: HubConnection) -> Reply:
    """A process in the project asks browsers to run code: every other hub passes it on."""
    message: dict[str, Any] = {"event": "execute_javascript", "code": msg.code}
    for key in ("obj", "session_uuid", "coffeescript", "cell_id"):
        value = getattr(msg, key)
        if value is not None:
            message[key] = value
    await conn.project.broadcast(message, skip=conn)
    return {"event": "success"}


HANDLERS: dict[type[m.Request], Handler] = {
    m.Ping: ping,
    m.ProjectExec: project_exec,
    m.ReadTextFile: read_text_file,
    m.WriteTextFile: write_text_file,
    m.ReadFile: read_file,
    m.WriteFile: write_file,
    m.CopyExport: copy_export,
    m.NamedServerPort: named_server_port,
    m.ExecuteJavascript: execute_javascript,
}
