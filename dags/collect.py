"""One collect_<source_id> DAG per source in the config file (thin: the factory lives in openfinops.airflow_dags)."""

from openfinops.airflow_dags import build_collect_dag
from openfinops.config import load_config

_cfg = load_config()
for _source in _cfg.sources:
    globals()[f"collect_{_source.id}"] = build_collect_dag(_cfg, _source)
