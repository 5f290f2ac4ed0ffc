-- 0003 query tables: what the user-query engine (hub/query/) reads and writes
-- beyond accounts and projects, and the JSONB deep merge its set queries use.

ALTER TABLE accounts
    ADD COLUMN IF NOT EXISTS name             text,
    ADD COLUMN IF NOT EXISTS profile          jsonb,
    ADD COLUMN IF NOT EXISTS terminal         jsonb,
    ADD COLUMN IF NOT EXISTS autosave         integer,
    ADD COLUMN IF NOT EXISTS evaluate_key     text,
    ADD COLUMN IF NOT EXISTS font_size        integer,
    ADD COLUMN IF NOT EXISTS ssh_keys         jsonb,
    ADD COLUMN IF NOT EXISTS unlisted         boolean,
    ADD COLUMN IF NOT EXISTS tags             text[],
    ADD COLUMN IF NOT EXISTS tours            text[];

CREATE TABLE public_paths (
    id          text PRIMARY KEY,                  -- sha1 hex of project_id || path
    project_id  uuid NOT NULL,
    path        text NOT NULL,
    name        text,
    description text,
    disabled    boolean,
    unlisted    boolean,
    license     text,
    created     timestamptz DEFAULT now(),
    last_edited timestamptz DEFAULT now()
);
CREATE INDEX public_paths_project_id_idx ON public_paths (project_id);

CREATE TABLE project_log (
    id          uuid PRIMARY KEY,
    project_id  uuid NOT NULL,
    time        timestamptz NOT NULL DEFAULT now(),
    account_id  uuid,
    event       jsonb
);
CREATE INDEX project_log_project_id_time_idx ON project_log (project_id, time);

CREATE TABLE system_notifications (
    id       uuid PRIMARY KEY,
    time     timestamptz NOT NULL DEFAULT now(),
    text     text,
    priority text,
    done     boolean
);

-- `a` with `b` merged in, recursively: a JSON null in `b` removes the key, an object
-- merges into an object, anything else replaces.
CREATE FUNCTION hub_jsonb_merge(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    result jsonb;
    k text;
    v jsonb;
BEGIN
    IF jsonb_typeof(b) IS DISTINCT FROM 'object' THEN
        RETURN b;
    END IF;
    IF a IS NULL OR jsonb_typeof(a) IS DISTINCT FROM 'object' THEN
        result := '{}'::jsonb;
    ELSE
        result := a;
    END IF;
    FOR k, v IN SELECT key, value FROM jsonb_each(b) LOOP
        IF jsonb_typeof(v) = 'null' THEN
            result := result - k;
        ELSIF jsonb_typeof(v) = 'object' THEN
            result := jsonb_set(result, ARRAY[k], hub_jsonb_merge(result -> k, v));
        ELSE
            result := jsonb_set(result, ARRAY[k], v);
        END IF;
    END LOOP;
    RETURN result;
END
$$;
