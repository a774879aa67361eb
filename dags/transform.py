"""The transform DAG: scheduled on the raw Assets, runs dbt through Cosmos, then records budget alerts."""

from openfinops.airflow_dags import build_transform_dag
from openfinops.config import load_config

transform = build_transform_dag(load_config())
