"""The database layer: one asyncpg pool, the embedded server, migrations, data access.

`Database` is the pool (with down-detection), `EmbeddedPostgres` the server the hub
starts when no `--database-url` is given, `migrate` applies `migrations/NNNN_*.sql`.
Data-access modules (`hub/db/<table>.py`) take a `Queryable`.
"""

from hub.db.database import Connection, Database, Queryable, is_connection_error
from hub.db.embedded import EmbeddedPostgres
from hub.db.migrate import migrate, migrate_sync

__all__ = [
    "Connection",
    "Database",
    "EmbeddedPostgres",
    "Queryable",
    "is_connection_error",
    "migrate",
    "migrate_sync",
]
