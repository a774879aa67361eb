"""A local alert receiver for the demo and the tests: nothing leaves the machine.

* HTTP on 127.0.0.1:8099 (default): ``POST /slack/...`` (a Slack incoming webhook; answers like Slack: 200 ``ok``)
  and ``POST /openfinops-alerts`` (the generic webhook); ``GET /health`` answers ``ok``.
* SMTP on 127.0.0.1:8025 (default, aiosmtpd; no TLS, no login).

Every message received is appended as one JSON line to ``<inbox>/slack.jsonl``, ``webhook.jsonl`` or
``email.jsonl`` (default inbox: ``.openfinops/alerts-inbox/``). Run it with ``bin/openfinops alert-sink``;
``make demo`` starts it (``scripts/alert_sink.sh``) and points the demo's channels at it.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from datetime import UTC, datetime
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SLACK_PREFIX = "/slack/"
WEBHOOK_PATH = "/openfinops-alerts"


class Inbox:
    """Thread-safe JSON-lines files, one per kind of message."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def append(self, kind: str, record: dict[str, Any]) -> None:
        record = {"received_at": datetime.now(UTC).isoformat(), **record}
        with self._lock, (self.directory / f"{kind}.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def read(self, kind: str) -> list[dict[str, Any]]:
        path = self.directory / f"{kind}.jsonl"
        if not path.exists():
            return []
        with self._lock:
            return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _handler(inbox: Inbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "openfinops-alert-sink"

        def _answer(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._answer(200, "ok")
            else:
                self._answer(404, "not found")

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if path.startswith(SLACK_PREFIX):
                kind = "slack"
            elif path.rstrip("/") == WEBHOOK_PATH:
                kind = "webhook"
            else:
                self._answer(404, "no_service")
                return
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body: Any = json.loads(raw)
            except ValueError:
                self._answer(400, "invalid_payload")
                return
            # The path is not kept: a real Slack URL's path is its secret.
            inbox.append(kind, {"idempotency_key": self.headers.get("Idempotency-Key"), "body": body})
            self._answer(200, "ok")

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("alert sink: %s %s", self.command, (self.path or "/").split("/")[1])

    return Handler


class _SmtpHandler:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server, session, envelope) -> str:
        message = message_from_bytes(envelope.content.replace(b"\r\n", b"\n"), policy=policy.default)
        body = message.get_body(("plain",))
        self.inbox.append("email", {
            "mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
            "subject": str(message["Subject"] or "").strip(), "from": message["From"], "to": message["To"],
            "message_id": message["Message-ID"], "body": body.get_content() if body is not None else "",
        })
        return "250 Message accepted for delivery"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (aiosmtpd cannot bind port 0: it connects to its own port to start)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class AlertSink:
    """HTTP + SMTP receivers in background threads; port 0 picks a free port. ``start()`` returns once both
    listen."""

    def __init__(self, inbox: Path, host: str = "127.0.0.1", http_port: int = 8099, smtp_port: int = 8025) -> None:
        self.inbox = Inbox(inbox)
        self.host = host
        self.http_port = http_port
        self.smtp_port = smtp_port
        self._http: ThreadingHTTPServer | None = None
        self._smtp = None

    def start(self) -> AlertSink:
        from aiosmtpd.controller import Controller

        self._http = ThreadingHTTPServer((self.host, self.http_port), _handler(self.inbox))
        self.http_port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, name="alert-sink-http", daemon=True).start()
        self.smtp_port = self.smtp_port or free_port(self.host)
        self._smtp = Controller(_SmtpHandler(self.inbox), hostname=self.host, port=self.smtp_port)
        self._smtp.start()
        return self

    def stop(self) -> None:
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> AlertSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
