"""A local fake of two object stores' REST APIs on 127.0.0.1: the Google Cloud Storage JSON API and the Azure Blob
Storage REST API, in their wire formats, so the real google-cloud-storage and azure-storage-blob clients (and
Airflow's ``GCSHook`` / ``WasbHook`` built on them) run against it.

Objects live in :attr:`ObjectStoreFake.objects` ``{(bucket or container, key): bytes}``; every request is recorded
in :attr:`ObjectStoreFake.requests` as ``(store, path, range header)``. :func:`serve_object_store` starts a server on
a free port, empties both, and yields the endpoint URL (for Azure, ``<endpoint>/<account>`` is the blob endpoint).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


class ObjectStoreFake(BaseHTTPRequestHandler):
    """Serves objects of ``objects`` {(bucket or container, key): bytes} the way the GCS JSON API
    (``/storage/v1/b/<bucket>/o``, media downloads under ``/download``) and the Azure Blob REST API
    (``/<account>/<container>?restype=container&comp=list``, Get Blob / Get Blob Properties with ``x-ms-range``)
    answer, so the real google-cloud-storage and azure-storage-blob clients run against it."""

    objects: dict[tuple[str, str], bytes] = {}
    requests: list[tuple[str, str, str | None]] = []

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass

    def do_HEAD(self) -> None:
        self._azure(head=True)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith(("/storage/v1/b/", "/download/storage/v1/b/")):
            self._gcs()
        else:
            self._azure(head=False)

    def _send(self, status: int, body: bytes, headers: dict[str, str], head: bool = False) -> None:
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _range(self, data: bytes, header: str | None) -> tuple[int, bytes, dict[str, str]]:
        if not header:
            return 200, data, {}
        start, _, end = header.removeprefix("bytes=").partition("-")
        first, last = int(start), min(int(end) if end else len(data) - 1, len(data) - 1)
        return 206, data[first:last + 1], {"Content-Range": f"bytes {first}-{last}/{len(data)}"}

    def _gcs(self) -> None:
        url = urlsplit(self.path)
        media = url.path.startswith("/download/")
        bucket, _, rest = url.path.split("/storage/v1/b/", 1)[1].partition("/o")
        self.requests.append(("gcs", url.path, self.headers.get("Range")))
        if rest in ("", "/"):
            prefix = parse_qs(url.query).get("prefix", [""])[0]
            items = [{"kind": "storage#object", "bucket": b, "name": k, "size": str(len(v)), "generation": "1"}
                     for (b, k), v in sorted(self.objects.items()) if b == bucket and k.startswith(prefix)]
            return self._send(200, json.dumps({"kind": "storage#objects", "items": items}).encode(),
                              {"Content-Type": "application/json"})
        key = unquote(rest[1:])
        data = self.objects.get((bucket, key))
        if data is None:
            error = {"error": {"code": 404, "message": f"No such object: {bucket}/{key}",
                               "errors": [{"reason": "notFound", "message": f"No such object: {bucket}/{key}"}]}}
            return self._send(404, json.dumps(error).encode(), {"Content-Type": "application/json"})
        if not media:
            meta = {"kind": "storage#object", "bucket": bucket, "name": key, "size": str(len(data)), "generation": "1"}
            return self._send(200, json.dumps(meta).encode(), {"Content-Type": "application/json"})
        status, body, headers = self._range(data, self.headers.get("Range"))
        self._send(status, body, {"Content-Type": "application/octet-stream", "x-goog-generation": "1", **headers})

    def _azure(self, head: bool) -> None:
        url = urlsplit(self.path)
        _, _account, container, *rest = url.path.split("/", 3) + [""] * (4 - len(url.path.split("/", 3)))
        key = unquote(rest[0]) if rest else ""
        query = parse_qs(url.query)
        self.requests.append(("azure", url.path, self.headers.get("x-ms-range")))
        common = {"x-ms-version": self.headers.get("x-ms-version", "2025-01-05"), "x-ms-request-id": "fake"}
        if query.get("comp") == ["list"]:
            prefix = query.get("prefix", [""])[0]
            blobs = "".join(
                f"<Blob><Name>{k}</Name><Properties><Content-Length>{len(v)}</Content-Length>"
                f"<BlobType>BlockBlob</BlobType><Last-Modified>Mon, 01 Jun 2026 00:00:00 GMT</Last-Modified>"
                f"<Etag>0x1</Etag></Properties></Blob>"
                for (c, k), v in sorted(self.objects.items()) if c == container and k.startswith(prefix))
            body = (f'<?xml version="1.0" encoding="utf-8"?><EnumerationResults ContainerName="{container}">'
                    f"<Prefix>{prefix}</Prefix><Blobs>{blobs}</Blobs><NextMarker /></EnumerationResults>").encode()
            return self._send(200, body, {**common, "Content-Type": "application/xml"})
        data = self.objects.get((container, key))
        if data is None:
            body = b'<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code>' \
                   b"<Message>The specified blob does not exist.</Message></Error>"
            return self._send(404, body, {**common, "x-ms-error-code": "BlobNotFound",
                                          "Content-Type": "application/xml"}, head)
        blob = {**common, "x-ms-blob-type": "BlockBlob", "ETag": '"0x1"', "Accept-Ranges": "bytes",
                "Last-Modified": "Mon, 01 Jun 2026 00:00:00 GMT", "Content-Type": "application/octet-stream"}
        if head:
            return self._send(200, data, blob, head=True)
        status, body, headers = self._range(data, self.headers.get("x-ms-range") or self.headers.get("Range"))
        self._send(status, body, {**blob, **headers})

@contextmanager
def serve_object_store() -> Iterator[str]:
    """Serve an empty store; yields its ``http://127.0.0.1:<port>`` endpoint."""
    ObjectStoreFake.objects, ObjectStoreFake.requests = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ObjectStoreFake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
