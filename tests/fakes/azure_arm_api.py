"""A local fake of the Azure Resource Manager APIs the guide's ``AzureTelemetryAgent`` methods read, on top of
:class:`tests.fakes.azure_cost_api.AzureCostApiFake` (same HTTPS server, Entra ID token endpoint, bearer token and
Cost Management Query route).

Routes added (GET, ``api-version`` required, the fake's bearer token required, Azure's error body otherwise), in the
wire shapes of Microsoft's REST reference:

- ``/subscriptions/{s}/providers/Microsoft.Compute/virtualMachines`` and
  ``/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines`` (Virtual Machines - List All /
  List): ``{"value": [VM resources], "nextLink": ...}``; a resource group is matched case-insensitively, as ARM does.
- ``{vm id}/instanceView`` (Virtual Machines - Instance View): ``{"statuses": [{"code": "PowerState/running"}, ...]}``.
- ``/subscriptions/{s}/providers/Microsoft.Compute/locations/{loc}/vmSizes`` (Virtual Machine Sizes - List).
- ``{resource id}/providers/Microsoft.Insights/metrics`` (Metrics - List): ``metricnames`` (comma separated),
  ``timespan`` (``start/end``), ``interval``, ``aggregation``; the answer has ``cost``, ``timespan``, ``interval``,
  ``namespace``, ``resourceregion`` and ``value`` = one metric object per name asked (``id``, ``type``,
  ``name.value`` / ``localizedValue``, ``unit``, ``timeseries[].data[]`` with ``timeStamp`` and the aggregations
  asked for, ``errorCode: "Success"``); data points outside the timespan are not returned.
- ``/subscriptions/{s}/providers/Microsoft.MachineLearningServices/workspaces`` and ``{workspace id}/jobs`` /
  ``{workspace id}/onlineEndpoints`` (Workspaces - List By Subscription, Jobs - List, Online Endpoints - List).

Lists are served :attr:`AzureArmFake.page_size` items a page with a ``nextLink`` carrying ``$skiptoken``. The
scenario is plain data set by the test: :attr:`vms`, :attr:`power_states`, :attr:`vm_sizes`, :attr:`metric_points`,
:attr:`workspaces`, :attr:`jobs`, :attr:`online_endpoints` (and ``pages_for`` for Cost Management, as in the base).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from tests.fakes.azure_cost_api import AzureCostApiFake, _json, _reply, azure_error

UNITS = {
    "Percentage CPU": "Percent",
    "Available Memory Bytes": "Bytes",
    "Disk Read Operations/Sec": "CountPerSecond",
    "Disk Write Operations/Sec": "CountPerSecond",
    "Network In Total": "Bytes",
    "Network Out Total": "Bytes",
    "Active Nodes": "Count",
}


class AzureArmFake(AzureCostApiFake):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.page_size = 2
        self.vms: list[dict] = []
        self.power_states: dict[str, str] = {}  # vm id (lower) -> e.g. "running", "deallocated"
        self.vm_sizes: dict[str, list[dict]] = {}  # location -> VirtualMachineSize objects
        # (resource id lower, metric name) -> [(timeStamp, {"average": .., "total": ..})]
        self.metric_points: dict[tuple[str, str], list[tuple[datetime, dict]]] = {}
        self.workspaces: list[dict] = []
        self.jobs: dict[str, list[dict]] = {}  # workspace id (lower) -> job resources
        self.online_endpoints: dict[str, list[dict]] = {}

    def arm_requests(self) -> list:
        return [
            r for r in self.requests if r.method == "GET" and not r.path.endswith("/.well-known/openid-configuration")
        ]

    def answer(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, authorization: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        if method != "GET" or path.endswith("/.well-known/openid-configuration"):
            return super().answer(method, path, query, body, authorization)
        with self._lock:
            self.requests.append(_recorded(method, path, query, body, authorization))
        if authorization != f"Bearer {self.access_token}":
            return _reply(azure_error(401, "InvalidAuthenticationToken", "The access token is invalid."))
        if not query.get("api-version"):
            return _reply(
                azure_error(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            )
        lower = path.lower()
        parts = lower.strip("/").split("/")
        if lower.endswith("/providers/microsoft.insights/metrics"):
            return self._metrics(path[: -len("/providers/Microsoft.Insights/metrics")], query)
        if lower.endswith("/instanceview"):
            vm_id = lower[: -len("/instanceview")]
            if not any(vm["id"].lower() == vm_id for vm in self.vms):
                return _reply(azure_error(404, "ResourceNotFound", f"The Resource '{path}' was not found."))
            state = self.power_states[vm_id]
            return _json(
                200,
                {
                    "statuses": [
                        {
                            "code": "ProvisioningState/succeeded",
                            "level": "Info",
                            "displayStatus": "Provisioning succeeded",
                        },
                        {"code": f"PowerState/{state}", "level": "Info", "displayStatus": f"VM {state}"},
                    ]
                },
            )
        if lower.endswith("/providers/microsoft.compute/virtualmachines"):
            items = [
                vm
                for vm in self.vms
                if parts[2] != "resourcegroups" or f"/resourcegroups/{parts[3]}/" in vm["id"].lower()
            ]
            return self._page(path, query, items)
        if lower.endswith("/vmsizes") and "/locations/" in lower:
            return self._page(path, query, self.vm_sizes.get(parts[-2], []))
        if lower.endswith("/providers/microsoft.machinelearningservices/workspaces"):
            return self._page(path, query, self.workspaces)
        if lower.endswith("/jobs"):
            return self._page(path, query, self.jobs.get(lower[: -len("/jobs")], []))
        if lower.endswith("/onlineendpoints"):
            return self._page(path, query, self.online_endpoints.get(lower[: -len("/onlineendpoints")], []))
        return _reply(azure_error(404, "NotFound", f"No route for {method} {path}."))

    def _page(self, path: str, query: dict[str, list[str]], items: list[dict]) -> tuple[int, dict[str, str], bytes]:
        start = int(query.get("$skiptoken", ["0"])[0])
        document: dict[str, Any] = {"value": items[start : start + self.page_size]}
        if start + self.page_size < len(items):
            document["nextLink"] = (
                f"{self.base_url}{path}?api-version={quote(query['api-version'][0])}"
                f"&$skiptoken={start + self.page_size}"
            )
        return _json(200, document)

    def _metrics(self, resource: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        names = query["metricnames"][0].split(",")
        start_text, end_text = query["timespan"][0].split("/")
        start, end = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (start_text, end_text))
        wanted = [a.strip().lower() for a in query["aggregation"][0].split(",")]
        value = []
        for name in names:
            points = self.metric_points.get((resource.lower(), name), [])
            data = [
                {"timeStamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), **{k: v for k, v in values.items() if k in wanted}}
                for t, values in points
                if start <= t < end
            ]
            value.append(
                {
                    "id": f"{resource}/providers/Microsoft.Insights/metrics/{name}",
                    "type": "Microsoft.Insights/metrics",
                    "name": {"value": name, "localizedValue": name},
                    "displayDescription": name,
                    "unit": UNITS.get(name, "Count"),
                    "errorCode": "Success",
                    "timeseries": [{"metadatavalues": [], "data": data}],
                }
            )
        return _json(
            200,
            {
                "cost": 0,
                "timespan": query["timespan"][0],
                "interval": query["interval"][0],
                "value": value,
                "namespace": "Microsoft.Compute/virtualMachines",
                "resourceregion": "eastus",
            },
        )


def _recorded(method: str, path: str, query: dict[str, list[str]], body: Any, authorization: str | None):
    from tests.fakes.azure_cost_api import RecordedRequest

    return RecordedRequest(method, path, query, body, authorization)
