"""The AITL view for an Airflow that runs this repository's source (``include/`` on PYTHONPATH).

The plugin itself is ``aitl_airflow.plugin``. An installed ``aitl`` package
registers it through its ``airflow.plugins`` entry point; then this file
defines nothing, so Airflow does not register it a second time (which it would
report as a plugin import error). Without the installed package (the Docker
Compose deployment mounts the source), this file is how Airflow finds it.
"""

from importlib.metadata import entry_points

if not entry_points(group="airflow.plugins", name="aitl_ui"):
    from aitl_airflow.plugin import AitlUiPlugin

    __all__ = ["AitlUiPlugin"]
