"""Random API keys and tokens, and the hash under which they are stored.

Only hashes of keys and tokens reach the database. The hash is a single SHA-256,
not argon2: these secrets are 24 random base62 characters (about 143 bits), so
no dictionary or brute-force search can invert a fast hash of them, and a slow
hash would cost tens of milliseconds of CPU on every API request — a
denial-of-service lever for anyone holding a bad key. Slow hashing is for
passwords, which people choose (`hub.auth.passwords`).

Lookups go by hash through a unique index, so no secret is ever compared in
Python; where one is (`same_secret`), the comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

BASE62 = string.digits + string.ascii_lowercase + string.ascii_uppercase
API_KEY_PREFIX = "sk_"
API_KEY_RANDOM_CHARS = 24
MASK_TAIL = 6
_BASE62_SET = frozenset(BASE62)


def new_token(n: int = 24) -> str:
    """`n` random base62 characters from the OS's CSPRNG."""
    return "".join(secrets.choice(BASE62) for _ in range(n))


def new_api_key() -> str:
    """A fresh API key: `sk_` and 24 random base62 characters."""
    return API_KEY_PREFIX + new_token(API_KEY_RANDOM_CHARS)


def hash_secret(secret: str) -> bytes:
    """The 32-byte SHA-256 digest under which a key or token is stored."""
    return hashlib.sha256(_utf8(secret)).digest()


def same_secret(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time equality for secrets or their hashes."""
    a_bytes = _utf8(a) if isinstance(a, str) else a
    b_bytes = _utf8(b) if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)


def mask(secret: str) -> str:
    """What a key may be shown as after it was made: `sk_…` and its last 6 characters."""
    return API_KEY_PREFIX + "…" + secret[-MASK_TAIL:]


def looks_like_token(text: str, length: int = 24) -> bool:
    """Whether `text` could be a token from `new_token(length)` (cheap pre-check)."""
    return len(text) == length and _BASE62_SET.issuperset(text)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # never raises on odd input
