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
COPY --chown=airflow openfinops /opt/openfinops/openfinops
COPY --chown=airflow dbt_project /opt/openfinops/dbt_project
COPY --chown=airflow dags /opt/openfinops/dags
COPY --chown=airflow config /opt/openfinops/config
ENV PYTHONPATH=/opt/openfinops
