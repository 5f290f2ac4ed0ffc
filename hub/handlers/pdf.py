"""print_to_pdf: the project turns one of its files into a PDF (see local_hub/daemon/pdf.py).

The caller needs write access, since the PDF is written into the project. The
hub passes its time limit (`print_to_pdf_timeout_s`) to the project, which
enforces it on the converter; the hub waits a little longer for the reply.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hub.errors import BadRequest, HubError
from hub.handlers.context import Context
from hub.handlers.registry import Routes
from hub.handlers.relay import call_project
from hub.projects.access import require
from hub.protocol.messages import PrintedToPdf, PrintToPdf

routes = Routes()

REPLY_MARGIN_S = 10.0  # the project's own timeout error should arrive before ours
MAX_PATH_CHARS = 4096


@routes.handler(PrintToPdf)
async def print_to_pdf(msg: PrintToPdf, ctx: Context) -> PrintedToPdf:
    if not isinstance(msg.project_id, UUID):
        raise BadRequest("print_to_pdf: project_id must be given")
    if not msg.path or len(msg.path) > MAX_PATH_CHARS:
        raise BadRequest("print_to_pdf: path must be given")
    await require(ctx, msg.project_id, "write")
    ctx.hub.live.audience.join(msg.project_id, ctx.session)
    limit_s = ctx.hub.settings.print_to_pdf_timeout_s
    request: dict[str, Any] = {"event": "print_to_pdf", "path": msg.path, "timeout": limit_s}
    if isinstance(msg.options, dict):
        request["options"] = msg.options
    reply = await call_project(ctx, msg.project_id, request, limit_s + REPLY_MARGIN_S)
    path = reply.get("path")
    if not isinstance(path, str):
        raise HubError(f"project {msg.project_id} did not say where the PDF is")
    return PrintedToPdf(id=msg.id, path=path)
