#!/usr/bin/env bash
# `make lock`: recompile every lock from its .in file (needs the package index). Commit the results.
. "$(dirname "$0")/lib.sh"
bash "$OPENFINOPS_ROOT/scripts/setup_venvs.sh" runtime >/dev/null
UV="$OPENFINOPS_VENV_DIR/uv/bin/uv"
cd "$OPENFINOPS_ROOT"
"$UV" pip compile requirements.in -o requirements.txt --python-version 3.11
cd envs
for f in dev dbt superset; do "$UV" pip compile "$f.in" -o "$f.txt" --python-version 3.11; done
