"""Connection arguments for Airflow's SQLite metadata database (``AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS``,
set by scripts/env.sh only when the database is SQLite).

The scheduler, the api-server, the dag-processor, every task process and the CLI write to one SQLite file. SQLite
lets one writer in at a time and Python's sqlite3 gives up after 5 s of waiting ("database is locked", seen when
`airflow backfill create` ran while the scheduler was committing a busy run); waiting up to a minute instead
turns those collisions into short pauses.
"""

SQLITE_CONNECT_ARGS = {"timeout": 60}
