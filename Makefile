# OpenFinOps — every target does its own set-up on a fresh machine.
.PHONY: demo test stop bench bench-dashboards bench-ingest bench-transform lint lock dbt-parse dashboards help

help:
	@echo "make demo   - set up and run the whole pipeline on the embedded default (Airflow :8080, Superset :8088)"
	@echo "make test   - set up and run the test suite (what .ci/run runs)"
	@echo "make stop   - stop what make demo started"
	@echo "make bench  - loader benchmark: our loader vs bare COPY vs pandas.to_sql (1M rows)"
	@echo "make bench-dashboards - chart-data p50/p95 per dashboard as its role user vs bare SQL (needs make demo)"
	@echo "make bench-ingest - ingest server throughput and p99 under 8 concurrent agents vs bare COPY"
	@echo "make bench-transform - transform DAG wall vs its own dbt build and a bare one (needs make demo)"
	@echo "make dashboards - regenerate superset/bundle from superset/dashboards/*.yaml"
	@echo "make lint   - ruff + sqlfluff"
	@echo "make lock   - recompile the lock files from the .in files"

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

stop:
	bash scripts/stop.sh

bench:
	bash scripts/bench.sh

bench-dashboards:
	bash scripts/bench_dashboards.sh

bench-ingest:
	bash scripts/bench_ingest.sh

bench-transform:
	bash scripts/bench_transform.sh

dashboards:
	bin/openfinops dbt parse --quiet
	.venv/airflow/bin/python superset/openfinops_superset/generate.py

lint:
	bash scripts/lint.sh

dbt-parse:
	bin/openfinops dbt parse

lock:
	bash scripts/lock.sh
