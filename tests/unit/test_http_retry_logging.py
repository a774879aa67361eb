"""urllib3 logs every request URL at DEBUG; once a RetryingHttp exists, the query strings in those lines are blanked
(a presigned URL's signature or an API key in a query string is a credential). Checked with a real request to a
local server and urllib3's own log record."""

from __future__ import annotations

import logging
import threading
from http.server import ThreadingHTTPServer

import requests

from collectors.core.http_retry import RetryingHttp
from tests.fakes.json_http import JsonHandler


class Ok(JsonHandler):
    def do_GET(self) -> None:
        self._send(200, {"ok": True})


def test_urllib3_debug_lines_carry_no_query_string(caplog):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        http = RetryingHttp(requests.Session(), "src")
        url = f"http://127.0.0.1:{server.server_address[1]}/chunk/0?X-Amz-Signature=s3cr3tsig&X-Amz-Credential=AKIA"
        with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
            assert http.request("GET", url, operation="download").status_code == 200
        lines = [r.getMessage() for r in caplog.records if r.name == "urllib3.connectionpool"]
        assert any("GET /chunk/0?<redacted>" in line for line in lines), lines
        assert not any("s3cr3tsig" in line or "AKIA" in line for line in lines)
    finally:
        server.shutdown()
        server.server_close()
