"""Random keys and tokens, their hashes and masks."""

from __future__ import annotations

import hashlib

from hub.auth import secrets


def test_api_key_shape() -> None:
    key = secrets.new_api_key()
    assert key.startswith("sk_")
    assert len(key) == 27
    assert all(c in secrets.BASE62 for c in key[3:])


def test_keys_are_random() -> None:
    keys = {secrets.new_api_key() for _ in range(1000)}
    assert len(keys) == 1000


def test_token_length_and_alphabet() -> None:
    for n in (1, 16, 24, 64):
        token = secrets.new_token(n)
        assert len(token) == n
        assert secrets.looks_like_token(token, n)
    assert not secrets.looks_like_token("a" * 23)
    assert not secrets.looks_like_token("a" * 23 + "-")
    assert not secrets.looks_like_token("a" * 23 + "é")


def test_all_base62_characters_appear() -> None:
    seen = set("".join(secrets.new_token(64) for _ in range(200)))
    assert seen == set(secrets.BASE62)


def test_hash_is_sha256_digest() -> None:
    key = "sk_abc"
    assert secrets.hash_secret(key) == hashlib.sha256(b"sk_abc").digest()
    assert len(secrets.hash_secret(key)) == 32
    assert secrets.hash_secret("sk_abd") != secrets.hash_secret(key)


def test_same_secret() -> None:
    assert secrets.same_secret("abc", "abc")
    assert secrets.same_secret(b"abc", "abc")
    assert not secrets.same_secret("abc", "abd")
    assert not secrets.same_secret("abc", "abcd")


def test_mask_shows_only_the_tail() -> None:
    key = "sk_ABCDEFGHIJKLMNOPQRstuvwx"
    assert secrets.mask(key) == "sk_…stuvwx"
    assert "ABCDEF" not in secrets.mask(key)


def test_odd_strings_do_not_crash() -> None:
    assert len(secrets.hash_secret("sk_\ud800")) == 32
    assert not secrets.same_secret("é", "e")
    assert secrets.same_secret("é\ud800", "é\ud800")
