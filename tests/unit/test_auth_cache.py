"""The API key cache: lifetime, bound, invalidation by key and by account."""

from __future__ import annotations

from uuid import UUID, uuid4

from hub.auth.api_keys import ApiKeyCache, CachedKey


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def entry(account_id: UUID | None = None, key_id: int = 1) -> CachedKey:
    return CachedKey(
        account_id=account_id or uuid4(),
        groups=("admin",),
        project_id=None,
        key_id=key_id,
        expire=None,
    )


def test_hit_until_ttl() -> None:
    clock = Clock()
    cache = ApiKeyCache(60.0, clock=clock)
    e = entry()
    cache.put(b"h", e)
    clock.now = 59.9
    assert cache.get(b"h") is e
    clock.now = 60.0
    assert cache.get(b"h") is None
    assert len(cache) == 0


def test_identity_is_fresh_each_time() -> None:
    e = entry()
    a, b = e.identity(), e.identity()
    assert a == b and a is not b
    assert a.via == "api_key" and a.groups == ("admin",) and a.is_admin


def test_bounded_lru() -> None:
    cache = ApiKeyCache(60.0, max_entries=3, clock=Clock())
    for i in range(3):
        cache.put(bytes([i]), entry(key_id=i))
    assert cache.get(bytes([0])) is not None  # 0 is now the most recently used
    cache.put(b"\x09", entry(key_id=9))
    assert len(cache) == 3
    assert cache.get(bytes([1])) is None  # the least recently used went
    assert cache.get(bytes([0])) is not None


def test_invalidate_key_and_account() -> None:
    cache = ApiKeyCache(60.0, clock=Clock())
    alice, bob = uuid4(), uuid4()
    cache.put(b"a1", entry(alice, 1))
    cache.put(b"a2", entry(alice, 2))
    cache.put(b"b1", entry(bob, 3))
    cache.invalidate(b"a1")
    assert cache.get(b"a1") is None and cache.get(b"a2") is not None
    cache.invalidate_account(alice)
    assert cache.get(b"a2") is None
    assert cache.get(b"b1") is not None
    cache.invalidate(b"missing")
    cache.invalidate_account(uuid4())
    assert len(cache) == 1
    assert cache._by_account == {bob: {b"b1"}}


def test_replacing_an_entry_moves_its_account() -> None:
    cache = ApiKeyCache(60.0, clock=Clock())
    alice, bob = uuid4(), uuid4()
    cache.put(b"k", entry(alice))
    cache.put(b"k", entry(bob))
    cache.invalidate_account(alice)
    assert cache.get(b"k") is not None
    assert alice not in cache._by_account


def test_zero_ttl_or_size_caches_nothing() -> None:
    for cache in (ApiKeyCache(0.0), ApiKeyCache(60.0, max_entries=0)):
        cache.put(b"k", entry())
        assert cache.get(b"k") is None
