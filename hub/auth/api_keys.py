"""API keys: the in-memory cache of verified keys, and authentication by key.

A key is `sk_` and 24 random base62 characters; the database keeps only its
SHA-256 (`hub.auth.secrets.hash_secret`). Authenticating a key is one indexed
lookup by hash, then the answer is cached for `Settings.api_key_cache_s` so a
busy API client costs no query per request. Deleting or regenerating a key, or
deleting its account, invalidates the cache entry at once on this hub; another
hub forgets it within the cache lifetime, as in CoCalc.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

import structlog

from hub.auth.secrets import API_KEY_PREFIX, BASE62, hash_secret, mask, new_api_key
from hub.db import accounts
from hub.db import api_keys as table
from hub.db.database import Queryable
from hub.errors import AuthRequired, DatabaseDown, RateLimited
from hub.handlers.context import Identity

if TYPE_CHECKING:
    from hub.state import HubState

log = structlog.get_logger(__name__)

NO_ACCOUNT = "No account found. Is your API key wrong?"
BANNED = "User is BANNED.  If this is a mistake, please contact help@cocalc.com"
# last_active is written at most this often per key
TOUCH_INTERVAL_S = 60.0
# keys imported from CoCalc were sk_ + 16 or 24 characters; ours are sk_ + 24
_KEY_LENGTHS = range(len(API_KEY_PREFIX) + 16, len(API_KEY_PREFIX) + 65)
_BASE62_SET = frozenset(BASE62)


@dataclass(slots=True)
class CachedKey:
    """What a verified key stands for, as read from the database."""

    account_id: UUID
    groups: tuple[str, ...]
    project_id: UUID | None
    key_id: int
    expire: datetime | None  # the key's own expiry, enforced on every hit
    cached_at: float = 0.0
    last_active_written: float = float("-inf")

    def identity(self) -> Identity:
        # a fresh Identity per request: sessions may not share a mutable object
        return Identity(
            account_id=self.account_id,
            groups=self.groups,
            project_id=self.project_id,
            via="api_key",
        )


class ApiKeyCache:
    """Key hash → `CachedKey`, for `ttl_s` seconds, at most `max_entries` (LRU)."""

    def __init__(
        self,
        ttl_s: float,
        max_entries: int = 10_000,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[bytes, CachedKey] = OrderedDict()
        self._by_account: dict[UUID, set[bytes]] = {}

    def get(self, key_hash: bytes) -> CachedKey | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if self.clock() - entry.cached_at >= self.ttl_s:
            self.invalidate(key_hash)
            return None
        self._entries.move_to_end(key_hash)
        return entry

    def put(self, key_hash: bytes, entry: CachedKey) -> None:
        if self.ttl_s <= 0 or self.max_entries <= 0:
            return
        self.invalidate(key_hash)
        entry.cached_at = self.clock()
        self._entries[key_hash] = entry
        self._by_account.setdefault(entry.account_id, set()).add(key_hash)
        while len(self._entries) > self.max_entries:
            oldest = next(iter(self._entries))
            self.invalidate(oldest)

    def invalidate(self, key_hash: bytes) -> None:
        """Forget one key (it was deleted, regenerated or expired)."""
        entry = self._entries.pop(key_hash, None)
        if entry is None:
            return
        hashes = self._by_account.get(entry.account_id)
        if hashes is not None:
            hashes.discard(key_hash)
            if not hashes:
                del self._by_account[entry.account_id]

    def invalidate_account(self, account_id: UUID) -> None:
        """Forget every key of an account (it was deleted or banned)."""
        for key_hash in list(self._by_account.get(account_id, ())):
            self.invalidate(key_hash)

    def clear(self) -> None:
        self._entries.clear()
        self._by_account.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _well_formed(secret: str) -> bool:
    return (
        secret.startswith(API_KEY_PREFIX)
        and len(secret) in _KEY_LENGTHS
        and _BASE62_SET.issuperset(secret[len(API_KEY_PREFIX) :])
    )


async def authenticate_api_key(hub: HubState, secret: str) -> Identity:
    """Who `secret` acts as; `AuthRequired` for an unknown, expired, deleted or banned key.

    May raise `DatabaseDown` when the key is not cached and PostgreSQL is away.
    """
    if not _well_formed(secret):
        raise AuthRequired(NO_ACCOUNT)
    key_hash = hash_secret(secret)
    cache = hub.api_key_cache
    entry = cache.get(key_hash)
    if entry is None:
        found = await table.owner(hub.db, key_hash)
        if found is None or found.deleted:
            raise AuthRequired(NO_ACCOUNT)
        if found.banned:
            raise AuthRequired(BANNED)
        entry = CachedKey(
            account_id=found.account_id,
            groups=found.groups,
            project_id=found.project_id,
            key_id=found.key_id,
            expire=found.expire,
        )
        if not _expired(entry):
            cache.put(key_hash, entry)
    if _expired(entry):
        cache.invalidate(key_hash)
        raise AuthRequired(NO_ACCOUNT)
    await _touch(hub, entry)
    return entry.identity()


def _expired(entry: CachedKey) -> bool:
    return entry.expire is not None and entry.expire <= datetime.now(UTC)


async def _touch(hub: HubState, entry: CachedKey) -> None:
    now = time.monotonic()
    if now - entry.last_active_written < TOUCH_INTERVAL_S:
        return
    entry.last_active_written = now
    try:
        await table.touch(hub.db, entry.key_id, TOUCH_INTERVAL_S)
    except DatabaseDown:
        # a cached key still works while the database is away; last_active can wait
        log.debug("api key last_active not written: database down")


async def make_key(
    db: Queryable,
    account_id: UUID,
    *,
    name: str = "",
    expire: datetime | None = None,
    legacy: bool = False,
    project_id: UUID | None = None,
) -> tuple[str, table.ApiKeyRow]:
    """A new key for the account (acting only on `project_id` when given):
    (the secret, shown only now; the stored row)."""
    if await table.count(db, account_id) >= table.MAX_KEYS_PER_ACCOUNT:
        raise RateLimited(table.TOO_MANY_KEYS)
    secret = new_api_key()
    row = await table.insert(
        db,
        account_id=account_id,
        key_hash=hash_secret(secret),
        trunc=mask(secret),
        name=name,
        legacy=legacy,
        expire=expire,
        project_id=project_id,
    )
    return secret, row


async def regenerate_legacy(hub: HubState, account_id: UUID) -> str:
    """Replace the account's legacy key; the old one stops working at once on this hub."""
    async with hub.db.transaction() as conn:
        await accounts.lock(conn, account_id)  # two regenerates cannot leave two keys
        old = await table.delete_legacy(conn, account_id)
        secret, _ = await make_key(conn, account_id, name="legacy", legacy=True)
    for key_hash in old:
        hub.api_key_cache.invalidate(key_hash)
    return secret


async def delete_legacy(hub: HubState, account_id: UUID) -> None:
    for key_hash in await table.delete_legacy(hub.db, account_id):
        hub.api_key_cache.invalidate(key_hash)


async def delete_named(
    hub: HubState, account_id: UUID, key_id: int, project_id: UUID | None = None
) -> bool:
    """Delete one named key in scope (see `table.list_named`); False if there is none."""
    key_hash = await table.delete_named(hub.db, account_id, key_id, project_id)
    if key_hash is None:
        return False
    hub.api_key_cache.invalidate(key_hash)
    return True


async def edit_named(
    hub: HubState,
    account_id: UUID,
    key_id: int,
    *,
    name: str | None,
    expire: datetime | None,
    project_id: UUID | None = None,
) -> table.ApiKeyRow | None:
    """Rename a key or change its expiry; None if there is no such key in scope."""
    edited = await table.edit_named(
        hub.db, account_id, key_id, name=name, expire=expire, project_id=project_id
    )
    if edited is None:
        return None
    row, key_hash = edited
    hub.api_key_cache.invalidate(key_hash)  # the cached expiry may be stale
    return row
