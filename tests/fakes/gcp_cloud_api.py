"""A local fake of the Google Cloud REST APIs the guide's ``GCPTelemetryAgent`` methods read, on top of
:class:`tests.fakes.bigquery_api.FakeBigQuery` (same HTTP server, the same OAuth 2.0 JWT-bearer token endpoint and
tokens, the BigQuery routes for the billing export): one root URL serves every API, as ``endpoint_url``.

Routes added (GET, a token the fake issued required, Google's JSON error body otherwise), in the REST wire shapes of
Google's reference (int64 as JSON strings, camelCase):

- ``/compute/v1/projects/{p}/zones/{z}/instances`` (instances.list: ``items``, ``nextPageToken``) and
  ``/compute/v1/projects/{p}/aggregated/instances`` (instances.aggregatedList: ``items`` keyed ``zones/{z}``, each
  ``{"instances": [...]}`` or, for a zone without instances, a ``warnings`` object).
- ``/v3/projects/{p}/timeSeries`` (projects.timeSeries.list): the ``filter`` is evaluated (``metric.type``,
  ``resource.type``, ``metric.labels.K`` and ``resource.labels.K`` equalities joined by AND: what the agent sends);
  points whose end time is in ``(interval.startTime, interval.endTime]`` are aligned over the one alignment period
  (``aggregation.alignmentPeriod`` must equal the interval) with ALIGN_MEAN / ALIGN_SUM / ALIGN_PERCENTILE_50 / _95
  (nearest rank over the raw samples), then reduced across series (REDUCE_SUM / REDUCE_MAX, grouped by
  ``aggregation.groupByFields``). Answers have ``timeSeries`` (``metric``, ``resource``, ``metricKind``,
  ``valueType``, ``points[].interval`` / ``value.doubleValue`` or ``value.int64Value``) and ``nextPageToken``.
- ``/v1/projects/{p}/locations/{l}/endpoints`` (Vertex AI endpoints.list: ``endpoints``, ``nextPageToken``).

Lists are served :attr:`FakeGoogleCloud.page_size` items a page. Scenario: :attr:`instances` (zone -> instance
resources), :attr:`series` (:class:`Series`), :attr:`endpoints` (location -> endpoint resources).
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.bigquery_api import FakeBigQuery, _Handler

_CLAUSE = re.compile(r'^(metric\.type|resource\.type|metric\.labels\.\w+|resource\.labels\.\w+) = "([^"]*)"$')


@dataclass
class Series:
    """One raw time series: ``samples`` are (end time, value) pairs, integers for INT64 metrics."""

    metric_type: str
    resource_type: str
    resource_labels: dict[str, str]
    samples: list[tuple[datetime, float | int]]
    metric_labels: dict[str, str] = field(default_factory=dict)
    kind: str = "GAUGE"

    def field(self, name: str) -> str | None:
        if name == "metric.type":
            return self.metric_type
        if name == "resource.type":
            return self.resource_type
        scope, _, key = name.split(".", 2)
        return (self.metric_labels if scope == "metric" else self.resource_labels).get(key)


def nearest_rank(values: list[float], percent: int) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


class FakeGoogleCloud(FakeBigQuery):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.page_size = 2
        self.instances: dict[str, list[dict]] = {}
        self.series: list[Series] = []
        self.endpoints: dict[str, list[dict]] = {}
        self.monitoring_queries: list[dict[str, str]] = []

    def __enter__(self) -> FakeGoogleCloud:
        import threading
        from http.server import ThreadingHTTPServer

        fake = self

        class Handler(_CloudHandler):
            pass

        Handler.fake = fake
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-google-cloud", daemon=True).start()
        return self

    # -- answers (called from the handler threads) -------------------------------------------------------------------
    def page(self, items: list, params: dict[str, str], key: str) -> dict:
        start = int(base64.urlsafe_b64decode(params["pageToken"]).decode()) if params.get("pageToken") else 0
        body: dict[str, Any] = {key: items[start : start + self.page_size]}
        if start + self.page_size < len(items):
            body["nextPageToken"] = base64.urlsafe_b64encode(str(start + self.page_size).encode()).decode()
        return body

    def aggregated(self, params: dict[str, str]) -> dict:
        zones = sorted(self.instances)
        start = int(params.get("pageToken") or 0)
        body: dict[str, Any] = {"kind": "compute#instanceAggregatedList", "items": {}}
        for zone in zones[start : start + self.page_size]:
            body["items"][f"zones/{zone}"] = (
                {"instances": self.instances[zone]}
                if self.instances[zone]
                else {
                    "warnings": {
                        "code": "NO_RESULTS_ON_PAGE",
                        "message": f"There are no results for scope 'zones/{zone}' on this page.",
                        "data": [{"key": "scope", "value": f"zones/{zone}"}],
                    }
                }
            )
        if start + self.page_size < len(zones):
            body["nextPageToken"] = str(start + self.page_size)
        return body

    def time_series(self, params: dict[str, str]) -> tuple[int, dict]:
        with self._lock:
            self.monitoring_queries.append(dict(params))
        clauses = []
        for part in params["filter"].split(" AND "):
            match = _CLAUSE.match(part.strip())
            if not match:
                return 400, {"error": {"code": 400, "message": f"Invalid filter: {part}", "status": "INVALID_ARGUMENT"}}
            clauses.append(match.groups())
        start, end = (
            datetime.fromisoformat(params[f"interval.{k}Time"].replace("Z", "+00:00")) for k in ("start", "end")
        )
        if params.get("aggregation.alignmentPeriod") != f"{int((end - start).total_seconds())}s":
            return 400, {
                "error": {
                    "code": 400,
                    "message": "this fake aligns over the whole interval only",
                    "status": "INVALID_ARGUMENT",
                }
            }
        aligner = params["aggregation.perSeriesAligner"]
        aligned = []
        for s in self.series:
            if not all(s.field(name) == value for name, value in clauses):
                continue
            values = [v for t, v in s.samples if start < t <= end]
            if not values:
                continue
            if aligner == "ALIGN_MEAN":
                value = sum(values) / len(values)
            elif aligner == "ALIGN_SUM":
                value = sum(values)
            elif aligner.startswith("ALIGN_PERCENTILE_"):
                value = nearest_rank(values, int(aligner.rsplit("_", 1)[1]))
            else:
                return 400, {"error": {"code": 400, "message": f"aligner {aligner}", "status": "INVALID_ARGUMENT"}}
            aligned.append((s, value))
        reducer = params.get("aggregation.crossSeriesReducer")
        out = []
        if reducer:
            groups: dict[tuple, list] = {}
            fields = params["aggregation.groupByFields"].split(",")
            for s, value in aligned:
                groups.setdefault(tuple(s.field(f) for f in fields), []).append((s, value))
            for key, members in groups.items():
                values = [v for _, v in members]
                value = sum(values) if reducer == "REDUCE_SUM" else max(values)
                labels = {f.split(".", 2)[2]: k for f, k in zip(fields, key, strict=True)}
                out.append((members[0][0], value, {}, labels))
        else:
            out = [(s, value, s.metric_labels, s.resource_labels) for s, value in aligned]
        stamp = {"startTime": params["interval.startTime"], "endTime": params["interval.endTime"]}
        documents = []
        for s, value, metric_labels, resource_labels in out:
            integer = isinstance(value, int) and s.kind == "DELTA"
            documents.append(
                {
                    "metric": {"type": s.metric_type, "labels": metric_labels},
                    "resource": {"type": s.resource_type, "labels": resource_labels},
                    "metricKind": s.kind,
                    "valueType": "INT64" if integer else "DOUBLE",
                    "points": [
                        {"interval": stamp, "value": {"int64Value": str(value)} if integer else {"doubleValue": value}}
                    ],
                }
            )
        body = self.page(documents, params, "timeSeries")
        body["unit"] = ""
        return 200, body


class _CloudHandler(_Handler):
    fake: FakeGoogleCloud

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        path = split.path
        if not path.startswith(("/compute/v1/", "/v3/projects/", "/v1/projects/")):
            return super()._dispatch(method)
        params = {k: v[-1] for k, v in parse_qs(split.query).items()}
        fake = self.fake
        with fake._lock:
            fake.requests.append((method, path, params))
        if method != "GET":
            return self._error(405, "methodNotAllowed", f"{method} {path}")
        if not fake._authorised(self.headers.get("Authorization")):
            return self._error(
                401,
                "unauthorized",
                "Request is missing required authentication credential. Expected OAuth 2 access token.",
            )
        parts = path.strip("/").split("/")
        if path.startswith("/compute/v1/") and parts[-1] == "instances":
            if parts[-2] == "aggregated":
                return self._send(200, fake.aggregated(params))
            body = fake.page(fake.instances.get(parts[-2], []), params, "items")
            return self._send(200, {"kind": "compute#instanceList", **body})
        if path.startswith("/v3/projects/") and parts[-1] == "timeSeries":
            return self._send(*fake.time_series(params))
        if path.startswith("/v1/projects/") and parts[-1] == "endpoints" and parts[-3] == "locations":
            return self._send(200, fake.page(fake.endpoints.get(parts[-2], []), params, "endpoints"))
        return self._error(404, "notFound", f"Not found: {method} {path}")


__all__ = ["FakeGoogleCloud", "Series", "nearest_rank"]
