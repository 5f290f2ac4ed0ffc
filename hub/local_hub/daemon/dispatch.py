"""Which request runs which handler: the daemon's whole catalogue in one table.

Each area keeps its requests and handlers in its own module (`handlers` for
exec and files, `worksheets`, `terminals`, `kernels`); this module joins them and
builds the one decoder the connection uses.
"""

from __future__ import annotations

from hub.local_hub.daemon import handlers, kernels, pdf, terminals, worksheets
from hub.local_hub.daemon import messages as m
from hub.local_hub.daemon.handlers import Handler

HANDLERS: dict[type[m.Request], Handler] = {
    **handlers.HANDLERS,
    **worksheets.HANDLERS,
    **terminals.HANDLERS,
    **kernels.HANDLERS,
    **pdf.HANDLERS,
}

# heartbeats and the copy_import pair are handled by the connection itself, in frame order
DECODER = m.RequestDecoder((m.Heartbeat, m.CopyImport, m.CopyImportEnd, *HANDLERS))
