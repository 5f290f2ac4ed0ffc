"""Both ends of the project link.

`framing` (sans-I/O bytes), `link` (one framed connection over asyncio streams,
used by the hub's pool and by the daemon), and `daemon` (the local hub that serves
one project: `python -m hub.local_hub --home DIR`). The contract is
`docs/local-hub-link.md`. Importing this package imports nothing else, so the
daemon starts fast.
"""
