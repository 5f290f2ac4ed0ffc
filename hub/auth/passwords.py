"""Password hashing: argon2id for new hashes; legacy CoCalc hashes still verify.

A stored hash is one of

- an argon2id PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), made by
  `hash_password` with the cost from `Settings`;
- a legacy CoCalc hash `sha512$<salt>$<iterations>$<hex>` (the npm
  `password-hash` format): starting from the password, `iterations` times
  `h = HMAC-SHA512(key=salt, msg=h).hexdigest()`. These verify, and
  `needs_rehash` says yes, so a CoCalc account table can be imported and each
  account moves to argon2id at its next sign-in.

Argon2 takes tens of milliseconds of CPU on purpose. The `*_async` functions run
it in a worker thread; async code must use them so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from hub.config import Settings

LEGACY_ALGORITHMS = {"sha512": hashlib.sha512}
# The format carries its own iteration count; refuse absurd ones so that a
# crafted row cannot make one verification take minutes.
LEGACY_MAX_ITERATIONS = 10_000


# One lane: the defaults (t=2, m=19 MiB, p=1) are OWASP's argon2id recommendation, and a
# hub serves many sign-ins at once, so parallelism comes from concurrent requests.
PARALLELISM = 1


@functools.lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_kib, parallelism=PARALLELISM, type=Type.ID
    )


def hasher(settings: Settings) -> PasswordHasher:
    """The argon2id hasher for these settings (made once per cost)."""
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_kib)


def hash_password(password: str, settings: Settings) -> str:
    """A new argon2id hash of `password` (CPU-heavy: see `hash_password_async`)."""
    return hasher(settings).hash(_utf8(password))


def verify_password(password: str, stored: str | None, settings: Settings) -> bool:
    """Whether `password` matches the stored hash; False for a missing or unreadable hash."""
    if not stored:
        return False
    stored = stored.strip()  # a CoCalc CHAR(173) column may come space-padded
    if stored.startswith("$argon2"):
        try:
            return bool(hasher(settings).verify(stored, _utf8(password)))
        except (VerificationError, InvalidHashError):
            return False
    return _verify_legacy(password, stored)


def needs_rehash(stored: str, settings: Settings) -> bool:
    """True for legacy hashes and for argon2 hashes made with other cost settings."""
    stored = stored.strip()
    if not stored.startswith("$argon2id$"):
        return True
    try:
        return bool(hasher(settings).check_needs_rehash(stored))
    except InvalidHashError:
        return True


async def hash_password_async(password: str, settings: Settings) -> str:
    return await asyncio.to_thread(hash_password, password, settings)


async def verify_password_async(password: str, stored: str | None, settings: Settings) -> bool:
    return await asyncio.to_thread(verify_password, password, stored, settings)


def legacy_hash(password: str, salt: str, iterations: int = 1000, algorithm: str = "sha512") -> str:
    """A hash in CoCalc's legacy format (for importing and testing; never for new accounts)."""
    digest = _legacy_digest(password, salt, iterations, algorithm)
    return f"{algorithm}${salt}${iterations}${digest}"


def _legacy_digest(password: str, salt: str, iterations: int, algorithm: str) -> str:
    h = _utf8(password)
    key = _utf8(salt)
    digestmod = LEGACY_ALGORITHMS[algorithm]
    for _ in range(iterations):
        h = hmac.new(key, h, digestmod).hexdigest().encode()
    return h.decode()


def _utf8(text: str) -> bytes:
    # "surrogatepass": a string with a lone surrogate (which strict UTF-8 refuses) is
    # still hashed instead of raising; it can only ever match itself
    return text.encode("utf-8", "surrogatepass")


def _verify_legacy(password: str, stored: str) -> bool:
    parts = stored.split("$")
    if len(parts) != 4:
        return False
    algorithm, salt, iterations_text, expected = parts
    if algorithm not in LEGACY_ALGORITHMS or not iterations_text.isdigit():
        return False
    iterations = int(iterations_text)
    if not 1 <= iterations <= LEGACY_MAX_ITERATIONS:
        return False
    actual = _legacy_digest(password, salt, iterations, algorithm)
    return hmac.compare_digest(_utf8(actual), _utf8(expected.lower()))
