-- Every running hub process keeps a row here: operators and the other hubs see who
-- serves, where, and how many clients each holds. A row whose expire has passed is a
-- hub that stopped renewing it (crashed, or cut off); the hourly clean-up deletes it.
CREATE TABLE hub_servers (
    hub_id     text PRIMARY KEY,
    host       text NOT NULL,
    port       integer NOT NULL,
    pid        integer NOT NULL,
    clients    integer NOT NULL DEFAULT 0,
    started    timestamptz NOT NULL DEFAULT now(),
    heartbeat  timestamptz NOT NULL DEFAULT now(),
    expire     timestamptz NOT NULL
);
CREATE INDEX hub_servers_expire ON hub_servers (expire);
