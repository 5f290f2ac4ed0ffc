-- 0002 projects: who may use each project, where it runs, copies between
-- projects, and short-lived blobs (file downloads and uploads).

CREATE TABLE projects (
    project_id   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    title        text NOT NULL DEFAULT '',
    description  text NOT NULL DEFAULT '',
    -- {account_id: {"group": "owner"|"collaborator"|"viewer", "hide": bool, "upgrades": {...}}}
    users        jsonb NOT NULL DEFAULT '{}',
    created      timestamptz NOT NULL DEFAULT now(),
    last_edited  timestamptz NOT NULL DEFAULT now(),
    -- {account_id: timestamp} as CoCalc keeps it
    last_active  jsonb NOT NULL DEFAULT '{}',
    deleted      boolean NOT NULL DEFAULT false,
    -- {"state": "running"|"stopped"|..., "time": ..., "error": ...}
    state        jsonb NOT NULL DEFAULT '{"state": "stopped"}',
    host         text,
    port         integer,
    runner       jsonb,
    settings     jsonb
);
-- "projects of this account": users ? account_id
CREATE INDEX projects_users_idx ON projects USING gin (users);
CREATE INDEX projects_last_edited_idx ON projects (last_edited);

CREATE TABLE copy_paths (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    time              timestamptz NOT NULL DEFAULT now(),
    account_id        uuid,
    source_project_id uuid NOT NULL,
    source_path       text NOT NULL,
    target_project_id uuid NOT NULL,
    target_path       text NOT NULL,
    exclude           text[],
    overwrite_newer   boolean NOT NULL DEFAULT false,
    delete_missing    boolean NOT NULL DEFAULT false,
    backup            boolean NOT NULL DEFAULT false,
    timeout           double precision,
    scheduled         timestamptz,
    started           timestamptz,
    finished          timestamptz,
    error             text,
    -- the hub process that took the copy (so a crashed hub's copies can be retried)
    claimed_by        text,
    expire            timestamptz
);
CREATE INDEX copy_paths_source_idx ON copy_paths (source_project_id, time);
CREATE INDEX copy_paths_target_idx ON copy_paths (target_project_id, time);
CREATE INDEX copy_paths_due_idx ON copy_paths (scheduled) WHERE started IS NULL;

CREATE TABLE blobs (
    id          uuid PRIMARY KEY,
    project_id  uuid,
    account_id  uuid,
    data        bytea NOT NULL,
    size        bigint NOT NULL,
    name        text,
    created     timestamptz NOT NULL DEFAULT now(),
    expire      timestamptz NOT NULL
);
CREATE INDEX blobs_expire_idx ON blobs (expire);
