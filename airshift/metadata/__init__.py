"""Airflow metadata: the table registry, extraction, scratch upgrade, merge and verification."""
