"""Password hashing: argon2id, and CoCalc's legacy sha512 format."""

from __future__ import annotations

import asyncio
import hashlib
import threading

import pytest

from hub.auth import passwords
from hub.config import Settings

FAST = Settings.load(environ={}, argon2_time_cost=1, argon2_memory_kib=8)


def hmac_sha512_hex(key: bytes, msg: bytes) -> str:
    """HMAC-SHA512 written out from RFC 2104, independent of the hmac module."""
    block = 128
    if len(key) > block:
        key = hashlib.sha512(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha512(bytes(b ^ 0x36 for b in key) + msg).digest()
    return hashlib.sha512(bytes(b ^ 0x5C for b in key) + inner).hexdigest()


def cocalc_hash(password: str, salt: str) -> str:
    h = password
    for _ in range(1000):
        h = hmac_sha512_hex(salt.encode(), h.encode())
    return f"sha512${salt}$1000${h}"


def test_argon2id_round_trip() -> None:
    stored = passwords.hash_password("correct horse", FAST)
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert passwords.verify_password("correct horse", stored, FAST)
    assert not passwords.verify_password("correct horsE", stored, FAST)
    assert not passwords.verify_password("", stored, FAST)


def test_hashes_are_salted() -> None:
    assert passwords.hash_password("same", FAST) != passwords.hash_password("same", FAST)


def test_unicode_password() -> None:
    stored = passwords.hash_password("pässwörd-🔑", FAST)
    assert passwords.verify_password("pässwörd-🔑", stored, FAST)
    assert not passwords.verify_password("passwörd-🔑", stored, FAST)


def test_legacy_hash_verifies_and_needs_rehash() -> None:
    salt = "0123456789abcdef0123456789abcdef"
    stored = cocalc_hash("blah", salt)
    assert len(stored) == 173  # CoCalc's CHAR(173)
    assert passwords.legacy_hash("blah", salt) == stored
    assert passwords.verify_password("blah", stored, FAST)
    assert passwords.verify_password("blah", stored + "  ", FAST)  # CHAR padding
    assert not passwords.verify_password("blah2", stored, FAST)
    assert passwords.needs_rehash(stored, FAST)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "sha512$salt$1000",
        "md5$salt$1000$abc",
        "sha512$salt$x$abc",
        "sha512$salt$0$abc",
        "sha512$salt$100000000$abc",
        "$argon2id$garbage",
        "plaintext",
    ],
)
def test_unreadable_hashes_never_verify(stored: str) -> None:
    assert not passwords.verify_password("abc", stored, FAST)


def test_missing_hash_never_verifies() -> None:
    assert not passwords.verify_password("abc", None, FAST)


def test_needs_rehash_on_cost_change() -> None:
    stored = passwords.hash_password("pw123456", FAST)
    assert not passwords.needs_rehash(stored, FAST)
    stronger = Settings.load(environ={}, argon2_time_cost=2, argon2_memory_kib=16)
    assert passwords.needs_rehash(stored, stronger)
    # an old-cost hash still verifies under new settings
    assert passwords.verify_password("pw123456", stored, stronger)


async def test_async_variants_run_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    original_hash = passwords.hash_password
    original_verify = passwords.verify_password

    def spy_hash(password: str, settings: Settings) -> str:
        seen.append(threading.get_ident())
        return original_hash(password, settings)

    def spy_verify(password: str, stored: str | None, settings: Settings) -> bool:
        seen.append(threading.get_ident())
        return original_verify(password, stored, settings)

    monkeypatch.setattr(passwords, "hash_password", spy_hash)
    monkeypatch.setattr(passwords, "verify_password", spy_verify)
    stored = await passwords.hash_password_async("abcdef", FAST)
    results = await asyncio.gather(
        passwords.verify_password_async("abcdef", stored, FAST),
        passwords.verify_password_async("abcdeg", stored, FAST),
    )
    assert list(results) == [True, False]
    assert len(seen) == 3 and loop_thread not in seen


def test_lone_surrogates_do_not_crash() -> None:
    odd = "pw\ud800pw"
    stored = passwords.hash_password(odd, FAST)
    assert passwords.verify_password(odd, stored, FAST)
    assert not passwords.verify_password("pwpw", stored, FAST)
    assert not passwords.verify_password(odd, passwords.legacy_hash("x", "salt"), FAST)
