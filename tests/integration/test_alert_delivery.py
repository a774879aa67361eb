"""Alert detection and delivery against real receivers on loopback: an HTTP server (Slack incoming webhook + generic
webhook) and an aiosmtpd SMTP server with a login. The marts are the alert code's input: each test builds
``marts.fct_budget_status`` and ``marts.fct_cost_anomalies`` (the dbt contract's columns and types) with hand-built
rows in a throw-away database, so every expected message is known exactly."""

from __future__ import annotations

import json
import logging
import re
import time
from decimal import Decimal

import psycopg
import pytest
import yaml

from collectors.core.http_retry import RetryPolicy
from openfinops import alerts, pipeline
from openfinops.alert_sink import AlertSink
from openfinops.config import OpenFinOpsConfig
from tests.conftest import run_cli
from tests.fakes.alert_receivers import HttpReceiver, SmtpReceiver

SLACK_TOKEN = "xoxSecretSlackToken9f8e7d"
WEBHOOK_TOKEN = "whk-secret-4c1b2a90"
SMTP_PASSWORD = "smtp-pa55-word-7x"
SMTP_CONN = "test_alert_smtp"
SLACK_PATH = f"/slack/services/T0SECRET1/B0SECRET2/{SLACK_TOKEN}"
WEBHOOK_PATH = f"/hooks/openfinops?token={WEBHOOK_TOKEN}"
# the SMTP receiver asks for a login over plain SMTP on loopback, on purpose
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
FAST = RetryPolicy(max_retries=2, base_seconds=0.05, max_seconds=5.0)

MARTS_DDL = """
CREATE SCHEMA IF NOT EXISTS marts;
DROP TABLE IF EXISTS marts.fct_budget_status;
DROP TABLE IF EXISTS marts.fct_cost_anomalies;
CREATE TABLE marts.fct_budget_status (
    budget_id text, budget_name text, period text, period_start date, period_end date, billing_currency text,
    budget_amount numeric, actual_cost numeric, forecast_cost numeric, utilisation_pct numeric(12, 2),
    forecast_utilisation_pct numeric(12, 2), thresholds int[], forecast_thresholds int[],
    highest_threshold_crossed int, highest_forecast_threshold_crossed int, status text, as_of_date date
);
CREATE TABLE marts.fct_cost_anomalies (
    anomaly_key text, charge_date date, provider_name text, sub_account_id text, service_name text,
    billing_currency text, actual_cost numeric, baseline_cost numeric, deviation_cost numeric, robust_z numeric,
    is_anomaly boolean, severity text
);
"""
D = Decimal
# budget_id, name, period, start, end (exclusive), currency, amount, actual, forecast, util %, forecast util %,
# thresholds, forecast thresholds, highest, highest forecast, status
BUDGET_ROWS = [
    # open month: actual 85.12 % crosses 50 and 80; forecast 120.50 % crosses the 100 forecast threshold
    ("team-a-monthly", "Team A, monthly", "monthly", "2026-11-01", "2026-12-01", "USD", D("10000.00"),
     D("8512.345"), D("12050.10"), D("85.12"), D("120.50"), [50, 80, 100], [100], 80, 100, "forecast_exceeded"),
    # closed quarter at 105 %: actual 50, 80, 100; its forecast (= actual) adds nothing once actual is there
    ("eu-quarterly", "EU & <ops>, quarterly", "quarterly", "2026-07-01", "2026-10-01", "EUR", D("30000"),
     D("31500.00"), D("31500.00"), D("105.00"), D("105.00"), [50, 80, 100], [100], 100, 100, "exceeded"),
    # open quarter below every threshold
    ("eu-quarterly", "EU & <ops>, quarterly", "quarterly", "2026-10-01", "2027-01-01", "EUR", D("30000"),
     D("9000.00"), D("27000.00"), D("30.00"), D("90.00"), [50, 80, 100], [100], None, None, "ok"),
]
ANOMALY_ROWS = [
    ("k-ec2-1103", "2026-11-03", "AWS", "210000000011", "Amazon EC2", "USD", D("5432.10"), D("1234.56"),
     D("4197.54"), D("12.30"), True, "critical"),
    ("k-bq-1104", "2026-11-04", "Google Cloud", "proj-data", "BigQuery", "USD", D("900.004"), D("300.00"),
     D("600.004"), D("7.50"), True, "high"),
    ("k-s3-1104", "2026-11-04", "AWS", "210000000012", "Amazon S3", "USD", D("450.00"), D("200.00"),
     D("250.00"), D("5.20"), True, "medium"),
    ("k-vm-1104", "2026-11-04", "Microsoft Azure", "sub-1", "Virtual Machines", "USD", D("100.00"), D("99.00"),
     D("1.00"), D("0.10"), False, None),
]
SLACK_ALERTS = ["team-a-monthly:2026-11-01:actual:50", "team-a-monthly:2026-11-01:actual:80",
                "team-a-monthly:2026-11-01:forecast:100"]
EU_ALERTS = ["eu-quarterly:2026-07-01:actual:50", "eu-quarterly:2026-07-01:actual:80",
             "eu-quarterly:2026-07-01:actual:100"]
ANOMALY_ALERTS = ["k-ec2-1103", "k-bq-1104"]


def load_marts(url: str, budget_rows=BUDGET_ROWS, anomaly_rows=ANOMALY_ROWS) -> None:
    """(Re-)create the two marts with these rows, as a dbt rebuild (or a back-fill) does."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(MARTS_DDL)
        cur.executemany("INSERT INTO marts.fct_budget_status VALUES "
                        "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", budget_rows)
        cur.executemany("INSERT INTO marts.fct_cost_anomalies VALUES "
                        "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", anomaly_rows)


def make_config(slack_url: str, webhook_url: str, smtp_conn: str = SMTP_CONN) -> OpenFinOpsConfig:
    return OpenFinOpsConfig.model_validate({
        "sources": [{"id": "demo-aws", "type": "demo"}],
        "budgets": [
            {"id": "team-a-monthly", "name": "Team A, monthly", "amount": 10000, "currency": "USD",
             "channels": ["team-slack", "finops-webhook", "finops-email"]},
            {"id": "eu-quarterly", "name": "EU & <ops>, quarterly", "amount": 30000, "currency": "EUR",
             "period": "quarterly", "channels": ["finops-webhook"]},
        ],
        "anomalies": {"alert_min_severity": "high", "channels": ["finops-webhook", "finops-email"]},
        "alert_channels": [
            {"id": "team-slack", "type": "slack", "url": slack_url},
            {"id": "finops-webhook", "type": "webhook", "url": webhook_url},
            {"id": "finops-email", "type": "email", "to": ["finops@example.com", "cfo@example.com"],
             "connection_id": smtp_conn},
        ],
    })


def smtp_connection(port: int, login: str | None = "alerts", password: str | None = SMTP_PASSWORD) -> str:
    conn = {"conn_type": "smtp", "host": "127.0.0.1", "port": port,
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "openfinops@example.com",
                      "retry_limit": 0, "timeout": 10}}
    if login:
        conn.update(login=login, password=password)
    return json.dumps(conn)


@pytest.fixture
def setup(monkeypatch, empty_db):
    http = HttpReceiver()
    smtp = SmtpReceiver("alerts", SMTP_PASSWORD)
    monkeypatch.setenv(f"AIRFLOW_CONN_{SMTP_CONN.upper()}", smtp_connection(smtp.port))
    load_marts(empty_db)
    cfg = make_config(http.base_url + SLACK_PATH, http.base_url + WEBHOOK_PATH)
    yield cfg, empty_db, http, smtp
    http.close()
    smtp.close()


def run(cfg, url, **kwargs):
    with psycopg.connect(url) as conn:
        detected = alerts.detect(cfg, conn, detected_by="test-run")
        report = alerts.deliver(cfg, conn, sent_by="test-run", policy=kwargs.pop("policy", FAST), **kwargs)
    return detected, report


def notifications(url) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("""SELECT alert_type, alert_key, channel_id, channel_type, target, attempts, payload
                               FROM alerts.notifications ORDER BY 1, 2, 3""").fetchall()


def detected_at(url, key) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("""SELECT detected_at FROM alerts.budget_threshold_crossings
                              WHERE budget_id || ':' || to_char(period_start, 'YYYY-MM-DD') || ':' || kind || ':'
                                    || threshold_pct = %s
                              UNION ALL SELECT detected_at FROM alerts.cost_anomalies WHERE anomaly_key = %s""",
                           (key, key)).fetchone()
    return row[0].isoformat()


def webhook_keys(http) -> list[str]:
    return [r.body["alert_key"] for r in http.to(WEBHOOK_PATH)]


def test_each_new_alert_reaches_each_channel_once_with_its_exact_content(setup):
    cfg, url, http, smtp = setup
    detected, report = run(cfg, url)

    assert sorted((b, str(p), t, k) for b, p, t, k, _, _history in detected.crossings) == sorted(
        [("team-a-monthly", "2026-11-01", 50, "actual"), ("team-a-monthly", "2026-11-01", 80, "actual"),
         ("team-a-monthly", "2026-11-01", 100, "forecast"), ("eu-quarterly", "2026-07-01", 50, "actual"),
         ("eu-quarterly", "2026-07-01", 80, "actual"), ("eu-quarterly", "2026-07-01", 100, "actual")])
    assert [(a[0], a[4]) for a in detected.anomalies] == [("k-ec2-1103", "critical"), ("k-bq-1104", "high")]
    # one message per (alert, channel): team-a x 3 channels, eu x webhook, anomalies x (webhook, e-mail)
    assert [r.body["text"].split(".")[0] for r in http.to(SLACK_PATH)] == [
        "Budget 'Team A, monthly' reached 50%", "Budget 'Team A, monthly' reached 80%",
        "Budget 'Team A, monthly' is forecast to reach 100%"]
    assert sorted(webhook_keys(http)) == sorted(SLACK_ALERTS + EU_ALERTS + ANOMALY_ALERTS)
    assert len(smtp.messages) == 5 and len(report.sent) == 16 and not report.failures
    assert {(t, k, c) for t, k, c, _ in report.sent} == {
        (t, k, c) for t, k, c, *_ in notifications(url)}

    # Slack: text + blocks
    forecast = http.to(SLACK_PATH)[2].body
    summary = ("Forecast spend to the end of the period of 12,050.10 USD is 120.50% of the 10,000.00 USD budget "
               "'Team A, monthly' for 2026-11-01 to 2026-11-30 (monthly): the 100% forecast threshold is crossed. "
               "Actual spend so far: 8,512.35 USD (85.12%).")
    assert forecast == {
        "text": f"Budget 'Team A, monthly' is forecast to reach 100%. {summary}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text",
                                        "text": "Budget 'Team A, monthly' is forecast to reach 100%"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": "*Budget*\nTeam A, monthly (team-a-monthly)"},
                {"type": "mrkdwn", "text": "*Period*\n2026-11-01 to 2026-11-30 (monthly)"},
                {"type": "mrkdwn", "text": "*Threshold*\n100% (forecast)"},
                {"type": "mrkdwn", "text": "*Budget amount*\n10,000.00 USD"},
                {"type": "mrkdwn", "text": "*Actual spend*\n8,512.35 USD (85.12%)"},
                {"type": "mrkdwn", "text": "*Forecast to period end*\n12,050.10 USD (120.50%)"}]},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": "OpenFinOps budget_threshold team-a-monthly:2026-11-01:forecast:100"}]},
        ]}

    # Webhook: flat JSON, exact decimal strings, currency
    by_key = {r.body["alert_key"]: r for r in http.to(WEBHOOK_PATH)}
    eu = by_key["eu-quarterly:2026-07-01:actual:100"]
    assert eu.body == {
        "source": "openfinops", "alert_type": "budget_threshold", "alert_key": "eu-quarterly:2026-07-01:actual:100",
        "title": "Budget 'EU & <ops>, quarterly' reached 100%",
        "summary": "Actual spend of 31,500.00 EUR is 105.00% of the 30,000.00 EUR budget 'EU & <ops>, quarterly' for "
                   "2026-07-01 to 2026-09-30 (quarterly): the 100% threshold is crossed.",
        "currency": "EUR", "detected_at": detected_at(url, "eu-quarterly:2026-07-01:actual:100"),
        "budget_id": "eu-quarterly", "budget_name": "EU & <ops>, quarterly", "period": "quarterly",
        "period_start": "2026-07-01", "period_end": "2026-10-01", "kind": "actual", "threshold_pct": 100,
        "budget_amount": "30000", "actual_cost": "31500.00", "utilisation_pct": "105.00",
        "forecast_cost": "31500.00", "forecast_utilisation_pct": "105.00"}
    assert eu.headers["Content-Type"] == "application/json"
    assert eu.headers["Idempotency-Key"] == "budget_threshold:eu-quarterly:2026-07-01:actual:100"
    bq = by_key["k-bq-1104"].body
    assert bq == {
        "source": "openfinops", "alert_type": "cost_anomaly", "alert_key": "k-bq-1104",
        "title": "Cost anomaly (high): BigQuery on Google Cloud, 2026-11-04",
        "summary": "BigQuery in Google Cloud sub account proj-data cost 900.00 USD on 2026-11-04, 600.00 USD above "
                   "its baseline of 300.00 USD (robust z-score 7.50, severity high).",
        "currency": "USD", "detected_at": detected_at(url, "k-bq-1104"), "anomaly_key": "k-bq-1104",
        "charge_date": "2026-11-04", "provider_name": "Google Cloud", "sub_account_id": "proj-data",
        "service_name": "BigQuery", "severity": "high", "actual_cost": "900.004", "baseline_cost": "300.00",
        "deviation_cost": "600.004", "robust_z": "7.50"}

    # E-mail: subject and plain-text body, to both recipients, from the connection's from_email
    mails = {m["Subject"].strip(): m for m in smtp.messages}  # a long Subject is folded (the parser keeps a space)
    ec2 = mails["[OpenFinOps] Cost anomaly (critical): Amazon EC2 on AWS, 2026-11-03"]
    assert ec2.get_content_type() == "text/plain"
    assert ec2.get_content() == (
        "Amazon EC2 in AWS sub account 210000000011 cost 5,432.10 USD on 2026-11-03, 4,197.54 USD above its "
        "baseline of 1,234.56 USD (robust z-score 12.30, severity critical).\n"
        "\n"
        "Provider:      AWS\n"
        "Sub account:   210000000011\n"
        "Service:       Amazon EC2\n"
        "Charge date:   2026-11-03\n"
        "Actual cost:   5,432.10 USD\n"
        "Baseline cost: 1,234.56 USD\n"
        "Deviation:     4,197.54 USD\n"
        "Severity:      critical (robust z-score 12.30)\n"
        "\n"
        "Alert: cost_anomaly k-ec2-1103\n"
        "Sent once per alert and channel by OpenFinOps (alerts.notifications).\n")
    assert ec2["From"] == "openfinops@example.com" and ec2["To"] == "finops@example.com, cfo@example.com"
    assert ec2["Message-ID"].endswith(".cost_anomaly@openfinops>")
    assert smtp.envelopes[0] == ("openfinops@example.com", ["finops@example.com", "cfo@example.com"])
    assert sorted(mails) == sorted([
        "[OpenFinOps] Budget 'Team A, monthly' reached 50%", "[OpenFinOps] Budget 'Team A, monthly' reached 80%",
        "[OpenFinOps] Budget 'Team A, monthly' is forecast to reach 100%",
        "[OpenFinOps] Cost anomaly (critical): Amazon EC2 on AWS, 2026-11-03",
        "[OpenFinOps] Cost anomaly (high): BigQuery on Google Cloud, 2026-11-04"])
    assert "Actual spend:           8,512.35 USD (85.12%)\n" in mails[
        "[OpenFinOps] Budget 'Team A, monthly' reached 80%"].get_content()

    # alerts.notifications keeps what was sent, with a redacted target
    rows = {(r[1], r[2]): r for r in notifications(url)}
    assert rows[("eu-quarterly:2026-07-01:actual:100", "finops-webhook")][6] == eu.body
    assert rows[("team-a-monthly:2026-11-01:forecast:100", "team-slack")][6] == forecast
    assert rows[("k-ec2-1103", "finops-email")][6]["body"] == ec2.get_content()
    assert {r[4] for r in rows.values()} == {f"{http.base_url}/***",
                                             f"smtp connection {SMTP_CONN} to finops@example.com, cfo@example.com"}
    assert {r[5] for r in rows.values()} == {1}

    # a second run sends nothing new
    detected, report = run(cfg, url)
    assert detected.crossings == [] and detected.anomalies == [] and report.sent == []
    assert len(http.requests) == 11 and len(smtp.messages) == 5 and len(notifications(url)) == 16
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM alerts.budget_threshold_crossings "
                            "WHERE delivered_at IS NULL").fetchone()[0] == 0


def test_a_backfill_recreating_the_same_mart_rows_sends_nothing_new(setup):
    cfg, url, http, smtp = setup
    run(cfg, url)
    sent = (len(http.requests), len(smtp.messages))
    # dbt rebuilds the marts (a back-fill of the same days): same keys, slightly restated figures
    restated = [(*r[:7], r[7] + D("10.00"), *r[8:]) for r in BUDGET_ROWS]
    load_marts(url, restated, ANOMALY_ROWS)
    detected, report = run(cfg, url)
    assert (detected.crossings, detected.anomalies, report.sent) == ([], [], [])
    with psycopg.connect(url) as conn:
        assert pipeline.record_budget_alerts(conn) == []  # the first release's entry point agrees
    assert (len(http.requests), len(smtp.messages)) == sent

    # spend goes on and crosses 100 %: exactly that one alert, to each of the budget's three channels
    grown = [(*BUDGET_ROWS[0][:7], D("10100.00"), D("12500.00"), D("101.00"), D("125.00"), *BUDGET_ROWS[0][11:]),
             *BUDGET_ROWS[1:]]
    load_marts(url, grown, ANOMALY_ROWS)
    detected, report = run(cfg, url)
    new_key = "team-a-monthly:2026-11-01:actual:100"
    assert [(t, k, c) for t, k, c, _ in report.sent] == [
        ("budget_threshold", new_key, "finops-email"), ("budget_threshold", new_key, "finops-webhook"),
        ("budget_threshold", new_key, "team-slack")]
    assert http.to(SLACK_PATH)[-1].body["text"] == (
        "Budget 'Team A, monthly' reached 100%. Actual spend of 10,100.00 USD is 101.00% of the 10,000.00 USD "
        "budget 'Team A, monthly' for 2026-11-01 to 2026-11-30 (monthly): the 100% threshold is crossed.")
    assert (len(http.requests), len(smtp.messages)) == (sent[0] + 2, sent[1] + 1)


def test_transient_failures_are_retried_and_recorded_with_their_attempts(setup):
    cfg, url, http, smtp = setup
    http.script(WEBHOOK_PATH, [(500, {}, "boom"), (200, {}, "")])
    http.script(SLACK_PATH, [(429, {"Retry-After": "1", "Content-Type": "text/plain"}, "rate_limited"),
                             (200, {}, "ok")])
    smtp.fail_data = 1  # 451 4.3.0 once
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        time.sleep(seconds)

    _, report = run(cfg, url, sleep=sleep)
    assert not report.failures and len(report.sent) == 16
    attempts = {(k, c): n for _, k, c, n in report.sent}
    first_webhook, first_slack = webhook_keys(http)[0], SLACK_ALERTS[0]
    assert attempts[(first_webhook, "finops-webhook")] == 2
    assert attempts[(first_slack, "team-slack")] == 2
    assert sorted(n for n in attempts.values() if n > 1) == [2, 2, 2]  # webhook, slack, e-mail: one retry each
    # the same message was sent again; Slack's Retry-After (1 s) was honoured, back-off for the others
    webhook_requests = http.to(WEBHOOK_PATH)
    assert webhook_requests[0].body == webhook_requests[1].body
    slack_requests = http.to(SLACK_PATH)
    assert slack_requests[0].body == slack_requests[1].body
    assert slack_requests[1].at - slack_requests[0].at >= 1.0
    assert sorted(waits) == [0.05, 0.05, 1.0]
    assert len(smtp.messages) == 5
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT attempts FROM alerts.notifications WHERE channel_id = 'team-slack' "
                            "AND alert_key = %s", (first_slack,)).fetchone()[0] == 2


def test_a_channel_that_keeps_failing_fails_delivery_after_the_others_are_sent(setup, caplog, capfd):
    cfg, url, http, smtp = setup
    caplog.set_level(logging.DEBUG)
    http.script(WEBHOOK_PATH, [(500, {"Content-Type": "text/plain"}, f"internal error near {WEBHOOK_TOKEN}")])
    with pytest.raises(alerts.DeliveryError) as failed:
        run(cfg, url)
    message = str(failed.value)
    first = webhook_keys(http)[0]
    assert f"channel finops-webhook (webhook {http.base_url}/***)" in message
    assert f"{first} not delivered after 3 attempt(s): HTTP 500 Internal Server Error" in message
    assert "7 more message(s) to this channel left for the next run" in message
    assert len(http.to(WEBHOOK_PATH)) == 3  # bounded retries, then the channel is left alone for this run
    # every other channel's messages were sent and recorded
    recorded = notifications(url)
    assert sorted(c for _, _, c, *_ in recorded) == ["finops-email"] * 5 + ["team-slack"] * 3
    assert len(smtp.messages) == 5 and len(http.to(SLACK_PATH)) == 3

    # the failed message is recorded in alerts.delivery_failures (own transaction), redacted
    with psycopg.connect(url) as conn:
        failures = conn.execute("""SELECT alert_type, alert_key, channel_id, channel_type, target, attempts, error,
                                          sent_by, failed_at IS NOT NULL
                                   FROM alerts.delivery_failures""").fetchall()
    assert failures == [("budget_threshold", first, "finops-webhook", "webhook", f"{http.base_url}/***", 3,
                         "HTTP 500 Internal Server Error: internal error near ***", "test-run", True)]

    # nothing secret anywhere: logs (every level), stdout/stderr, the error, the alerts tables
    out, err = capfd.readouterr()
    with psycopg.connect(url) as conn:
        tables = "\n".join(
            row[0] for table in ("budget_threshold_crossings", "cost_anomalies", "notifications", "delivery_failures")
            for row in conn.execute(f"SELECT row_to_json(t)::text FROM alerts.{table} AS t").fetchall())
    # urllib3's request line: the path redacted by the channel's Redactor, the query string (if any is left) by the
    # HTTP layer's own query-string filter (collectors.core.http_retry)
    assert any(r.name == "urllib3.connectionpool" and re.search(r"POST \*\*\*(\?<redacted>)? HTTP/1\.1", r.getMessage())
               for r in caplog.records)
    for text in (caplog.text, out, err, message, tables, failed.value.report.summary()):
        for secret in (SLACK_TOKEN, WEBHOOK_TOKEN, SMTP_PASSWORD, "T0SECRET1", "B0SECRET2"):
            assert secret not in text

    # the receiver is back: the next run sends only the webhook's messages (and records no new failure)
    http.script(WEBHOOK_PATH, [(200, {}, "")])
    _, report = run(cfg, url)
    assert {c for _, _, c, _ in report.sent} == {"finops-webhook"} and len(report.sent) == 8
    assert len(smtp.messages) == 5 and len(http.to(SLACK_PATH)) == 3
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM alerts.delivery_failures").fetchone()[0] == 1


def test_a_permanent_error_is_not_retried_and_a_missing_connection_is_named(setup, monkeypatch):
    cfg, url, http, smtp = setup
    http.script(SLACK_PATH, [(404, {}, "no_service")])
    monkeypatch.delenv(f"AIRFLOW_CONN_{SMTP_CONN.upper()}")
    with pytest.raises(alerts.DeliveryError) as failed:
        run(cfg, url)
    message = str(failed.value)
    assert "channel team-slack" in message and "after 1 attempt(s): HTTP 404: no_service" in message
    assert f"channel finops-email (email smtp connection {SMTP_CONN}" in message
    assert f"Airflow connection '{SMTP_CONN}' could not be read" in message
    assert len(http.to(SLACK_PATH)) == 1 and len(http.to(WEBHOOK_PATH)) == 8


def test_the_demo_alert_sink_receives_what_the_cli_sends(empty_db, tmp_path, monkeypatch):
    """``openfinops alerts`` (detect + deliver) into ``openfinops alert-sink``'s receivers and inbox files."""
    load_marts(empty_db)
    with AlertSink(tmp_path / "inbox", http_port=0, smtp_port=0) as sink:
        base = f"http://127.0.0.1:{sink.http_port}"
        cfg = make_config(f"{base}/slack/services/T0/B0/demo", f"{base}/openfinops-alerts", "openfinops_smtp")
        config_file = tmp_path / "openfinops.yaml"
        config_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude_defaults=True)))
        env = {"AIRFLOW_CONN_OPENFINOPS_SMTP": smtp_connection(sink.smtp_port, login=None)}
        proc = run_cli("--config", str(config_file), "alerts", url=empty_db, extra_env=env)
        assert "6 new budget threshold crossing(s)" in proc.stdout and "2 new cost anomaly(ies)" in proc.stdout
        assert "16 alert message(s) sent and recorded in alerts.notifications, 0 failed" in proc.stdout
        monkeypatch.setenv("AIRFLOW_CONN_OPENFINOPS_SMTP", env["AIRFLOW_CONN_OPENFINOPS_SMTP"])
        assert run(cfg, empty_db)[1].sent == []  # the same alerts again: nothing new
        slack, webhook, email = (sink.inbox.read(k) for k in ("slack", "webhook", "email"))
    assert [m["body"]["blocks"][0]["text"]["text"] for m in slack] == [
        "Budget 'Team A, monthly' reached 50%", "Budget 'Team A, monthly' reached 80%",
        "Budget 'Team A, monthly' is forecast to reach 100%"]
    assert sorted(m["body"]["alert_key"] for m in webhook) == sorted(SLACK_ALERTS + EU_ALERTS + ANOMALY_ALERTS)
    assert all(m["idempotency_key"] == f"{m['body']['alert_type']}:{m['body']['alert_key']}" for m in webhook)
    assert len(email) == 5 and email[0]["rcpt_tos"] == ["finops@example.com", "cfo@example.com"]
    assert email[0]["subject"].startswith("[OpenFinOps] ") and "Alert: " in email[0]["body"]


def test_channels_given_as_airflow_connections(setup, monkeypatch):
    """``connection_id`` instead of ``url``: a Slack Incoming Webhook connection (token in the password) and an HTTP
    connection whose extra carries an Authorization header."""
    cfg, url, http, smtp = setup
    monkeypatch.setenv("AIRFLOW_CONN_TEAM_SLACK", json.dumps({
        "conn_type": "slackwebhook", "host": f"{http.base_url}/slack/services",
        "password": f"T0SECRET1/B0SECRET2/{SLACK_TOKEN}"}))
    monkeypatch.setenv("AIRFLOW_CONN_FINOPS_HOOK", json.dumps({
        "conn_type": "http", "host": f"{http.base_url}{WEBHOOK_PATH}",
        "extra": {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}}))
    channels = [c.model_dump() for c in cfg.alert_channels]
    channels[0].update(url=None, connection_id="team_slack")
    channels[1].update(url=None, connection_id="finops_hook")
    cfg = cfg.model_copy(update={"alert_channels": [type(cfg.alert_channels[0]).model_validate(c) for c in channels]})
    _, report = run(cfg, url)
    assert len(report.sent) == 16
    assert len(http.to(SLACK_PATH)) == 3 and len(http.to(WEBHOOK_PATH)) == 8
    assert http.to(WEBHOOK_PATH)[0].headers["Authorization"] == f"Bearer {WEBHOOK_TOKEN}"
    assert {r[4] for r in notifications(url)} >= {"connection team_slack", "connection finops_hook"}


def test_alerts_about_closed_periods_and_old_days_are_recorded_as_history_not_sent(setup):
    """A first load / back-fill: the latest cost data is Nov 4; alerts.notify_within_days is 7 (the default). The EU
    quarter that ended on Sep 30 and an anomaly of Sep 1 are recorded with a reason and never sent; the open month
    and the Nov 3 anomaly are sent."""
    cfg, url, http, smtp = setup
    old = ("k-old-0901", "2026-09-01", "AWS", "210000000011", "Amazon EC2", "USD", D("9000.00"), D("1000.00"),
           D("8000.00"), D("20.00"), True, "critical")
    load_marts(url, anomaly_rows=[*ANOMALY_ROWS, old])
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE marts.fct_budget_status SET as_of_date = least(period_end - 1, date '2026-11-04')")
    assert cfg.alerts.notify_within_days == 7
    detected, report = run(cfg, url)
    assert sorted(webhook_keys(http)) == sorted(SLACK_ALERTS + ANOMALY_ALERTS)
    assert not report.failures and len(report.sent) == 3 * 3 + 2 * 2  # team-a x 3 channels, anomalies x 2
    with psycopg.connect(url) as conn:
        history = conn.execute("""
            SELECT budget_id || ':' || period_start || ':' || kind || ':' || threshold_pct, suppressed_reason
            FROM alerts.budget_threshold_crossings WHERE suppressed_reason IS NOT NULL
            UNION ALL SELECT anomaly_key, suppressed_reason FROM alerts.cost_anomalies
            WHERE suppressed_reason IS NOT NULL ORDER BY 1""").fetchall()
    assert [k for k, _ in history] == sorted(EU_ALERTS) + ["k-old-0901"]
    assert history[0][1] == ("history: the period ended on 2026-09-30, more than 7 days before the latest cost data "
                             "(2026-11-04)")
    assert history[-1][1] == "history: 2026-09-01 is more than 7 days before the latest cost data (2026-11-04)"
    assert "not sent (history" in detected.describe() and "4 of them history" in detected.describe()
    # a later run sends nothing of the history either
    _, again = run(cfg, url)
    assert again.sent == []


def test_anomalies_of_one_provider_on_one_day_are_one_message_listing_the_lines(setup):
    """A day's AWS spike split over three sub account x service lines is one message per channel (lines largest
    deviation first), recorded as one notification row per line; a line detected later is a follow-up message."""
    cfg, url, http, smtp = setup
    spike = [(f"k-aws-{n}", "2026-11-04", "AWS", f"21000000001{n}", service, "USD", actual, D("100.00"),
              actual - D("100.00"), D("9.00"), True, "critical")
             for n, service, actual in ((1, "Amazon EC2", D("2100.00")), (2, "Amazon S3", D("600.00")),
                                        (3, "AWS Lambda", D("5100.00")))]
    gcp = ("k-bq-1104", "2026-11-04", "Google Cloud", "proj-data", "BigQuery", "USD", D("900.004"), D("300.00"),
           D("600.004"), D("7.50"), True, "high")
    load_marts(url, budget_rows=[], anomaly_rows=[*spike, gcp])
    _, report = run(cfg, url)
    bodies = [r.body for r in http.to(WEBHOOK_PATH)]
    assert len(bodies) == 2 and len(smtp.messages) == 2 and not report.failures
    incident = next(b for b in bodies if b.get("incident"))
    assert incident["title"] == "Cost anomaly (critical): 3 cost lines on AWS, 2026-11-04"
    assert [line["anomaly_key"] for line in incident["lines"]] == ["k-aws-3", "k-aws-1", "k-aws-2"]
    assert [line["deviation_cost"] for line in incident["lines"]] == ["5000.00", "2000.00", "500.00"]
    assert "7,500.00 USD in all" in incident["summary"]
    assert next(b for b in bodies if not b.get("incident"))["anomaly_key"] == "k-bq-1104"
    email = next(m for m in smtp.messages if "3 cost lines" in m["Subject"])
    assert "AWS Lambda / 210000000013" in email.get_content()
    rows = notifications(url)
    assert sorted((k, c) for _, k, c, *_ in rows) == sorted(
        (k, c) for k in ("k-aws-1", "k-aws-2", "k-aws-3", "k-bq-1104") for c in ("finops-email", "finops-webhook"))
    # one more line of the same day, detected by a later run: a follow-up message with just that line
    late = ("k-aws-4", "2026-11-04", "AWS", "210000000014", "Amazon RDS", "USD", D("800.00"), D("100.00"),
            D("700.00"), D("8.00"), True, "high")
    load_marts(url, budget_rows=[], anomaly_rows=[*spike, gcp, late])
    _, again = run(cfg, url)
    assert sorted((k, c) for _, k, c, _ in again.sent) == [("k-aws-4", "finops-email"), ("k-aws-4", "finops-webhook")]


def test_a_channel_pointed_at_a_new_target_gets_the_recent_alerts_once(setup):
    """compose / make demo start with the channels on the local sink; when the real webhook URL is configured later,
    the alerts already "sent" to the sink go to the real target too (once), and the other channels send nothing."""
    cfg, url, http, smtp = setup
    sink_path = "/alert-sink/openfinops-alerts"
    on_sink = cfg.model_copy(update={"alert_channels": [
        c.model_copy(update={"url": http.base_url + sink_path}) if c.id == "finops-webhook" else c
        for c in cfg.alert_channels]})
    run(on_sink, url)
    sink_keys = sorted(r.body["alert_key"] for r in http.to(sink_path))
    assert sink_keys == sorted(SLACK_ALERTS + EU_ALERTS + ANOMALY_ALERTS) and webhook_keys(http) == []
    slack_before, mails_before = len(http.to(SLACK_PATH)), len(smtp.messages)
    _, report = run(cfg, url)  # the real URL now
    assert sorted(webhook_keys(http)) == sink_keys
    assert {c for _, _, c, _ in report.sent} == {"finops-webhook"}
    assert (len(http.to(SLACK_PATH)), len(smtp.messages)) == (slack_before, mails_before)
    _, again = run(cfg, url)
    assert again.sent == [] and sorted(webhook_keys(http)) == sink_keys
    with psycopg.connect(url) as conn:
        targets = conn.execute("SELECT count(DISTINCT target_fingerprint) FROM alerts.notifications "
                               "WHERE channel_id = 'finops-webhook'").fetchone()[0]
        stored = conn.execute("SELECT count(*) FROM alerts.notifications WHERE target_fingerprint LIKE %s "
                              "OR target LIKE %s", (f"%{WEBHOOK_TOKEN}%", f"%{WEBHOOK_TOKEN}%")).fetchone()[0]
    assert targets == 2 and stored == 0


def test_rows_recorded_before_targets_were_fingerprinted_count_as_sent(setup):
    cfg, url, http, smtp = setup
    run(cfg, url)
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE alerts.notifications SET target_fingerprint = NULL")  # as an older version wrote them
    moved = cfg.model_copy(update={"alert_channels": [
        c.model_copy(update={"url": http.base_url + "/moved"}) if c.id == "finops-webhook" else c
        for c in cfg.alert_channels]})
    _, report = run(moved, url)
    assert report.sent == [] and http.to("/moved") == []


def test_a_load_that_rejected_records_is_an_alert_naming_source_window_and_first_reject(setup):
    """Rejects below the limit are loaded around, and the people on anomalies.channels (the default data-quality
    channels) are told: source, dataset, window, how many, and the first reject (file:line, field, reason)."""
    from datetime import date

    from collectors.core.base import Window
    from openfinops.loader import Loader, LoadError
    from tests.fakes.collectors import BadRecords

    cfg, url, http, smtp = setup
    load_marts(url, budget_rows=[], anomaly_rows=[])
    window = Window.from_dates(date(2026, 11, 1), date(2026, 11, 2))
    with psycopg.connect(url) as conn:
        Loader(conn, max_reject_ratio=0.05).load(BadRecords(3), window)
        with pytest.raises(LoadError):
            Loader(conn, max_reject_ratio=0.001).load(BadRecords(30), window)
    detected, report = run(cfg, url)
    assert sorted(n for _, _, _, n, _ in detected.rejects) == [3, 30]
    bodies = sorted((r.body for r in http.to(WEBHOOK_PATH)), key=lambda b: b["rows_rejected"])
    assert [(b["alert_type"], b["source_id"], b["dataset"], b["load_status"], b["rows_rejected"]) for b in bodies] \
        == [("load_rejects", "bad-source", "cost_line_items", "success", 3),
            ("load_rejects", "bad-source", "cost_line_items", "failed", 30)]
    assert bodies[0]["first_record"] == "line 2" and bodies[0]["first_field"] == "BilledCost"
    assert "window keeps its previous rows" in bodies[1]["summary"]
    assert len(smtp.messages) == 2 and not report.failures
    _, again = run(cfg, url)
    assert again.sent == []
