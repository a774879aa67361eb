"""moto in server mode on 127.0.0.1 with a free port: botocore then makes real HTTP requests to it, so the SDK's
serialisation, signing, retries and parsing all run. Independent of pytest; use it as a context manager:

    with MotoServer() as moto:
        client = boto3.client("ce", endpoint_url=moto.url, region_name="us-east-1", **moto.credentials)
        moto.post("/moto-api/static/ce/cost-and-usage-results", {"results": [...]})

moto keeps its state (backends, queued static results) per process, not per server: call :meth:`reset` between
tests that share a server.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from moto.server import ThreadedMotoServer

# Dummy credentials: moto accepts any key pair (requests are signed but not verified).
CREDENTIALS = {"aws_access_key_id": "AKIAMOTOTESTKEY00000", "aws_secret_access_key": "moto-test-secret"}


class MotoServer:
    """A ThreadedMotoServer bound to 127.0.0.1 on a port chosen by the OS (port 0: no race for a free port)."""

    credentials = CREDENTIALS

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def start(self) -> MotoServer:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def post(self, path: str, body: Any) -> int:
        """POST a JSON body to the server (e.g. moto's ``/moto-api/...`` control endpoints); returns the status."""
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status

    def reset(self) -> None:
        """Forget every backend's state (and queued static results)."""
        self.post("/moto-api/reset", {})

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
