"""The one exception a daemon handler raises to answer `{"event":"error","id":…,"error":text}`."""

from __future__ import annotations


class ProjectError(Exception):
    """A request failed in a way the hub (and its client) should be told about, in `text`."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text
