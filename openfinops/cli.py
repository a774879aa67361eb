"""The project CLI (``bin/openfinops``): run any step without Airflow.

    openfinops sources
    openfinops collect SOURCE_ID --start YYYY-MM-DD --end YYYY-MM-DD
    openfinops sync-config
    openfinops transform [dbt args...]
    openfinops alerts [--no-deliver]
    openfinops alert-sink [--inbox DIR] [--http-port 8099] [--smtp-port 8025]
    openfinops dbt ARGS...
    openfinops export-focus --start YYYY-MM-DD --end YYYY-MM-DD --out FILE(.csv|.csv.gz|.parquet)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import date

from collectors.core.base import Window
from openfinops import pipeline, run_log
from openfinops.config import ConfigError, load_config
from openfinops.loader import LoadError
from openfinops.warehouse import DBT_PROJECT_DIR, connect, dbt_env, dbt_executable


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def cmd_sources(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    print(f"{'id':<22} {'type':<10} {'schedule':<10} {'start_date':<11} description")
    for s in cfg.sources:
        print(f"{s.id:<22} {s.type:<10} {s.schedule:<10} {s.start_date.isoformat():<11} {s.description}")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    """Collect one source; the run is recorded in ops.pipeline_runs (trigger 'cli', run id = the batch id), also
    when the config file does not load."""
    window = Window.from_dates(args.start, args.end)
    batch_id = run_log.new_run_id()
    with connect() as conn:
        try:
            cfg = load_config(args.config)
        except ConfigError as exc:
            pipeline.record_failed_collect(conn, args.source_id, batch_id, "cli", exc)
            raise
        result = pipeline.collect(cfg, args.source_id, window, conn, batch_id=batch_id, trigger="cli")
    print(result.summary())
    return 0


def cmd_sync_config(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    with connect() as conn:
        counts = pipeline.sync_config(cfg, conn)
    print(f"config tables replaced: {counts}")
    return 0


def cmd_telemetry_with_next_load(args: argparse.Namespace) -> int:
    from openfinops import telemetry

    with connect() as conn:
        found = telemetry.leave_to_next_load(conn)
    print(f"{found['batches']} pushed batch(es) left to the next load cycle's transform (fold_in_telemetry will not "
          f"announce them); watermark {found['until']}")
    return 0


def run_dbt(dbt_args: list[str]) -> int:
    env = {**os.environ, **dbt_env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    cmd = [dbt_executable(), *dbt_args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    return subprocess.call(cmd, env=env, cwd=DBT_PROJECT_DIR)


class DbtBuildFailed(RuntimeError):
    """``dbt build`` exited with a non-zero code (its own output says why)."""


def cmd_transform(args: argparse.Namespace) -> int:
    """sync-config + dbt build, recorded as one run of pipeline 'transform' in ops.pipeline_runs (trigger 'cli',
    a generated run id): success when both succeed, else failed with the error."""
    run_id = run_log.new_run_id()
    with connect() as conn:
        try:
            with run_log.recorded_run(conn, run_log.TRANSFORM_PIPELINE, "transform", run_id, "cli"):
                cfg = load_config(args.config)
                pipeline.sync_config(cfg, conn)
                conn.commit()
                code = run_dbt(["build", *args.dbt_args])
                if code != 0:
                    raise DbtBuildFailed(f"dbt build exited with code {code}")
        except DbtBuildFailed:
            return code
    return 0


def cmd_dbt(args: argparse.Namespace) -> int:
    return run_dbt(args.dbt_args)


def cmd_alerts(args: argparse.Namespace) -> int:
    """Detect new budget crossings / anomalies, then deliver every alert not yet sent (as the transform DAG does).
    Channels given by ``connection_id`` read Airflow connections (``AIRFLOW_CONN_<ID>`` variables)."""
    from openfinops import alerts

    cfg = load_config(args.config)
    with connect() as conn:
        print(alerts.detect(cfg, conn, detected_by="cli").describe())
        if args.no_deliver:
            return 0
        try:
            report = alerts.deliver(cfg, conn, sent_by="cli")
        except alerts.DeliveryError as exc:
            print(exc.report.summary())
            raise
    print(report.summary())
    return 0


def cmd_alert_sink(args: argparse.Namespace) -> int:
    """Serve the local alert sink until interrupted (SIGINT / SIGTERM)."""
    import signal
    import threading
    from pathlib import Path

    from openfinops.alert_sink import AlertSink

    inbox = Path(args.inbox or Path(os.environ.get("OPENFINOPS_STATE_DIR") or ".openfinops") / "alerts-inbox")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with AlertSink(inbox, host=args.host, http_port=args.http_port, smtp_port=args.smtp_port) as sink:
        print(f"alert sink: http://{sink.host}:{sink.http_port} (POST /slack/..., /openfinops-alerts), "
              f"smtp://{sink.host}:{sink.smtp_port}; inbox {inbox}", flush=True)
        stop.wait()
    return 0


def cmd_export_focus(args: argparse.Namespace) -> int:
    from pathlib import Path

    from openfinops.focus_export import export_focus

    out = Path(args.out)
    with connect() as conn:
        n = export_focus(conn, args.start, args.end, out)
    print(f"wrote {n} FOCUS 1.2 cost rows for [{args.start}, {args.end}) to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openfinops", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="config file (default: $OPENFINOPS_CONFIG or config/openfinops.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("sources", help="list the configured sources").set_defaults(func=cmd_sources)
    p = sub.add_parser("collect", help="collect one source for [start, end) and load it into raw")
    p.add_argument("source_id")
    p.add_argument("--start", type=_date, required=True, help="first day (inclusive), YYYY-MM-DD")
    p.add_argument("--end", type=_date, required=True, help="last day (exclusive), YYYY-MM-DD")
    p.set_defaults(func=cmd_collect)
    sub.add_parser("sync-config", help="write budgets and clusters to the config.* tables").set_defaults(
        func=cmd_sync_config)
    sub.add_parser("telemetry-with-next-load", help="let the next load cycle's transform fold in the telemetry pushed "
                   "so far (fold_in_telemetry does not trigger a transform for it; make demo uses it before its load)"
                   ).set_defaults(func=cmd_telemetry_with_next_load)
    p = sub.add_parser("transform", help="sync config tables, then dbt build (extra args go to dbt)")
    p.set_defaults(func=cmd_transform, dbt_args=[])
    p = sub.add_parser("alerts", help="record new budget threshold crossings and cost anomalies, then send every "
                                      "alert not yet sent to its channels")
    p.add_argument("--no-deliver", action="store_true", help="only record (detect), send nothing")
    p.set_defaults(func=cmd_alerts)
    p = sub.add_parser("alert-sink", help="local HTTP + SMTP receiver for the demo's alert channels")
    p.add_argument("--inbox", help="directory of the received-message files (default .openfinops/alerts-inbox)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--http-port", type=int, default=8099)
    p.add_argument("--smtp-port", type=int, default=8025)
    p.set_defaults(func=cmd_alert_sink)
    p = sub.add_parser("export-focus", help="write the unified cost model for [start, end) as a FOCUS 1.2 file")
    p.add_argument("--start", type=_date, required=True, help="first charge day (inclusive), YYYY-MM-DD")
    p.add_argument("--end", type=_date, required=True, help="last charge day (exclusive), YYYY-MM-DD")
    p.add_argument("--out", required=True, help="output file: .csv, .csv.gz or .parquet")
    p.set_defaults(func=cmd_export_focus)
    p = sub.add_parser("dbt", help="run any dbt command against the warehouse (e.g. `dbt parse`, `dbt docs generate`)")
    p.set_defaults(func=cmd_dbt, dbt_args=[])
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # dbt options (e.g. --select) pass through `transform` and `dbt`; anything else is an error
        if args.command not in ("transform", "dbt"):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.dbt_args = [*args.dbt_args, *extra]
    try:
        return args.func(args)
    except (ConfigError, LoadError, ValueError, KeyError, RuntimeError) as exc:
        print(f"openfinops: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
