"""A store that cannot be used fails a task, or the view, with one line saying what to do, and no password."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy.exc import OperationalError

from aitl.store.database import StoreError, masked_url, upgrade

HOUR_START, HOUR_END = datetime(2026, 11, 20, 4, tzinfo=UTC), datetime(2026, 11, 20, 5, tzinfo=UTC)
UNREACHABLE = "postgresql://aitl:Pa55word-9@127.0.0.1:1/aitl"


def context() -> dict:
    """What Airflow hands a scheduled run's task of the hourly DAG, as far as ``tasks.run`` reads it."""
    return {
        "dag": SimpleNamespace(params={}),
        "dag_run": SimpleNamespace(conf={}),
        "params": {},
        "data_interval_start": HOUR_START,
        "data_interval_end": HOUR_END,
    }


def test_an_unmigrated_store_fails_the_task_without_retries_saying_to_upgrade(tmp_path, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    from aitl_airflow.tasks import run

    store = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("AITL_STORE_URL", store)
    with pytest.raises(AirflowFailException) as raised:
        run("collect", context())
    assert str(raised.value) == f"store {store} has no AITL tables: run `aitl db upgrade`"
    upgrade(store, "0002")
    with pytest.raises(
        AirflowFailException, match=r"is at revision 0002, older than .*: run `aitl db upgrade`$"
    ):
        run("normalize", context())


def test_an_unreachable_store_is_the_tasks_one_line_error_and_keeps_its_cause(monkeypatch):
    from aitl_airflow.tasks import run

    monkeypatch.setenv("AITL_STORE_URL", UNREACHABLE)
    with pytest.raises(StoreError) as raised:
        run("collect", context())
    line = str(raised.value)
    assert line.startswith(f"store {masked_url(UNREACHABLE)} cannot be reached (") and "\n" not in line
    assert "Pa55word" not in line
    assert isinstance(raised.value.__cause__, OperationalError)  # the task log's traceback


def test_the_view_shows_what_to_do_about_a_store_it_cannot_read(tmp_path, monkeypatch):
    from aitl_airflow.plugin import dashboard_response

    monkeypatch.setenv("AITL_STORE_URL", f"sqlite:///{tmp_path / 'never-upgraded.db'}")
    response = dashboard_response({})
    assert response.status_code == 200
    assert "The store has no AITL tables: run `aitl db upgrade`." in response.body.decode()

    monkeypatch.setenv("AITL_STORE_URL", UNREACHABLE)
    response = dashboard_response({})
    assert response.status_code == 503
    body = response.body.decode()
    assert body.startswith(f"store {masked_url(UNREACHABLE)} cannot be reached (") and "\n" not in body
    assert "Pa55word" not in body
