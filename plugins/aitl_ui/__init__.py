"""The AITL view in the Airflow UI: a FastAPI app at ``/aitl`` and a navigation entry showing it.

Kept thin on purpose: the view model and the page live in ``aitl.ui.dashboard``
(no Airflow in it, tested on its own); this module only wires it into Airflow.

Why it looks the way it does:

* Airflow mounts plugin apps beside its API but does not protect them, so the
  app requires Airflow's own ``get_user`` dependency on every route: the same
  check as ``/api/v2``, accepting the UI's ``_token`` cookie or an
  ``Authorization: Bearer`` token from ``POST /auth/token``. Anonymous
  requests get 401 (no or an expired credential) or 403 (an invalid one) before any handler runs.
* Every Airflow process loads plugins (workers for macros, the scheduler for
  timetables), but only the API server serves the app: FastAPI, Airflow's API
  security and the AITL library are imported when the app is first asked for,
  not when the plugin is loaded.
* Airflow imports this file by its path as a top-level module, so it must not
  use relative imports or sibling modules.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

if TYPE_CHECKING:
    from collections.abc import Mapping

    from fastapi import FastAPI
    from starlette.responses import Response

URL_PREFIX = "/aitl"
# Shown inside the Airflow UI (an iframe at /plugin/aitl) rather than as a link leaving it.
URL_ROUTE = "aitl"


def create_app() -> FastAPI:
    """The AITL app; every route needs a signed-in Airflow user."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends, FastAPI
    from fastapi.responses import HTMLResponse

    app = FastAPI(
        title="AITL",
        dependencies=[Depends(get_user)],
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


def dashboard_response(params: Mapping[str, str]) -> Response:
    """The dashboard page for the window in ``params``, or 400 naming the parameter that is wrong."""
    from fastapi.responses import HTMLResponse, PlainTextResponse

    from aitl.config import Settings
    from aitl.store import connect, transaction
    from aitl.ui import dashboard, page
    from aitl_airflow.connections import store_url

    try:
        window = dashboard.window_from_params(params, datetime.now(UTC))
    except dashboard.WindowParamError as error:
        return PlainTextResponse(str(error), status_code=400)
    settings = Settings.from_env(store_url=store_url())
    with transaction(connect(settings.store_url)) as session:
        model = dashboard.dashboard(session, window)
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
