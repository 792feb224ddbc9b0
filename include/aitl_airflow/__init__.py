"""The thin layer between Airflow and the Airflow-free ``aitl`` library.

DAG files stay declarative: a task calls ``run_stage`` with its context, which
resolves the store (the ``aitl_store`` connection), the window (the run's data
interval or the manual-trigger params) and the settings, runs the library
stage, logs one line of numbers, and turns an early stop into a skip.
"""
