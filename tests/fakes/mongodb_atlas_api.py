"""A local MongoDB Atlas Admin API v2 for invoices and the cluster inventory, in its wire format: HTTP digest
authentication (RFC 7616, MD5, qop=auth: a request without a valid digest gets 401 with a ``WWW-Authenticate:
Digest`` challenge, as Atlas answers), a versioned media type required (``application/vnd.atlas.2023-01-01+json``;
the clusters in ``2024-08-05``, else 406),
``GET /api/atlas/v2/orgs/{orgId}/invoices?pageNum=&itemsPerPage=`` -> ``{"results": [...], "totalCount": n}``,
``GET /api/atlas/v2/orgs/{orgId}/invoices/{invoiceId}`` -> the invoice with ``lineItems``,
``GET /api/atlas/v2/orgs/{orgId}/groups`` -> the organisation's projects and
``GET /api/atlas/v2/groups/{groupId}/clusters`` -> its clusters (both paged the same way). Invoices are built
from the schema of ``../shared/data/vendor-api/mongodb-atlas-invoice.json`` (field names and types of the Atlas
SDK's BillingInvoice / InvoiceLineItem), with the values a test sets; projects and clusters in the documented
shapes of the Admin API's listOrganizationProjects (Group) and listClusters (ClusterDescription20240805: one
``replicationSpecs[]`` entry per shard, ``regionConfigs[]`` with ``electableSpecs`` / ``readOnlySpecs`` /
``analyticsSpecs`` {instanceSize, nodeCount}). Every answer's HTTP ``Date`` is ``now`` when a test sets it."""

from __future__ import annotations

import copy
import email.utils
import hashlib
import json
import re
import secrets
import threading
from datetime import datetime
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.conftest import SHARED_DATA
from tests.fakes.json_http import JsonHandler

SCHEMA = SHARED_DATA / "vendor-api" / "mongodb-atlas-invoice.json"
PUBLIC_KEY = "abcdefgh"
PRIVATE_KEY = "2d3c1c5e-0000-4000-8000-privatekeytest"
ORG = "5980cfdf0b6d97029d82f86e"
REALM = "MMS Public API"
ACCEPT = "application/vnd.atlas.2023-01-01+json"
CLUSTERS_ACCEPT = "application/vnd.atlas.2024-08-05+json"
PRODUCTION = "5e2211c17a3e5a48f5497de3"  # the project of the invoice lines below


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # the digest scheme's own hash


def invoice(invoice_id: str, start: str, end: str, status: str, items: list[dict]) -> dict:
    """An invoice in the documented schema: every field of the schema file present, values from the test."""
    body = json.loads(SCHEMA.read_text())
    template = body["lineItems"][0]
    lines = []
    for item in items:
        line = copy.deepcopy(template)
        line.update({"discountCents": None, "percentDiscount": None, "tierLowerBound": None, "tierUpperBound": None,
                     "note": None, "stitchAppName": None, "tags": {}, "created": end})
        line.update(item)
        lines.append({k: v for k, v in line.items() if v is not None})
    subtotal = sum(int(line["totalPriceCents"]) - int(line.get("discountCents", 0)) for line in lines
                   if isinstance(line["totalPriceCents"], int))
    body.update({"id": invoice_id, "orgId": ORG, "startDate": start, "endDate": end, "statusName": status,
                 "created": start, "updated": end, "subtotalCents": subtotal, "salesTaxCents": 0,
                 "amountBilledCents": subtotal, "lineItems": lines, "groupId": None})
    return body


def project(group_id: str, name: str, clusters: int = 0) -> dict:
    """A project (group) as listOrganizationProjects answers it."""
    return {"clusterCount": clusters, "created": "2025-03-04T10:00:00Z", "id": group_id, "links": [], "name": name,
            "orgId": ORG, "regionUsageRestrictions": "COMMERCIAL_FEDRAMP_REGIONS_ONLY", "tags": [],
            "withDefaultAlertsSettings": True}


def cluster(group_id: str, name: str, size: str, created: str, *, nodes: int = 3, shards: int = 1,
            cluster_type: str = "REPLICASET", paused: bool = False, provider: str = "AWS",
            region: str = "US_EAST_1", tags: dict | None = None) -> dict:
    """A dedicated cluster as listClusters answers it (media type 2024-08-05): one replication spec per shard, each
    with one region config of ``nodes`` electable nodes of ``size``."""
    def spec(shard: int) -> dict:
        hardware = {"diskIOPS": 3000, "diskSizeGB": 40.0, "ebsVolumeType": "STANDARD", "instanceSize": size}
        return {"id": f"{shard:024x}", "zoneId": "6a0000000000000000000001", "zoneName": "Zone 1",
                "regionConfigs": [{
                    "providerName": provider, "regionName": region, "priority": 7,
                    "electableSpecs": {**hardware, "nodeCount": nodes},
                    "readOnlySpecs": {**hardware, "nodeCount": 0},
                    "analyticsSpecs": {**hardware, "nodeCount": 0},
                    "autoScaling": {"compute": {"enabled": False, "scaleDownEnabled": False},
                                    "diskGB": {"enabled": True}}}]}
    return {"backupEnabled": True, "biConnector": {"enabled": False, "readPreference": "secondary"},
            "clusterType": cluster_type, "configServerManagementMode": "ATLAS_MANAGED",
            "configServerType": "DEDICATED" if cluster_type == "SHARDED" else None,
            "connectionStrings": {"standardSrv": f"mongodb+srv://{name.lower()}.ab12c.mongodb.net"},
            "createDate": created, "diskWarmingMode": "FULLY_WARMED", "encryptionAtRestProvider": "NONE",
            "featureCompatibilityVersion": "8.0", "globalClusterSelfManagedSharding": False, "groupId": group_id,
            "id": hashlib.md5(f"{group_id}/{name}".encode()).hexdigest()[:24], "labels": [], "links": [],
            "mongoDBMajorVersion": "8.0", "mongoDBVersion": "8.0.4", "name": name, "paused": paused,
            "pitEnabled": False, "redactClientLogData": False, "replicaSetScalingStrategy": "WORKLOAD_TYPE",
            "replicationSpecs": [spec(n) for n in range(1, shards + 1)], "rootCertType": "ISRGROOTX1",
            "stateName": "IDLE", "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
            "terminationProtectionEnabled": False, "versionReleaseSystem": "LTS"}


class AtlasApi:
    def __init__(self, invoices: list[dict], page_size: int | None = None, *, groups: list[dict] | None = None,
                 clusters: dict[str, list] | None = None, now: datetime | None = None) -> None:
        self.invoices = {inv["id"]: inv for inv in invoices}
        self.page_size = page_size  # cap itemsPerPage, to make the client page
        # the organisation's projects and each one's clusters (default: the invoices' project, without clusters)
        self.groups = groups if groups is not None else [project(PRODUCTION, "production")]
        self.clusters = clusters or {}
        self.now = now  # the answers' HTTP Date (default: the real time)
        self.requests: list[str] = []
        self.challenges = 0
        self.throttled = 0  # answer this many authorised requests 429 RATE_LIMITED (with Retry-After) first
        self.nonces: set[str] = set()
        api = self

        class Handler(JsonHandler):
            def date_time_string(self, timestamp: float | None = None) -> str:
                if api.now is None:
                    return super().date_time_string(timestamp)
                return email.utils.format_datetime(api.now, usegmt=True)

            def _page(self, query: dict, everything: list) -> None:
                size = int(query.get("itemsPerPage", ["100"])[0])
                size = min(size, api.page_size or size)
                page = int(query.get("pageNum", ["1"])[0])
                self._send(200, {"links": [], "results": everything[(page - 1) * size:page * size],
                                 "totalCount": len(everything)})

            def _challenge(self) -> None:
                api.challenges += 1
                nonce = secrets.token_hex(16)
                api.nonces.add(nonce)
                self._send(401, {"detail": "You are not authorized for this resource.", "error": 401,
                                 "errorCode": "NOT_ORG_GROUP_CREATOR", "reason": "Unauthorized"},
                           {"WWW-Authenticate": f'Digest realm="{REALM}", domain="", nonce="{nonce}", '
                                                f'algorithm=MD5, qop="auth", stale=false'})

            def _authorised(self) -> bool:
                header = self.headers.get("Authorization", "")
                if not header.startswith("Digest "):
                    return False
                fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header[7:]))
                if fields.get("username") != PUBLIC_KEY or fields.get("nonce") not in api.nonces:
                    return False
                ha1 = _md5(f"{PUBLIC_KEY}:{REALM}:{PRIVATE_KEY}")
                ha2 = _md5(f"GET:{fields.get('uri')}")
                expected = _md5(f"{ha1}:{fields['nonce']}:{fields.get('nc')}:{fields.get('cnonce')}:auth:{ha2}")
                return fields.get("response") == expected and fields.get("uri") == self.path

            def do_GET(self) -> None:
                api.requests.append(self.path)
                if not self._authorised():
                    return self._challenge()
                if api.throttled:
                    api.throttled -= 1
                    return self._send(429, {"detail": "Resource /api/atlas/v2/orgs is limited to 100 requests "
                                                      "every 1 minutes.", "error": 429, "errorCode": "RATE_LIMITED",
                                            "reason": "Too Many Requests"}, {"Retry-After": "1"})
                url = urlsplit(self.path)
                clusters = re.fullmatch(r"/api/atlas/v2/groups/([^/]+)/clusters", url.path)
                if self.headers.get("Accept") != (CLUSTERS_ACCEPT if clusters else ACCEPT):
                    return self._send(406, {"detail": "Invalid accept header or version date.", "error": 406,
                                            "errorCode": "INVALID_VERSION_DATE", "reason": "Not Acceptable"})
                base = f"/api/atlas/v2/orgs/{ORG}/invoices"
                query = parse_qs(url.query)
                if url.path == base:
                    everything = [{k: v for k, v in inv.items() if k != "lineItems"} for inv in api.invoices.values()]
                    return self._page(query, everything)
                if url.path == f"/api/atlas/v2/orgs/{ORG}/groups":
                    return self._page(query, api.groups)
                if clusters and clusters.group(1) in {g["id"] for g in api.groups}:
                    return self._page(query, api.clusters.get(clusters.group(1), []))
                match = re.fullmatch(rf"{base}/([^/]+)", url.path)
                if match and match.group(1) in api.invoices:
                    return self._send(200, api.invoices[match.group(1)])
                self._send(404, {"detail": "Resource not found.", "error": 404, "errorCode": "RESOURCE_NOT_FOUND",
                                 "reason": "Not Found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> AtlasApi:
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def line(day: int, sku: str, quantity, unit_price, total_cents: int, month: int = 10, **extra) -> dict:
    start = f"2026-{month:02d}-{day:02d}T00:00:00Z"
    end = f"2026-{month:02d}-{day + 1:02d}T00:00:00Z" if day < 28 else f"2026-{month + 1:02d}-01T00:00:00Z"
    return {"startDate": start, "endDate": end, "groupId": "5e2211c17a3e5a48f5497de3", "groupName": "production",
            "clusterName": "orders", "sku": sku, "unit": "server hours", "quantity": quantity,
            "unitPriceDollars": unit_price, "totalPriceCents": total_cents, **extra}


def october_invoices() -> list[dict]:
    """October 2026 (closed) and November (pending): an M30 cluster's 24 hours a day at $0.54 (a replica set of
    three nodes, billed once per cluster-hour), backup storage with a discount, data transfer, a malformed item."""
    october = [
        line(1, "ATLAS_AWS_INSTANCE_M30", 24, 0.54, 1296),
        line(1, "ATLAS_AWS_BACKUP_SNAPSHOT_STORAGE", 120.5, 0.1, 1205, unit="GB days", discountCents=205,
             percentDiscount=17.0),
        line(2, "ATLAS_AWS_INSTANCE_M30", 24, 0.54, 1296),
        line(2, "ATLAS_AWS_DATA_TRANSFER_DIFFERENT_REGION", 10.25, 0.02, 21, unit="GB"),
        line(3, "ATLAS_AWS_INSTANCE_M30", "twenty", 0.54, 1296),
        line(3, "ATLAS_AWS_INSTANCE_M30", 24, 0.54, 1296),
    ]
    november = [line(1, "ATLAS_AWS_INSTANCE_M30", 24, 0.54, 1296, month=11)]
    return [invoice("6f0000000000000000000a10", "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z", "CLOSED", october),
            invoice("6f0000000000000000000a11", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "PENDING",
                    november),
            invoice("6f0000000000000000000a09", "2026-09-01T00:00:00Z", "2026-10-01T00:00:00Z", "PAID",
                    [line(15, "ATLAS_AWS_INSTANCE_M10", 24, 0.08, 192, month=9)])]
