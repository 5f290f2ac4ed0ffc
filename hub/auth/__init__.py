"""Authentication: passwords, API keys, remember-me cookies, auth tokens, throttling.

- `passwords`: argon2id hashing; legacy CoCalc `sha512$…` hashes verify.
- `secrets`: random keys and tokens, and the SHA-256 under which they are stored.
- `throttle`: in-memory limits on failed sign-ins per email and per IP.
- `api_keys`: the cache of verified keys and `authenticate_api_key`.
- `remember_me`: cookie tokens for signing a WebSocket in at connect.
- `auth_tokens`: short-lived `user_auth` tokens for impersonation.
"""
