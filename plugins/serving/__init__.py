"""MongoDB serving layer: the collection registry (``registry``) and the idempotent, slice-atomic loader
(``loader``). Airflow tasks call ``plugins.serving.loader``; dashboards read ``plugins.serving.registry``."""
