#!/usr/bin/env bash
# Creates the three locked virtual environments (Airflow+collectors, dbt, Superset) with uv.
# A venv is re-created only when its lock file changed (sha256 stamp inside the venv).
. "$(dirname "$0")/lib.sh"

UV_HOME="$OPENFINOPS_VENV_DIR/uv"
UV="$UV_HOME/bin/uv"
UV_VERSION="0.13.9"

ensure_uv() {
  if [ ! -x "$UV" ]; then
    log "installing uv $UV_VERSION into $UV_HOME"
    python3 -m venv "$UV_HOME"
    "$UV_HOME/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
}

# venv NAME from lock files (first one defines the stamp together with the rest)
sync_venv() {
  local name="$1"; shift
  local dir="$OPENFINOPS_VENV_DIR/$name" stamp want
  want=$(cat "$@" | sha256sum | cut -d' ' -f1)
  stamp="$dir/.openfinops-lock-sha256"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  log "creating venv '$name' from $* (lock changed or venv missing)"
  rm -rf "$dir"
  "$UV" venv --quiet --python "$(command -v python3)" "$dir"
  VIRTUAL_ENV="$dir" "$UV" pip sync --quiet --python "$dir/bin/python" "$@"
  echo "$want" > "$stamp"
}

# This project into the Airflow venv (editable, no dependencies: the lock has them) for its console scripts
# (openfinops-server, openfinops-dashboard); again whenever pyproject.toml changes or the venv was re-created.
install_project() {
  local dir="$OPENFINOPS_VENV_DIR/airflow" stamp want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  stamp="$dir/.openfinops-project-sha256"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$dir/bin/openfinops-server" ]; then
    return 0
  fi
  log "installing the openfinops project (editable) into venv 'airflow'"
  VIRTUAL_ENV="$dir" "$UV" pip install --quiet --no-deps --python "$dir/bin/python" -e "$OPENFINOPS_ROOT"
  echo "$want" > "$stamp"
}

ensure_uv
cd "$OPENFINOPS_ROOT"
case "${1:-all}" in
  runtime) sync_venv airflow requirements.txt; install_project ;;
  all|dev)
    sync_venv airflow requirements.txt envs/dev.txt
    install_project
    sync_venv dbt envs/dbt.txt
    sync_venv superset envs/superset.txt ;;
  *) die "usage: setup_venvs.sh [all|runtime]" ;;
esac
