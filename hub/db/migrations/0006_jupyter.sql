-- 0006 jupyter: results of jupyter_execute, so an identical request is answered
-- without running a kernel. `hash` covers history, input, kernel, project_id and
-- path (hub/live/jupyter.py); rows go at `expire` (hub/db/expired.py).

CREATE TABLE jupyter_execute_cache (
    hash         text PRIMARY KEY,
    project_id   uuid,                       -- NULL: the shared pool
    account_id   uuid,                       -- who ran it first
    kernel       text NOT NULL,
    path         text,
    tag          text,
    output       jsonb NOT NULL,
    total_time_s double precision,
    time         timestamptz NOT NULL DEFAULT now(),
    expire       timestamptz NOT NULL
);
CREATE INDEX jupyter_execute_cache_expire_idx ON jupyter_execute_cache (expire);
