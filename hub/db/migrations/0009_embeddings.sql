-- 0009 AI assistants (docs/ai.md): embeddings for openai_embeddings_*, searched by
-- cosine distance with pgvector, and per-account usage for the AI rate and token limits.
--
-- pgvector ships with the embedded server. An external PostgreSQL without it still
-- migrates: the embeddings table is then not made, and the embeddings events answer
-- a clear error (hub/ai/embeddings.py) until the extension is installed and the table
-- created by hand with the statement below.

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
        CREATE EXTENSION IF NOT EXISTS vector;
        -- `embedding` has no fixed dimension so that the operator may change
        -- ai_embedding_model; a search compares only rows of its own model and size.
        -- No ANN index (it needs a fixed dimension): a search is an exact scan of the
        -- caller's projects, narrowed by the project_id index.
        EXECUTE $sql$
        CREATE TABLE ai_embeddings (
            project_id  uuid NOT NULL,
            path        text NOT NULL,
            fragment    text NOT NULL,          -- the client's item id: after '#' in url
            point_id    uuid NOT NULL UNIQUE,   -- uuid5(url): what the events return
            url         text NOT NULL,          -- projects/<project_id>/files/<path>#<fragment>
            text        text NOT NULL,
            text_sha1   text NOT NULL,          -- reuse a vector for the same text and model
            meta        jsonb,
            hash        text,
            model       text NOT NULL,
            dims        integer NOT NULL,
            embedding   vector NOT NULL,
            time        timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (project_id, path, fragment)
        )
        $sql$;
        CREATE INDEX ai_embeddings_url_idx ON ai_embeddings (url text_pattern_ops);
        CREATE INDEX ai_embeddings_text_sha1_idx ON ai_embeddings (text_sha1, model);
    END IF;
END
$$;

-- One row per AI request (chat or embeddings) for the limits: requests in the last
-- minute and tokens in the last 24 hours. Rows older than a day are deleted as the
-- account makes new requests (in ai_usage_admit).
CREATE TABLE ai_usage (
    id          bigserial PRIMARY KEY,
    account_id  uuid NOT NULL,
    time        timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL,                 -- 'chat' or 'embeddings'
    model       text,
    tokens      integer NOT NULL DEFAULT 0,    -- known once the reply is complete
    project_id  uuid,
    path        text,
    tag         text
);
CREATE INDEX ai_usage_account_time_idx ON ai_usage (account_id, time);

-- Count one request unless the account is at a limit, in one statement (one round
-- trip): the per-account advisory lock, held to the statement's commit, makes the
-- check and the insert atomic across hubs. row_id is NULL when refused; the other
-- columns are the usage before this request.
CREATE FUNCTION ai_usage_admit(
    p_account uuid, p_kind text, p_model text, p_project uuid, p_path text, p_tag text,
    p_requests_per_minute integer, p_tokens_per_day bigint,
    OUT row_id bigint, OUT recent integer, OUT tokens bigint, OUT wait_s double precision
) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(6383989, hashtext(p_account::text));  -- 6383989 = "aiu"
    DELETE FROM ai_usage WHERE account_id = p_account AND time < now() - interval '1 day';
    SELECT count(*) FILTER (WHERE u.time > now() - interval '1 minute'),
           coalesce(sum(u.tokens), 0),
           extract(epoch FROM min(u.time) FILTER (WHERE u.time > now() - interval '1 minute')
                   + interval '1 minute' - now())
      INTO recent, tokens, wait_s
      FROM ai_usage u WHERE u.account_id = p_account;
    IF recent < p_requests_per_minute AND tokens < p_tokens_per_day THEN
        INSERT INTO ai_usage (account_id, kind, model, project_id, path, tag)
        VALUES (p_account, p_kind, p_model, p_project, p_path, p_tag)
        RETURNING id INTO row_id;
    END IF;
END
$$;
