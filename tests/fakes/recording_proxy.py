"""An HTTP proxy in front of a fake AWS (moto) that forwards every request unchanged and records it: what the client
really sent, seen at the network boundary. :meth:`RecordingProxy.actions` names each request by its AWS operation
(``X-Amz-Target`` of JSON protocols, ``Action=`` of query protocols, the path of RPCv2 CBOR, else method and path)."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class RecordingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []  # method, path, headers, body
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items()}
                with proxy.lock:
                    proxy.requests.append((self.command, self.path, headers, body))
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                    self.send_response(response.status)
                    for name, value in response.getheaders():
                        if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

            def log_message(self, *args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def actions(self) -> list[str]:
        with self.lock:
            recorded = list(self.requests)
        out = []
        for method, path, headers, body in recorded:
            lower = {k.lower(): v for k, v in headers.items()}
            if "x-amz-target" in lower:
                out.append(lower["x-amz-target"].rsplit(".", 1)[-1])
            elif "/operation/" in path:
                out.append(path.rsplit("/", 1)[-1])
            elif method == "POST" and "Action" in parse_qs(body.decode(errors="replace")):
                out.append(parse_qs(body.decode())["Action"][0])
            else:
                out.append(f"{method} {path}")
        return out

    def bodies(self, target_suffix: str) -> list[bytes]:
        """The bodies of the JSON-protocol requests whose ``X-Amz-Target`` ends with ``target_suffix``."""
        with self.lock:
            return [b for _, _, h, b in self.requests
                    if {k.lower(): v for k, v in h.items()}.get("x-amz-target", "").endswith(target_suffix)]

    def __enter__(self) -> RecordingProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
