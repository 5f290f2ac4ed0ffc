-- 0004 change log: what changefeeds read. A trigger appends one row per changed
-- row of a watched table and sends a bare NOTIFY on 'hub_change_log' (no payload,
-- so no 8 kB limit; PostgreSQL folds identical notifications of one transaction
-- into one, delivered at commit). Each hub reads the log by seq on its own
-- listening connection (hub/query/changes.py); old rows are trimmed by time.

CREATE TABLE change_log (
    seq        bigserial PRIMARY KEY,
    time       timestamptz NOT NULL DEFAULT now(),
    table_name text NOT NULL,
    action     text NOT NULL CHECK (action IN ('insert', 'update', 'delete')),
    pk         jsonb NOT NULL,        -- {key column: value}
    new_val    jsonb,                 -- the whole row after (insert, update)
    old_val    jsonb                  -- the whole row before (update, delete)
);
-- trimming deletes by age
CREATE INDEX change_log_time_idx ON change_log (time);

-- One function for every watched table. The trigger's arguments name the
-- table's primary-key columns; an argument '-column' leaves that column out of
-- the log (secrets such as password_hash), so an UPDATE of only such columns is
-- not logged either.
CREATE FUNCTION hub_change_log() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    new_row jsonb;
    old_row jsonb;
    any_row jsonb;
    key     jsonb := '{}';
    arg     text;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_row := to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_row := to_jsonb(NEW);
    END IF;
    any_row := coalesce(new_row, old_row);
    FOREACH arg IN ARRAY TG_ARGV LOOP
        IF left(arg, 1) = '-' THEN
            new_row := new_row - substr(arg, 2);
            old_row := old_row - substr(arg, 2);
        ELSE
            key := key || jsonb_build_object(arg, any_row -> arg);
        END IF;
    END LOOP;
    IF TG_OP = 'UPDATE' AND new_row = old_row THEN
        RETURN NULL;  -- an UPDATE that changes nothing (visible) is not a change
    END IF;
    INSERT INTO change_log (table_name, action, pk, new_val, old_val)
        VALUES (TG_TABLE_NAME, lower(TG_OP), key, new_row, old_row);
    PERFORM pg_notify('hub_change_log', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER accounts_change_log
    AFTER INSERT OR UPDATE OR DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION hub_change_log('account_id', '-password_hash');

CREATE TRIGGER projects_change_log
    AFTER INSERT OR UPDATE OR DELETE ON projects
    FOR EACH ROW EXECUTE FUNCTION hub_change_log('project_id');
