# Airflow + collectors image; dbt lives in its own venv (/opt/dbt-venv), as in the embedded runtime.
FROM apache/airflow:3.3.2-python3.11
USER root
RUN python -m venv /opt/dbt-venv
COPY envs/dbt.txt /tmp/dbt.txt
RUN /opt/dbt-venv/bin/pip install --no-cache-dir -r /tmp/dbt.txt
USER airflow
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt
COPY --chown=airflow collectors /opt/openfinops/collectors
COPY --chown=airflow agents /opt/openfinops/agents
COPY --chown=airflow openfinops /opt/openfinops/openfinops
COPY --chown=airflow dbt_project /opt/openfinops/dbt_project
COPY --chown=airflow dags /opt/openfinops/dags
COPY --chown=airflow config /opt/openfinops/config
COPY --chown=airflow superset /opt/openfinops/superset
ENV PYTHONPATH=/opt/openfinops
# The dbt manifest the transform DAG renders its tasks from, built into the image (parse reads no database: the
# profile's variables only need values), so every Airflow service has the same one.
RUN OPENFINOPS_WH_HOST=parse OPENFINOPS_WH_PORT=5432 OPENFINOPS_WH_USER=parse OPENFINOPS_WH_PASSWORD=parse \
    OPENFINOPS_WH_DBNAME=parse /opt/dbt-venv/bin/dbt parse --project-dir /opt/openfinops/dbt_project \
    --profiles-dir /opt/openfinops/dbt_project && test -s /opt/openfinops/dbt_project/target/manifest.json
