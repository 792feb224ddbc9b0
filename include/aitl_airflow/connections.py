"""Where the store and the sink are, from Airflow connections (``aitl_store``, ``aitl_sink``).

Shared by the tasks and the UI plugin; it imports nothing of the library, so
the plugin can find the store without loading the task runtime.
"""

from __future__ import annotations

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

STORE_CONN_ID = "aitl_store"


def store_url() -> str | None:
    """The store's SQLAlchemy URL from the ``aitl_store`` connection, if defined.

    The connection's extra ``sqlalchemy_url`` wins; otherwise its URI
    (``postgres://...`` for a Postgres connection: the library gives every bare
    PostgreSQL URL its driver, ``aitl.store.database.engine_url``). Without the
    connection the library falls back to ``AITL_STORE_URL`` and then to its
    embedded SQLite default.
    """
    try:
        conn = BaseHook.get_connection(STORE_CONN_ID)
    except AirflowNotFoundException:
        return None
    return conn.extra_dejson.get("sqlalchemy_url") or conn.get_uri()


SINK_CONN_ID = "aitl_sink"


def sink_url() -> str | None:
    """Where decisions are published, from the ``aitl_sink`` connection, if defined.

    Its extra ``url`` (a file path, an http(s) URL or a SQLAlchemy URL) wins;
    otherwise its URI (``http://host:port/path``). Without the connection
    ``AITL_SINK_URL`` applies, then a JSON-lines file in ``AITL_HOME``.
    """
    try:
        conn = BaseHook.get_connection(SINK_CONN_ID)
    except AirflowNotFoundException:
        return None
    return conn.extra_dejson.get("url") or conn.get_uri()
