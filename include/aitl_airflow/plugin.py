"""The AITL view in the Airflow UI: a FastAPI app at ``/aitl`` and a navigation entry showing it.

Kept thin on purpose: the view model and the page live in ``aitl.ui.dashboard``
(no Airflow in it, tested on its own); this module only wires it into Airflow.

Why it looks the way it does:

* Airflow mounts plugin apps beside its API but does not protect them, so
  every route requires ``require_cycle_read``: Airflow's own ``get_user``
  dependency (the same check as ``/api/v2``, accepting the UI's ``_token``
  cookie or an ``Authorization: Bearer`` token from ``POST /auth/token``),
  then the auth manager's read access to at least one of the cycle DAGs whose
  results the page shows (``CYCLE_DAGS``), as ``GET /api/v2/dags/{dag_id}``
  would check it. Anonymous requests get 401 (no or an expired credential) or
  403 (an invalid one), a signed-in user who may read neither DAG 403, before
  any handler runs.
* Every Airflow process loads plugins (workers for macros, the scheduler for
  timetables), but only the API server serves the app: FastAPI, Airflow's API
  security and the AITL library are imported when the app is first asked for,
  not when the plugin is loaded.
* It is registered by the ``aitl`` distribution's ``airflow.plugins`` entry
  point (``pip install`` of the package or its wheel); an Airflow that runs
  the source from the repository instead loads it through the shim in
  ``plugins/aitl_ui/``, which stays empty when the entry point exists, so the
  plugin is never registered twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from fastapi import FastAPI
    from starlette.responses import Response

log = logging.getLogger(__name__)

URL_PREFIX = "/aitl"
# Shown inside the Airflow UI (an iframe at /plugin/aitl) rather than as a link leaving it.
URL_ROUTE = "aitl"
# The DAGs whose results the page shows: a user who may read neither may not see the page.
CYCLE_DAGS = ("aitl_feedback_hourly", "aitl_system_daily")


def create_app() -> FastAPI:
    """The AITL app; every route needs a signed-in Airflow user who may read a cycle DAG."""
    from fastapi import Depends, FastAPI
    from fastapi.responses import HTMLResponse

    app = FastAPI(
        title="AITL",
        dependencies=[Depends(cycle_read_dependency())],
        # FastAPI would serve its docs without the app's dependencies: switched off, nothing is anonymous.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    # A plain ``def``: FastAPI runs it in a worker thread, so the blocking store queries
    # never stall the API server's event loop. The window is parsed by the library,
    # which names the wrong parameter in its 400 answer.
    @app.get("/", response_class=HTMLResponse)
    def page(start: str = "", end: str = "", days: str = "") -> Response:
        return dashboard_response({"start": start, "end": end, "days": days})

    return app


def cycle_read_dependency() -> Callable[..., None]:
    """The app's guard: Airflow's signed-in user, who must be allowed to read a cycle DAG.

    Airflow's ``requires_access_dag`` checks one DAG; the page needs either of
    ``CYCLE_DAGS``, so the guard asks the auth manager the same question
    (``is_authorized_dag``, method GET, the DAG's team as Airflow looks it up)
    for each until one is allowed.
    """
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
    from airflow.api_fastapi.core_api.security import get_user
    from airflow.models.dag import DagModel
    from fastapi import Depends, HTTPException, status

    # (A default, not an annotation: annotations are strings here, resolved in the module's globals.)
    def require_cycle_read(user: Any = Depends(get_user)) -> None:  # noqa: B008
        teams = DagModel.get_dag_id_to_team_name_mapping(list(CYCLE_DAGS))
        auth_manager = get_auth_manager()
        if not any(
            auth_manager.is_authorized_dag(
                method="GET", details=DagDetails(id=dag_id, team_name=teams.get(dag_id)), user=user
            )
            for dag_id in CYCLE_DAGS
        ):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"Forbidden: needs read access to {' or '.join(CYCLE_DAGS)}"
            )

    return require_cycle_read


def dashboard_response(params: Mapping[str, str]) -> Response:
    """The dashboard page for the window in ``params``, or 400 naming the parameter that is wrong.

    Without ``start``/``end``/``days`` the window is the latest 7 days holding data.
    A store that cannot be read gives 503 with one line naming it (password
    masked) and what to do; the traceback goes to the api-server's log.
    """
    from fastapi.responses import HTMLResponse, PlainTextResponse
    from sqlalchemy.exc import SQLAlchemyError

    from aitl.config import Settings
    from aitl.store.database import StoreError, connect, store_error, transaction
    from aitl.ui import dashboard, page
    from aitl_airflow.connections import store_url

    now = datetime.now(UTC)
    settings = Settings.from_env(store_url=store_url())
    try:
        dashboard.window_from_params(params, now)  # a wrong parameter is refused before the store is read
        with transaction(connect(settings.store_url)) as session:
            model = dashboard.view(session, params, now)
    except dashboard.WindowParamError as error:
        return PlainTextResponse(str(error), status_code=400)
    except (StoreError, SQLAlchemyError) as error:
        failure = error if isinstance(error, StoreError) else store_error(error, settings.store_url)
        log.warning("AITL view: %s", failure, exc_info=error)
        return PlainTextResponse(str(failure), status_code=503)
    # What the loop found about users' executions is not for shared caches.
    return HTMLResponse(page.render_html(model), headers={"Cache-Control": "no-store"})


class AitlUiPlugin(AirflowPlugin):
    """Registers the AITL app and its entry in the Airflow navigation."""

    name = "aitl_ui"
    external_views: ClassVar[list[dict[str, Any]]] = [
        {
            "name": "AITL",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": URL_ROUTE,
            # Its own entry in the navigation bar, not one more item under "Plugins".
            "nav_top_level": True,
        }
    ]

    @cached_property
    def fastapi_apps(self) -> list[dict[str, Any]]:
        """Built on first use: only the API server asks, so other processes never import FastAPI here."""
        return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "AITL"}]
