"""A migrated Airflow metadata DB (SQLite in the session's temporary AIRFLOW_HOME) for dag.test()."""

import pytest


@pytest.fixture(scope="session")
def airflow_db():
    from airflow.utils import db

    db.resetdb()
    yield


@pytest.fixture(scope="session")
def dagbag():
    from airflow.models.dagbag import DagBag

    from tests.conftest import ROOT

    return DagBag(dag_folder=str(ROOT / "dags"))


def own_airflow_home(home):
    """Environment for a DAG run in another process: its own AIRFLOW_HOME with a consistent copy of the session's
    migrated metadata DB (SQLite's backup API includes what is still in the write-ahead log), so processes never
    share one SQLite file. Use with the ``airflow_db`` fixture."""
    import os
    import sqlite3
    from pathlib import Path

    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    metadata = Path(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///"))
    with sqlite3.connect(metadata) as src, sqlite3.connect(home / "airflow.db") as dst:
        src.backup(dst)
    return {"AIRFLOW_HOME": str(home), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db"}
