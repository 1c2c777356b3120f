"""Connection arguments for the embedded default's SQLite metadata database.

SQLite lets one writer in at a time and makes the others wait for at most ``timeout`` seconds
(5 by default) before "database is locked". The scheduler, DAG processor, triggerer and API
server of the local stack all write, and on a loaded two-core machine 5 seconds is not always
enough, so the stack points ``[database] sql_alchemy_connect_args`` here.

In SQLite's default rollback journal a reader also keeps writers out, and the API server, the
scheduler and the DAG processor read all the time; the write-ahead log lets readers and the one
writer work side by side. It is a property of the database file, set once after migration.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

#: What the local stack's Airflow processes pass to ``sqlite3.connect``.
METADATA_CONNECT_ARGS: dict[str, object] = {"timeout": 60}


def use_write_ahead_log(database: Path) -> str:
    """Switch the SQLite file ``database`` to the write-ahead log; return the journal mode."""
    connection = sqlite3.connect(database, timeout=60)
    try:
        return connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    finally:
        connection.close()
