"""Logging: structlog configured once; secrets scrubbed in one helper."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = frozenset(
    {"password", "api_key", "secret", "token", "auth_token", "value", "cookie", "authorization"}
)
_SECRET_PATTERN = re.compile(r"sk_[0-9A-Za-z]{6,}")


def scrub(value: Any) -> Any:
    """Mask anything that looks like a secret: API keys in text, secret-named fields."""
    if isinstance(value, str):
        return _SECRET_PATTERN.sub("sk_***", value)
    if isinstance(value, dict):
        return {
            k: ("***" if str(k).lower() in _SECRET_KEYS and v else scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def _scrub_processor(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> Mapping[str, Any]:
    return {k: ("***" if k.lower() in _SECRET_KEYS and v else scrub(v)) for k, v in event.items()}


def configure(level: str = "info", fmt: str = "json") -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _scrub_processor,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
