"""Airflow-side helpers: GX gates, the MongoDB serving loader, run bookkeeping and callbacks.

Imported as ``plugins.<module>`` with the repository root on ``PYTHONPATH`` (Airflow also puts this folder on
``sys.path``; the DAGs always use the ``plugins.`` form so there is one copy of each module).
"""
