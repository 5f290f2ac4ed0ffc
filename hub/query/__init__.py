"""User queries (the `query` event): get and set rows of the tables in `schema.TABLES`.

result = await run_user_query(db, identity, query, options)
"""

from hub.query.run import run_user_query

__all__ = ["run_user_query"]
