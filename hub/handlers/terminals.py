"""terminals events. NOT BUILT YET."""

from __future__ import annotations

from hub.handlers.registry import Routes

routes = Routes()
