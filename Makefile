# OpenFinOps — every target does its own set-up on a fresh machine.
.PHONY: demo test stop bench lint lock dbt-parse help

help:
	@echo "make demo   - set up and run the whole pipeline on the embedded default (Airflow :8080, Superset :8088)"
	@echo "make test   - set up and run the test suite (what .ci/run runs)"
	@echo "make stop   - stop what make demo started"
	@echo "make bench  - loader benchmark: our loader vs bare COPY vs pandas.to_sql (1M rows)"
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

lint:
	bash scripts/lint.sh

dbt-parse:
	bin/openfinops dbt parse

lock:
	bash scripts/lock.sh
