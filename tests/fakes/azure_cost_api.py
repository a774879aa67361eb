"""A local fake of the Azure Cost Management Query API and of the Microsoft Entra ID token endpoint.

One thread-based HTTPS server on 127.0.0.1 (a free port, a self-signed certificate made at test time) answers:

- ``GET /{tenant}/v2.0/.well-known/openid-configuration`` and ``POST /{tenant}/oauth2/v2.0/token`` (client
  credentials grant): what msal, inside azure-identity's ``ClientSecretCredential``, asks for. The client id and
  secret must match; the token issued is :attr:`AzureCostApiFake.access_token`. msal only accepts an https authority,
  hence TLS for the whole fake.
- ``POST /{scope}/providers/Microsoft.CostManagement/query?api-version=...`` (``Query_Usage``): a bearer token is
  required; the answer is built from the scenario (:attr:`AzureCostApiFake.pages_for`) in the wire shape of the
  official example ``../shared/data/vendor-api/azure-cost-management-query.json`` (``name``, ``type``, ``id``,
  ``properties.columns`` / ``nextLink`` / ``rows``); no pages is the documented ``204 No Content``. Several pages
  are chained with ``nextLink`` URLs carrying a ``$skiptoken``, as in the official ``BillingAccountQuery.json``
  example; the client POSTs the same body to them.
- Interruptions (:attr:`AzureCostApiFake.interruptions`) are served, in order, instead of the next query answers:
  429 with ``Retry-After`` / ``x-ms-ratelimit-microsoft.costmanagement-*-retry-after`` headers, 5xx, or Azure's error
  body ``{"error": {"code": ..., "message": ...}}``.

Every request is recorded (:class:`RecordedRequest`: path, query, parsed body, Authorization header). Numbers are
written with their exact digits: :class:`decimal.Decimal` values in a page are serialised as JSON numbers verbatim.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import random
import ssl
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

QUERY_SUFFIX = "/providers/Microsoft.CostManagement/query"


@dataclass(frozen=True)
class Page:
    """One page of a query answer: column definitions (``[{"name": ..., "type": ...}]``) and rows."""

    columns: list[dict[str, str]]
    rows: list[list[Any]]


@dataclass(frozen=True)
class Reply:
    """A canned HTTP answer (an interruption)."""

    status: int
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    authorization: str | None


def azure_error(status: int, code: str, message: str, **headers: str) -> Reply:
    """An Azure Resource Manager error answer: ``{"error": {"code": ..., "message": ...}}``."""
    return Reply(status, {"error": {"code": code, "message": message}}, dict(headers))


def dumps_exact(value: Any) -> str:
    """JSON text in which a Decimal keeps every digit (``json.dumps`` would refuse or round-trip through float)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {dumps_exact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(dumps_exact(v) for v in value) + "]"
    return json.dumps(value)


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path

    @property
    def ca_bundle(self) -> str:
        """The self-signed certificate is its own CA: point REQUESTS_CA_BUNDLE (or ``verify``) at it."""
        return str(self.cert)


def make_tls_files(directory: Path) -> TlsFiles:
    """A self-signed certificate for 127.0.0.1 / localhost (EC P-256, valid 2000-2100), made with ``cryptography``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "openfinops-test-fake")])
    start = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=365 * 100))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    files = TlsFiles(directory / "fake-cert.pem", directory / "fake-key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return files


class AzureCostApiFake:
    """Start with ``with AzureCostApiFake(tls) as fake:``; set :attr:`pages_for` (request body -> pages, or raw
    bytes served as they are) and :attr:`interruptions` per test."""

    def __init__(self, tls: TlsFiles, *, tenant_id: str = "72f988bf-86f1-41af-91ab-2d7cd011db47",
                 client_id: str = "4a3b2c1d-0000-4000-8000-00000000c11e", client_secret: str = "fake-client-secret",
                 access_token: str | None = None) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.access_token = access_token or f"eyJ0eXAiOiJKV1QifQ.fake.{uuid.uuid4().hex}"
        self.pages_for: Callable[[dict], list[Page | bytes]] = lambda body: [Page(_DEFAULT_COLUMNS, [])]
        self.interruptions: deque[Reply] = deque()
        self.looping_next_link = False  # True: every page's nextLink points back to the first page
        # Random faults (seeded): this share of query requests is answered 429 / 500 / 503 or dropped unanswered.
        self.fault_rate = 0.0
        self.faults_served: list[str] = []
        self._rng = random.Random(1)
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert, tls.key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="azure-cost-api-fake", daemon=True)

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def authority(self) -> str:
        """What azure-identity takes as ``authority`` (a host, https implied)."""
        return f"127.0.0.1:{self._server.server_address[1]}"

    def query_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith(QUERY_SUFFIX)]

    def token_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/oauth2/v2.0/token")]

    def __enter__(self) -> AzureCostApiFake:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- answers ---------------------------------------------------------------------------------------------------
    def answer(self, method: str, path: str, query: dict[str, list[str]], body: Any,
               authorization: str | None) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, body, authorization))
        tenant = f"/{self.tenant_id}"
        if method == "GET" and path == f"{tenant}/v2.0/.well-known/openid-configuration":
            return _json(200, self._openid_configuration())
        if method == "POST" and path == f"{tenant}/oauth2/v2.0/token":
            return self._token(body)
        if method == "POST" and path.endswith(QUERY_SUFFIX):
            return self._query(path, query, body, authorization)
        return _reply(azure_error(404, "NotFound", f"No route for {method} {path}."))

    def _openid_configuration(self) -> dict:
        root = f"{self.base_url}/{self.tenant_id}"
        return {"token_endpoint": f"{root}/oauth2/v2.0/token",
                "authorization_endpoint": f"{root}/oauth2/v2.0/authorize", "issuer": f"{root}/v2.0",
                "token_endpoint_auth_methods_supported": ["client_secret_post"]}

    def _token(self, form: dict) -> tuple[int, dict[str, str], bytes]:
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return _json(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret "
                                                                               "provided.", "error_codes": [7000215]})
        return _json(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                           "access_token": self.access_token})

    def _query(self, path: str, query: dict[str, list[str]], body: Any,
               authorization: str | None) -> tuple[int, dict[str, str], bytes]:
        if authorization != f"Bearer {self.access_token}":
            return _reply(azure_error(401, "InvalidAuthenticationToken", "The access token is invalid."))
        if not query.get("api-version"):
            return _reply(azure_error(400, "MissingApiVersionParameter",
                                      "The api-version query parameter (?api-version=) is required for all requests."))
        with self._lock:
            interruption = self.interruptions.popleft() if self.interruptions else None
            fault = (self._rng.choice(["429", "500", "503", "drop"])
                     if self.fault_rate and self._rng.random() < self.fault_rate else None)
            if fault:
                self.faults_served.append(fault)
        if interruption is not None:
            return _reply(interruption)
        if fault == "drop":
            return 0, {}, b""  # the handler closes the connection without an answer
        if fault:
            return _reply(azure_error(int(fault), "TooManyRequests" if fault == "429" else "ServiceUnavailable",
                                      "injected fault", **({"Retry-After": "0"} if fault == "429" else {})))
        pages = self.pages_for(body)
        if not pages:
            return 204, {}, b""  # documented answer: "No Content" (no data for the query)
        index = int(query.get("$skiptoken", ["0"])[0])
        page = pages[index]
        if isinstance(page, bytes):
            return 200, {"Content-Type": "application/json; charset=utf-8"}, page
        scope = path.removeprefix("/").removesuffix(QUERY_SUFFIX)
        next_link = None
        if self.looping_next_link:  # a misbehaving API: every page links back to the first one
            next_link = (f"{self.base_url}/{scope}{QUERY_SUFFIX}?api-version={quote(query['api-version'][0])}"
                         f"&$skiptoken=0")
        elif index + 1 < len(pages):
            next_link = (f"{self.base_url}/{scope}{QUERY_SUFFIX}?api-version={quote(query['api-version'][0])}"
                         f"&$skiptoken={index + 1}")
        name = str(uuid.uuid4())
        document = {"name": name, "type": "microsoft.costmanagement/Query",
                    "id": f"{scope}/providers/Microsoft.CostManagement/Query/{name}",
                    "properties": {"columns": page.columns, "nextLink": next_link, "rows": page.rows}}
        return 200, {"Content-Type": "application/json; charset=utf-8"}, dumps_exact(document).encode()


_DEFAULT_COLUMNS = [{"name": "Cost", "type": "Number"}, {"name": "UsageDate", "type": "Number"},
                    {"name": "Currency", "type": "String"}]


def _json(status: int, body: dict) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json; charset=utf-8"}, dumps_exact(body).encode()


def _reply(reply: Reply) -> tuple[int, dict[str, str], bytes]:
    payload = b"" if reply.body is None else dumps_exact(reply.body).encode()
    return reply.status, {"Content-Type": "application/json; charset=utf-8", **reply.headers}, payload


def _handler_for(fake: AzureCostApiFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if "x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
                body: Any = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            else:
                body = json.loads(raw, parse_float=Decimal) if raw else None
            status, headers, payload = fake.answer(self.command, parts.path, parse_qs(parts.query), body,
                                                   self.headers.get("Authorization"))
            if status == 0:  # an injected dropped connection
                self.close_connection = True
                return
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: test output stays readable (requests are in ``fake.requests``)."""

    return Handler
