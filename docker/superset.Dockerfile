# Superset 6.1 with the PostgreSQL driver; config from superset/superset_config.py (mounted).
FROM apache/superset:6.1.0
USER root
RUN pip install --no-cache-dir "psycopg2-binary==2.9.*"
USER superset
