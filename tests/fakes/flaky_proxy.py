"""An HTTP proxy in front of a fake vendor API that fails a seeded share of the requests, the way a real API does on
a bad day: AWS JSON throttling (HTTP 400 ``ThrottlingException``), 503 ``ServiceUnavailable``, or a dropped
connection without an answer. Everything else is forwarded unchanged (method, path, headers, body)."""

from __future__ import annotations

import http.client
import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class FlakyProxy:
    def __init__(self, upstream: str, fault_rate: float, seed: int = 1) -> None:
        self.upstream = urlsplit(upstream)
        self.fault_rate = fault_rate
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.requests = 0
        self.faults: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy.lock:
                    proxy.requests += 1
                    fault = (proxy.rng.choice(["throttle", "503", "drop"])
                             if proxy.rng.random() < proxy.fault_rate else None)
                    if fault:
                        proxy.faults.append(fault)
                if fault == "drop":
                    self.close_connection = True
                    return
                if fault:
                    error = {"throttle": (400, "ThrottlingException", "Rate exceeded"),
                             "503": (503, "ServiceUnavailable", "Service is unavailable")}[fault]
                    return self._answer(error[0], {"Content-Type": "application/x-amz-json-1.1"},
                                        json.dumps({"__type": error[1], "message": error[2]}).encode())
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                try:
                    conn.request("POST", self.path, body=body, headers={k: v for k, v in self.headers.items()})
                    response = conn.getresponse()
                    self._answer(response.status, dict(response.getheaders()), response.read())
                finally:
                    conn.close()

            def _answer(self, status: int, headers: dict, data: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FlakyProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
