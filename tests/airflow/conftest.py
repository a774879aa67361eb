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
