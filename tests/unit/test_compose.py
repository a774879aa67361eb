"""Static validation of docker-compose.yml (no Docker engine here): structure, references, and no secrets."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
VAR = re.compile(r"\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}")


def load():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_dependencies():
    compose = load()
    services = compose["services"]
    assert {"postgres", "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
            "airflow-triggerer", "superset"} <= set(services)
    for name, svc in services.items():
        assert "image" in svc, f"{name}: no image"
        image = svc["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: image must be pinned, got {image}"
        for dep in (svc.get("depends_on") or {}):
            assert dep in services, f"{name} depends on unknown service {dep}"
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: port {port} must bind to loopback"
        build = svc.get("build")
        if build:
            assert (ROOT / build["context"] / build["dockerfile"]).is_file(), f"{name}: missing Dockerfile"
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: bind mount {source} does not exist"
            else:
                assert source in (compose.get("volumes") or {}), f"{name}: named volume {source} not declared"


def test_every_variable_is_documented_and_no_secret_is_inline():
    text = (ROOT / "docker-compose.yml").read_text()
    example = {line.split("=")[0] for line in (ROOT / ".env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    used = {m.group(1) for m in VAR.finditer(text)}
    assert used <= example, f"variables missing from .env.example: {sorted(used - example)}"
    assert all(line.endswith("=") for line in (ROOT / ".env.example").read_text().splitlines()
               if line and not line.startswith("#")), ".env.example must list keys without values"
    for key, value in re.findall(r"^\s*(\w*(?:PASSWORD|SECRET|KEY)\w*):\s*(.+)$", text, flags=re.M):
        if key.endswith("_FILE"):  # where a secret is kept (a path on a volume), not a secret
            continue
        assert value.startswith("${"), f"{key} has an inline value"
    for url in re.findall(r"postgresql[+\w]*://[^\s]+", text):
        assert re.match(r"postgresql[+\w]*://\w+:\$\{", url), f"password inline in {url}"
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_airflow_services_share_config_and_get_the_warehouse_as_a_connection():
    services = load()["services"]
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        env = services[name]["environment"]
        assert env["AIRFLOW_CONN_OPENFINOPS_WAREHOUSE"].startswith("postgresql://openfinops:${")
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/openfinops/dags"


def test_superset_reads_the_marts_as_the_read_only_role():
    """Superset's database connection is the reader role the PostgreSQL init script creates, never the owner."""
    services = load()["services"]
    deploy = services["superset-deploy"]
    assert deploy["environment"]["OPENFINOPS_READER_URL"].startswith("postgresql://openfinops_reader:${")
    assert deploy["depends_on"]["superset"]["condition"] == "service_healthy"
    assert "/opt/openfinops/superset/deploy.py" in deploy["command"]
    assert services["superset"]["depends_on"]["superset-init"]["condition"] == "service_completed_successfully"
    init_sql = (ROOT / "docker" / "postgres-init.sh").read_text()
    assert "CREATE ROLE openfinops_reader LOGIN" in init_sql
    assert "default_transaction_read_only = on" in init_sql
    assert "GRANT" not in init_sql.split("openfinops_reader", 1)[1], "the reader gets SELECT on marts from dbt only"


def test_every_long_running_service_has_a_healthcheck_and_pinned_images():
    for name, svc in load()["services"].items():
        if svc.get("restart") != "no":
            assert svc.get("healthcheck"), f"{name}: a long-running service without a healthcheck"
        assert re.match(r"^[\w./-]+:[\w.-]+$", svc["image"]) and not svc["image"].endswith((":15", ":latest")), \
            f"{name}: pin the image tag, got {svc['image']}"


def test_every_path_a_service_runs_is_in_its_image_or_mounted():
    """Commands and environment values name files under /opt/openfinops (Airflow image) and /app/openfinops
    (Superset image): each must be copied into the image by its Dockerfile (COPY <repo dir> /opt/openfinops/<dir>) or
    bind-mounted; `openfinops.cli` subcommands must exist."""
    from openfinops.cli import build_parser

    dockerfile = (ROOT / "docker" / "airflow.Dockerfile").read_text()
    copied = dict(re.findall(r"^COPY --chown=airflow (\S+) (/opt/openfinops/\S+)$", dockerfile, flags=re.M))
    in_image = {target: ROOT / source for source, target in copied.items()}
    subcommands = set(build_parser()._subparsers._group_actions[0].choices)
    for name, svc in load()["services"].items():
        command = " ".join(svc.get("command") or []) if isinstance(svc.get("command"), list) else svc.get("command", "")
        mounts = {v.split(":")[1]: ROOT / v.split(":")[0] for v in svc.get("volumes", []) if v.startswith("./")}
        environment = svc.get("environment") or {}
        text = " ".join([command, *(str(v) for v in environment.values())])
        for path in re.findall(r"/(?:opt|app)/openfinops/[\w./-]+", text):
            roots = {**({} if "openfinops-superset" in svc["image"] else in_image), **mounts}
            base = next((b for b in sorted(roots, key=len, reverse=True) if path == b or path.startswith(b + "/")),
                        None)
            assert base, f"{name}: {path} is neither copied into the image nor mounted"
            assert (roots[base] / path[len(base):].lstrip("/")).exists(), f"{name}: {path} does not exist"
        for sub in re.findall(r"openfinops\.cli (\S+)", command):
            assert sub in subcommands, f"{name}: `openfinops {sub}` is not a subcommand"
    assert "dbt parse" in dockerfile and "target/manifest.json" in dockerfile  # the manifest is in the image
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".openfinops", ".env"} <= set(ignored)


def test_the_file_follows_the_compose_specification(tmp_path):
    """Validated against the Compose Specification's JSON schema (vendored by check-jsonschema; no network)."""
    import subprocess
    import sys
    from pathlib import Path

    tool = Path(sys.executable).parent / "check-jsonschema"
    proc = subprocess.run([str(tool), "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # and the schema is really applied: a misspelt key is refused
    broken = tmp_path / "docker-compose.yml"
    broken.write_text((ROOT / "docker-compose.yml").read_text().replace("healthcheck:", "helthcheck:", 1))
    bad = subprocess.run([str(tool), "--builtin-schema", "vendor.compose-spec", str(broken)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "helthcheck" in bad.stdout + bad.stderr
