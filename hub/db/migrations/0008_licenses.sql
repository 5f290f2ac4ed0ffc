-- 0008 licenses: upgrades an account holds (granted by an admin, the shell, or
-- self-service), and blobs addressed by their content's SHA-1.

CREATE TABLE licenses (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id  uuid NOT NULL REFERENCES accounts ON DELETE CASCADE,
    -- upgrades one unit grants, in upgrade-spec units: {"memory": 1000, "mintime": 3600, ...}
    quota       jsonb NOT NULL,
    quantity    integer NOT NULL CHECK (quantity >= 1),
    start       timestamptz NOT NULL DEFAULT now(),
    -- NULL: never ends. Not called "expire": the hourly clean-up deletes rows by that
    -- column, and an ended license is history, not garbage.
    expires     timestamptz,
    created     timestamptz NOT NULL DEFAULT now(),
    -- who granted it: an admin's account_id, or NULL for self-service and the shell
    granted_by  uuid,
    -- how it came to be: {"via": "purchase_license"|"shell", "info": {...}}
    source      jsonb NOT NULL DEFAULT '{}',
    CHECK (expires IS NULL OR expires > start)
);
CREATE INDEX licenses_account_idx ON licenses (account_id);

-- save_blob: a blob named by its content. id = uuidsha1(data) (CoCalc's uuid made from
-- the SHA-1 hex), so the same bytes are stored once; sha1 is the full hex digest.
-- Kept forever: expire = 'infinity' (never <= now(), so the clean-up leaves it).
ALTER TABLE blobs ADD COLUMN sha1 text;
CREATE UNIQUE INDEX blobs_sha1_idx ON blobs (sha1) WHERE sha1 IS NOT NULL;
