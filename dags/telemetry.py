"""The fold_in_telemetry DAG: triggers the transform when agents pushed telemetry (thin: the factory lives in
openfinops.airflow_dags)."""

from openfinops.airflow_dags import build_telemetry_dag
from openfinops.config import load_config

fold_in_telemetry = build_telemetry_dag(load_config())
