"""A password in the store URL never appears in anything printed, logged, stored or shown.

The store is a PostgreSQL database of its own, reached as a role of its own
whose password is random, so any occurrence of it anywhere is a leak. The
suite's role (``scripts/with-postgres.sh``) must be allowed to create roles.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import MetaData, create_engine, select, text
from sqlalchemy.engine import make_url

from aitl.cli.main import main
from aitl.store.database import connect, transaction
from aitl.ui.dashboard import view
from aitl.ui.page import render_html
from tests.conftest import PG_URL

pytestmark = pytest.mark.postgres

WINDOW = ["--start", "2026-11-19T10:00", "--end", "2026-11-19T13:00"]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the secrets test: {reason}")
    pytest.skip(reason)


@pytest.fixture
def secret_store() -> Iterator[tuple[str, str]]:
    """(a bare ``postgresql://`` URL of a fresh database, the password in it); both dropped afterwards."""
    if not PG_URL:
        _unavailable("no PostgreSQL server (set AITL_TEST_PG_URL or run `make test`)")
    password, name = f"pw-{secrets.token_hex(12)}", f"aitl_secret_{secrets.token_hex(4)}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        allowed = connection.scalar(
            text("SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user")
        )
        if not allowed:
            admin.dispose()
            _unavailable("the test role may not create roles (CREATEROLE, scripts/with-postgres.sh)")
        connection.execute(text(f"CREATE ROLE {name} LOGIN CREATEDB PASSWORD '{password}'"))
    role = make_url(PG_URL).set(username=name, password=password)
    owner = create_engine(role, isolation_level="AUTOCOMMIT")
    with owner.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    url = role.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    try:
        yield url, password
    finally:
        connect(url).dispose()
        with owner.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        owner.dispose()
        with admin.connect() as connection:
            connection.execute(text(f"DROP ROLE {name}"))
        admin.dispose()


def _every_row(url: str) -> str:
    """Every row of every table of the database, as text."""
    metadata = MetaData()
    engine = connect(url)
    metadata.reflect(engine)
    with engine.connect() as connection:
        return "\n".join(
            repr(row) for table in metadata.sorted_tables for row in connection.execute(select(table))
        )


def test_the_store_password_is_never_printed_logged_stored_or_shown(secret_store, tmp_path, capsys, caplog):
    url, password = secret_store
    caplog.set_level(logging.DEBUG)
    landing = str(tmp_path / "landing")
    # Decisions go to a table of the same database, through the same URL.
    os.environ["AITL_SINK_URL"] = url
    printed = []

    def aitl(*argv: str, status: int = 0) -> str:
        assert main(list(argv)) == status, argv
        captured = capsys.readouterr()
        printed.append(captured.out + captured.err)
        return printed[-1]

    try:
        shown = aitl("db", "upgrade", "--store", url)
        aitl("simulate", *WINDOW, "--rate", "600", "--seed", "3", "--landing", landing, "--store", url)
        aitl("run", *WINDOW, "--landing", landing, "--store", url)
        aitl("--verbose", "run", *WINDOW, "--landing", landing, "--store", url, "--dry-run")
        aitl("report", *WINDOW, "--store", url)
        aitl("report", *WINDOW, "--store", url, "--json")
        aitl("improvements", "--store", url)
        aitl("experiments", "--store", url, "--json")
        aitl("publish", "--store", url)
        # Failures: a database that does not exist (the role's credentials are right), a wrong port.
        missing = make_url(url).set(database="aitl_no_such_db").render_as_string(hide_password=False)
        aitl("--verbose", "report", *WINDOW, "--store", missing, status=1)
        aitl("--verbose", "db", "upgrade", "--store", missing, status=1)
        unreachable = make_url(url).set(port=1).render_as_string(hide_password=False)
        aitl("--verbose", "run", *WINDOW, "--store", unreachable, status=1)
    finally:
        del os.environ["AITL_SINK_URL"]
    with transaction(connect(url)) as session:
        page = render_html(view(session, {}, datetime(2026, 11, 20, tzinfo=UTC)))
    stored = _every_row(url)

    assert shown.startswith(f"store at postgresql://{make_url(url).username}:***@")
    assert "has no such database" in printed[-3] and "cannot be reached" in printed[-1]
    assert "pipeline_runs" not in stored and "'collect'" in stored  # the rows are there
    assert "sql:postgresql://" in stored  # the sink's breaker row names it, masked
    assert "AITL" in page and "experiment" in page
    for where, what in (("printed", "\n".join(printed)), ("logged", caplog.text), ("stored", stored)):
        assert password not in what, where
    assert password not in page
