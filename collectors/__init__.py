"""Collectors: plain Python (no Airflow import) that pull one [start, end) window from a source and stream records."""
