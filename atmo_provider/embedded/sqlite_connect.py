"""Connection arguments for the embedded default's SQLite metadata database.

SQLite lets one writer in at a time and makes the others wait for at most ``timeout`` seconds
(5 by default) before "database is locked". The scheduler, DAG processor, triggerer and API
server of the local stack all write, and on a loaded two-core machine 5 seconds is not always
enough, so the stack points ``[database] sql_alchemy_connect_args`` here.
"""

from __future__ import annotations

#: What the local stack's Airflow processes pass to ``sqlite3.connect``.
METADATA_CONNECT_ARGS: dict[str, object] = {"timeout": 60}
