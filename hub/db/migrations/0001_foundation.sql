-- 0001 foundation: accounts, their keys and tokens, and the hub's own logs.
-- Timestamps are timestamptz; ids come from gen_random_uuid() (built into PostgreSQL 13+).

CREATE TABLE accounts (
    account_id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email_address               text UNIQUE,          -- lower-cased by the hub
    email_address_before_delete text,
    password_hash               text,
    first_name                  text,
    last_name                   text,
    created                     timestamptz DEFAULT now(),
    created_by                  inet,
    last_active                 timestamptz,
    groups                      text[] NOT NULL DEFAULT '{}',
    deleted                     boolean NOT NULL DEFAULT false,
    banned                      boolean NOT NULL DEFAULT false,
    usage_intent                text,
    editor_settings             jsonb,
    other_settings              jsonb
);
-- One account per address whatever its case, even if a writer forgets to lower-case.
CREATE UNIQUE INDEX accounts_email_address_lower_idx
    ON accounts (lower(email_address)) WHERE email_address IS NOT NULL;
-- Per-IP signup limits count recent accounts created from one address.
CREATE INDEX accounts_created_by_created_idx ON accounts (created_by, created);

CREATE TABLE api_keys (
    id          bigserial PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES accounts ON DELETE CASCADE,
    project_id  uuid,
    name        text NOT NULL DEFAULT '',
    trunc       text NOT NULL,                       -- shown to the user, e.g. sk_abc…xyz
    hash        bytea NOT NULL UNIQUE,               -- only the hash of the key is stored
    legacy      boolean NOT NULL DEFAULT false,
    created     timestamptz DEFAULT now(),
    expire      timestamptz,
    last_active timestamptz
);
CREATE INDEX api_keys_account_id_idx ON api_keys (account_id);

CREATE TABLE remember_me (
    hash       bytea PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts ON DELETE CASCADE,
    created    timestamptz DEFAULT now(),
    expire     timestamptz NOT NULL,
    cookie_set boolean NOT NULL DEFAULT false
);
CREATE INDEX remember_me_account_id_idx ON remember_me (account_id);

CREATE TABLE auth_tokens (
    hash       bytea PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts ON DELETE CASCADE,
    created    timestamptz DEFAULT now(),
    expire     timestamptz NOT NULL
);
CREATE INDEX auth_tokens_account_id_idx ON auth_tokens (account_id);

CREATE TABLE client_error_log (
    id         text,
    event      text NOT NULL DEFAULT 'error',
    error      text,
    account_id uuid,
    time       timestamptz DEFAULT now()
);

CREATE TABLE webapp_errors (
    id            bigserial PRIMARY KEY,
    account_id    uuid,
    name          text,
    message       text,
    comment       text,
    stacktrace    text,
    file          text,
    path          text,
    line_number   int,
    column_number int,
    severity      text,
    browser       text,
    mobile        boolean,
    responsive    boolean,
    user_agent    text,
    smc_version   text,
    build_date    text,
    smc_git_rev   text,
    uptime        text,
    start_time    timestamptz,
    time          timestamptz DEFAULT now()
);

CREATE TABLE user_tracking (
    id         bigserial PRIMARY KEY,
    account_id uuid NOT NULL,
    time       timestamptz DEFAULT now(),
    event      text NOT NULL,
    value      jsonb
);

CREATE TABLE central_log (
    id    bigserial PRIMARY KEY,
    event text NOT NULL,
    value jsonb,
    time  timestamptz DEFAULT now()
);
