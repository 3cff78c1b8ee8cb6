"""Helpers of the LCL ingestion job (spark_jobs/ingest.py): file probing, Spark transforms, lake swaps, accounting."""
