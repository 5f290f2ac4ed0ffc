"""The hub's shared state, made once by the app and handed to every handler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.config import Settings

if TYPE_CHECKING:
    from hub.auth.api_keys import ApiKeyCache
    from hub.auth.throttle import SignInThrottle
    from hub.db.database import Database
    from hub.live.services import LiveServices
    from hub.local_hub.pool import ProjectLinks
    from hub.local_hub.runner_protocol import ProjectRunner
    from hub.metrics import Metrics
    from hub.projects.access import AccessCache
    from hub.projects.copy import CopyWorker
    from hub.query.feeds import Feeds
    from hub.sessions.registry import SessionRegistry


@dataclass(slots=True)
class HubState:
    settings: Settings
    db: Database
    metrics: Metrics
    sign_in_throttle: SignInThrottle
    api_key_cache: ApiKeyCache
    # "host:port" as clients see it; sent in signed_in.hub
    address: str
    sessions: SessionRegistry
    runner: ProjectRunner
    projects: ProjectLinks
    copies: CopyWorker
    access_cache: AccessCache
    feeds: Feeds | None  # None where no change log runs (direct handler tests)
    # names this hub process in the database (e.g. which hub took a copy)
    hub_id: str
    live: LiveServices
