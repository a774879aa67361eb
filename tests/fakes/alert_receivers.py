"""Real alert receivers on loopback for the delivery tests: an HTTP server (Slack incoming webhook and generic webhook
endpoints) and an aiosmtpd SMTP server that requires a login.

HTTP: every POST is recorded (:class:`HttpRequest`: path, headers, parsed JSON body, monotonic arrival time). The
answer is Slack's (``200 ok``) unless a script was given for the path (:meth:`HttpReceiver.script`): a list of
``(status, headers, body)`` answers served in order, the last one repeated. The request line (which holds the
webhook token) is never printed.

SMTP: AUTH PLAIN/LOGIN with one user over a plain connection (``auth_require_tls=False``: loopback only); each
accepted message is recorded parsed (:class:`email.message.EmailMessage`). :attr:`SmtpReceiver.fail_data` makes the
next N DATA commands answer ``451 4.3.0 Try again later``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, str], str]
SLACK_OK: Answer = (200, {"Content-Type": "text/plain"}, "ok")


@dataclass(frozen=True)
class HttpRequest:
    path: str
    headers: dict[str, str]
    body: Any
    at: float  # time.monotonic()


class HttpReceiver:
    def __init__(self) -> None:
        self.requests: list[HttpRequest] = []
        self._scripts: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.requests.append(HttpRequest(self.path, dict(self.headers.items()), json.loads(raw),
                                                         time.monotonic()))
                    script = receiver._scripts.get(self.path)
                    answer = (script.pop(0) if len(script) > 1 else script[0]) if script else SLACK_OK
                status, headers, body = answer
                data = body.encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the request line carries the webhook token

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def script(self, path: str, answers: list[Answer]) -> None:
        with self._lock:
            self._scripts[path] = list(answers)

    def to(self, path: str) -> list[HttpRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class SmtpReceiver:
    def __init__(self, user: str, password: str) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        from openfinops.alert_sink import free_port

        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.fail_data = 0
        self.logins: list[str] = []
        receiver = self

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user
                  and auth_data.password.decode() == password)
            if ok:
                receiver.logins.append(user)
            return AuthResult(success=ok)

        class Handler:
            async def handle_DATA(self, server, session, envelope) -> str:
                if receiver.fail_data > 0:
                    receiver.fail_data -= 1
                    return "451 4.3.0 Try again later"
                receiver.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                # SMTP's CRLF line ends, as a mail client shows them
                content = envelope.content.replace(b"\r\n", b"\n")
                receiver.messages.append(message_from_bytes(content, policy=policy.default))
                return "250 OK"

        self.port = free_port()
        # aiosmtpd warns "AUTH without TLS" on every connection: on loopback, on purpose (tests filter it)
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, authenticator=authenticator,
                                      auth_required=True, auth_require_tls=False)
        self._controller.start()

    def close(self) -> None:
        self._controller.stop()
