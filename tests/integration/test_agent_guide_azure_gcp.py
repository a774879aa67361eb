"""The original telemetry-agent guide's Azure and Google Cloud examples, run as written (only the fakes' hosts and a
fixed clock added to the constructors) against local fakes of the vendors' REST APIs at the network boundary
(tests/fakes/azure_arm_api.py, tests/fakes/gcp_cloud_api.py: real azure-identity / google-auth token flows, real
HTTP). Printed lines are compared with lines computed here from the fakes' fixture data (a value the fakes hold no
sample or price for is ``UNAVAILABLE``, printed ``n/a``, never 0 or ``nan``); the metrics the agents push
land in the REAL ingest server's raw tables; ``CostObservatory.track_cloud_cost`` stores its Decimal exactly, through
the server and straight into the warehouse. No secret reaches the output or the logs."""

from __future__ import annotations

import json
import logging
import math
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
import requests

from agents import aws_telemetry_agent, azure_telemetry_agent, cli, gcp_telemetry_agent
from agents.azure_telemetry_agent import LIST_PRICES as AZURE_LIST_PRICES
from agents.azure_telemetry_agent import AzureTelemetryAgent
from agents.collector_agent import UNAVAILABLE
from agents.gcp_telemetry_agent import GCPTelemetryAgent
from tests.fakes.azure_arm_api import AzureArmFake
from tests.fakes.azure_cost_api import Page, _reply, azure_error, make_tls_files
from tests.fakes.gcp_billing_export import RESULT_SCHEMA, export_row, key_secrets, keyfile, query_result
from tests.fakes.gcp_billing_export import service_account_key as new_service_account_key
from tests.fakes.gcp_cloud_api import FakeGoogleCloud, Series, nearest_rank
from tests.servers import Server

ADMIN = "guide-agents-admin-token-81c3"
NOW = datetime(2026, 11, 4, 6, 30, 27, tzinfo=UTC)  # the agents read the last 60 minutes: 05:30 .. 06:30
WINDOW_START, WINDOW_END = datetime(2026, 11, 4, 5, 30, tzinfo=UTC), datetime(2026, 11, 4, 6, 30, tzinfo=UTC)
CYCLE_LOOKBACK = 34  # a cycle at NOW then reads the days Oct 1 .. Nov 3: the fixtures' cost days are in it


@pytest.fixture(scope="module")
def warehouse():
    from tests.conftest import create_database, drop_database

    url = create_database("ofo_guide_agents")
    yield url
    drop_database(url)


@pytest.fixture(scope="module")
def server(warehouse):
    s = Server(warehouse_url=warehouse, admin_token=ADMIN)
    yield s
    s.stop()


def rows(url: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def mean(values):
    return sum(values) / len(values)


def cost_totals(warehouse: str, agent_id: str) -> tuple[int, Decimal | None]:
    """(records, Decimal sum of cost) of the cost records the agent pushed."""
    return rows(warehouse, "SELECT count(*), sum(cost) FROM raw.telemetry_cost_records WHERE _agent_id = %s", agent_id)[
        0
    ]


def build_from_cli(module, argv: list[str], options: dict, tmp_path) -> object:
    """The agent the module's command line builds from ``argv`` and its config section ``options``."""
    p = cli.parser(module.__name__, "test")
    module._arguments(p)
    return module._build(
        p.parse_args(argv), options, {"openfinops_endpoint": "http://127.0.0.1:9", "spool_dir": tmp_path}
    )


def pushed(warehouse: str, agent_id: str) -> dict[tuple[str, str], Decimal]:
    """(metric name, the record's main label) -> stored value, of what the agent pushed."""
    found = rows(
        warehouse, "SELECT metric_name, labels, metric_value FROM raw.telemetry_metrics WHERE _agent_id = %s", agent_id
    )
    out = {}
    for name, labels, value in found:
        key = labels.get("vm_name") or labels.get("instance_name") or labels.get("workspace") or labels["endpoint_id"]
        assert (name, key) not in out
        out[(name, key)] = value
    return out


# -- Azure ------------------------------------------------------------------------------------------------------------
SUB = "5f1c7a2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b"
AZURE_SECRET = "azureGuideSECRET~neverPrinted.9Kd"
RG = "ml-resources"
# list prices of the public Linux pay-as-you-go page for East US (the agent's estimate table must say the same)
AZURE_PRICE = {
    "Standard_NC6s_v3": Decimal("3.06"),
    "Standard_D2s_v3": Decimal("0.096"),
    "Standard_D4s_v3": Decimal("0.192"),
}
AZURE_MEMORY_MB = {"Standard_NC6s_v3": 114688, "Standard_D2s_v3": 8192, "Standard_D4s_v3": 16384}
AZURE_VMS = (  # name, resource group, size, power state
    ("gpu-train-1", RG, "Standard_NC6s_v3", "running"),
    ("web-1", RG, "Standard_D2s_v3", "deallocated"),
    ("batch-2", "ML-Resources", "Standard_D4s_v3", "running"),  # ARM ids keep the group's own case
    ("api-7", "web-prod", "Standard_D2s_v3", "running"),
)
WS_RG, WS_NAME = "ml-resources", "my-ml-workspace"
WS_ID = f"/subscriptions/{SUB}/resourceGroups/{WS_RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS_NAME}"
JOB_STATUSES = [
    "Running",
    "Completed",
    "Queued",
    "Failed",
    "Completed",
    "Running",
    "Canceled",
    "Completed",
    "Finalizing",
]
WS_COSTS = (  # (ResourceId as Cost Management writes it, lower case; cost) of resource group ml-resources
    (WS_ID.lower(), Decimal("12.345678901234")),
    (f"{WS_ID}/computes/gpu-cluster".lower(), Decimal("230.10000000000001")),
    (f"{WS_ID}/onlineEndpoints/fraud-ep".lower(), Decimal("5.5")),
    (f"{WS_ID}-2".lower(), Decimal("99")),  # another workspace whose name starts the same: not this one
    (
        f"/subscriptions/{SUB}/resourcegroups/ml-resources/providers/microsoft.storage/storageaccounts/mlstore",
        Decimal("40.25"),
    ),
)
COST_SERVICES = ("Virtual Machines", "Storage", "Azure Machine Learning", "Bandwidth")
COST_DAYS = (date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3))


def vm_id(name: str, group: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{name}"


def azure_vm_points() -> dict[tuple[str, str], list[tuple[datetime, dict]]]:
    """Every 5 minutes from 05:20 (two points before the window) to 06:25, dyadic values (exact in binary);
    a deallocated VM has no data."""
    rng = random.Random(4711)
    points = {}
    for name, group, size, state in AZURE_VMS:
        if state != "running":
            continue
        times = [datetime(2026, 11, 4, 5, 20, tzinfo=UTC) + timedelta(minutes=5 * i) for i in range(14)]
        memory = AZURE_MEMORY_MB[size] * 1024 * 1024
        series = {
            "Percentage CPU": lambda: {"average": rng.randrange(0, 400) / 4},
            "Available Memory Bytes": lambda m=memory: {"average": float(rng.randrange(m // 8, m))},
            "Disk Read Operations/Sec": lambda: {"average": rng.randrange(0, 8000) / 16},
            "Disk Write Operations/Sec": lambda: {"average": rng.randrange(0, 8000) / 16},
            "Network In Total": lambda: {"total": float(rng.randrange(10**6, 10**9))},
            "Network Out Total": lambda: {"total": float(rng.randrange(10**6, 10**9))},
        }
        for metric, make in series.items():
            points[(vm_id(name, group).lower(), metric)] = [(t, make()) for t in times]
        points[(vm_id(name, group).lower(), "Percentage CPU")][5] = (times[5], {})  # a gap: no value
    return points


def azure_cost_lines(cost_type: str) -> list[tuple[date, str, str, Decimal]]:
    rng = random.Random(f"guide-{cost_type}")
    return [
        (day, service, group, Decimal(rng.randrange(10**9, 10**13)).scaleb(-10))
        for day in COST_DAYS
        for service in COST_SERVICES
        for group in (RG, "web-prod")
    ]


def azure_pages(body: dict) -> list[Page]:
    groups = tuple(g["name"] for g in body["dataset"]["grouping"])
    if groups == ("ResourceId",):
        columns = [
            {"name": "Cost", "type": "Number"},
            {"name": "ResourceId", "type": "String"},
            {"name": "Currency", "type": "String"},
        ]
        data = [[cost, rid, "USD"] for rid, cost in WS_COSTS]
        return [Page(columns, data[:3]), Page(columns, data[3:])]
    # the daily passes of the cost query collector: its cost pass, and (the agent's cycle) its meter pass, which
    # re-slices the same spend by meter category; only the days of the requested time period are answered
    assert groups in (("ServiceName", "ResourceGroupName"), ("ServiceName", "MeterCategory")), groups
    columns = [
        {"name": n, "type": t}
        for n, t in (
            ("Cost", "Number"),
            ("CostUSD", "Number"),
            ("UsageDate", "Number"),
            ("ServiceName", "String"),
            (groups[1], "String"),
            ("Currency", "String"),
        )
    ]
    first, last = (date.fromisoformat(body["timePeriod"][end][:10]) for end in ("from", "to"))
    lines = [line for line in azure_cost_lines(body["type"]) if first <= line[0] <= last]
    if groups[1] == "MeterCategory":
        meters: dict[tuple[date, str], Decimal] = {}
        for d, s, _, c in lines:
            meters[(d, s)] = meters.get((d, s), Decimal(0)) + c
        lines = [(d, s, s, c) for (d, s), c in meters.items()]
    data = [[c, c, int(d.strftime("%Y%m%d")), s, g, "USD"] for d, s, g, c in lines]
    return [Page(columns, data[:10]), Page(columns, data[10:])] if data else []


def azure_scenario(fake: AzureArmFake) -> None:
    fake.vms = [
        {
            "name": name,
            "id": vm_id(name, group),
            "type": "Microsoft.Compute/virtualMachines",
            "location": "eastus",
            "tags": {},
            "properties": {
                "vmId": f"0000000{i}-1111-2222-3333-444444444444",
                "hardwareProfile": {"vmSize": size},
                "provisioningState": "Succeeded",
                "storageProfile": {"osDisk": {"osType": "Linux", "name": f"{name}-os"}},
            },
        }
        for i, (name, group, size, _) in enumerate(AZURE_VMS)
    ]
    fake.power_states = {vm_id(name, group).lower(): state for name, group, _, state in AZURE_VMS}
    fake.vm_sizes = {
        "eastus": [
            {
                "name": size,
                "numberOfCores": 4,
                "osDiskSizeInMB": 1047552,
                "resourceDiskSizeInMB": 16384,
                "memoryInMB": memory,
                "maxDataDiskCount": 8,
            }
            for size, memory in AZURE_MEMORY_MB.items()
        ]
    }
    fake.metric_points = azure_vm_points()
    other = WS_ID.replace(WS_NAME, "other-ws").replace(WS_RG, "research")
    fake.workspaces = [
        {
            "id": ws,
            "name": ws.rsplit("/", 1)[1],
            "type": "Microsoft.MachineLearningServices/workspaces",
            "location": "eastus",
            "properties": {"friendlyName": ws.rsplit("/", 1)[1]},
        }
        for ws in (other, WS_ID)
    ]
    fake.jobs = {
        WS_ID.lower(): [
            {
                "id": f"{WS_ID}/jobs/job-{i}",
                "name": f"job-{i}",
                "type": "Microsoft.MachineLearningServices/workspaces/jobs",
                "properties": {"jobType": "Command", "status": status},
            }
            for i, status in enumerate(JOB_STATUSES)
        ]
    }
    fake.online_endpoints = {
        WS_ID.lower(): [
            {
                "id": f"{WS_ID}/onlineEndpoints/{n}",
                "name": n,
                "location": "eastus",
                "properties": {"authMode": "Key", "provisioningState": "Succeeded"},
            }
            for n in ("fraud-ep", "recsys-ep", "canary-ep")
        ]
    }
    month = datetime(2026, 11, 1, tzinfo=UTC)
    fake.metric_points[(WS_ID.lower(), "Active Nodes")] = [
        (month + timedelta(hours=h), {"average": (h % 7) / 4}) for h in range(24 * 3 + 7)
    ]  # Nov 1 00:00 .. 06:00
    fake.pages_for = azure_pages


def expected_vm_lines(names) -> list[str]:
    points = azure_vm_points()
    lines = []
    for name, group, size, state in AZURE_VMS:
        if name not in names:
            continue

        resource = vm_id(name, group).lower()

        def avg(metric, _id=resource):
            values = [
                v["average"]
                for t, v in points.get((_id, metric), [])
                if WINDOW_START <= t < WINDOW_END and "average" in v
            ]
            return mean(values) if values else UNAVAILABLE  # no sample in the fake: n/a

        available, reads, writes = (
            avg(m) for m in ("Available Memory Bytes", "Disk Read Operations/Sec", "Disk Write Operations/Sec")
        )
        memory = (
            UNAVAILABLE if available is UNAVAILABLE else 100 * (1 - available / (AZURE_MEMORY_MB[size] * 1024 * 1024))
        )
        iops = UNAVAILABLE if UNAVAILABLE in (reads, writes) else round(reads + writes, 2)
        price = Decimal(0) if state == "deallocated" else AZURE_PRICE[size]
        lines += [
            f"VM: {name}",
            f"  CPU: {avg('Percentage CPU'):.1f}%",
            f"  Memory: {memory:.1f}%",
            f"  Disk IOPS: {iops}",
            f"  Cost (hourly): ${price:.4f}",
        ]
    return lines


def test_the_azure_guide_examples_print_what_the_apis_hold(tmp_path, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    tls = make_tls_files(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca_bundle)
    with AzureArmFake(tls, client_secret=AZURE_SECRET) as fake:
        azure_scenario(fake)
        agent = AzureTelemetryAgent(
            subscription_id=SUB,
            client_id=fake.client_id,
            client_secret=AZURE_SECRET,
            tenant_id=fake.tenant_id,
            endpoint_url=fake.base_url,
            authority=fake.authority,
            now=lambda: NOW,  # the fake, a fixed clock
        )
        assert agent.endpoint is None and AZURE_SECRET not in repr(agent)

        metrics = agent.collect_vm_metrics(resource_group="ml-resources")

        for vm in metrics:
            print(f"VM: {vm['name']}")
            print(f"  CPU: {vm['cpu_utilization']:.1f}%")
            print(f"  Memory: {vm['memory_utilization']:.1f}%")
            print(f"  Disk IOPS: {vm['disk_iops']}")
            print(f"  Cost (hourly): ${vm['cost_per_hour']:.4f}")
        vm_lines = capsys.readouterr().out.splitlines()

        metrics = agent.collect_ml_workspace_metrics(workspace_name="my-ml-workspace")

        for workspace in metrics:
            print(f"Workspace: {workspace['name']}")
            print(f"  Active Jobs: {workspace['active_jobs']}")
            print(f"  Completed Jobs: {workspace['completed_jobs']}")
            print(f"  Failed Jobs: {workspace['failed_jobs']}")
            print(f"  Compute Hours: {workspace['compute_hours']}")
            print(f"  Monthly Cost: ${workspace['monthly_cost']:.2f}")
        ws_lines = capsys.readouterr().out.splitlines()
        ws_result = metrics

        start_date, end_date = date(2026, 10, 1), date(2026, 10, 3)
        costs = agent.get_cost_management_data(start_date, end_date)

        for service, cost in costs["by_service"].items():
            print(f"{service}: ${cost:.2f}")
        cost_lines = capsys.readouterr().out.splitlines()

        one = agent.collect_vm_metrics(vm_names=["api-7"])  # the whole subscription, one VM kept
        requests_seen = list(fake.requests)
        token = fake.access_token

    # VMs of the resource group (3 of 4, over two pages; "ML-Resources" is the same group), in the API's order
    assert vm_lines == expected_vm_lines({"gpu-train-1", "web-1", "batch-2"})
    web = vm_lines.index("VM: web-1")  # deallocated: no sample in the fake -> n/a, its compute is not billed
    assert vm_lines[web + 1 : web + 5] == [
        "  CPU: n/a%",
        "  Memory: n/a%",
        "  Disk IOPS: n/a",
        "  Cost (hourly): $0.0000",
    ]
    assert "nan" not in "\n".join(vm_lines)
    assert [vm["name"] for vm in one] == ["api-7"] and one[0]["cost_per_hour"] == AZURE_PRICE["Standard_D2s_v3"]
    metric_calls = [
        r
        for r in requests_seen
        if r.path.endswith("/providers/Microsoft.Insights/metrics") and "virtualMachines" in r.path
    ]
    assert {r.query["timespan"][0] for r in metric_calls} == {"2026-11-04T05:30:00Z/2026-11-04T06:30:00Z"}
    assert len(metric_calls) == 4 and all(r.query["interval"] == ["PT5M"] for r in metric_calls)

    # the workspace: jobs by status, node hours from Nov 1, month-to-date cost of it and its sub-resources
    active = sum(s in ("Running", "Queued", "Finalizing") for s in JOB_STATUSES)
    node_hours = round(sum((h % 7) / 4 for h in range(24 * 3 + 7)), 2)
    ws_cost = sum(c for rid, c in WS_COSTS if rid == WS_ID.lower() or rid.startswith(WS_ID.lower() + "/"))
    assert ws_cost == Decimal("247.94567890123401")
    assert ws_lines == [
        f"Workspace: {WS_NAME}",
        f"  Active Jobs: {active}",
        f"  Completed Jobs: {JOB_STATUSES.count('Completed')}",
        f"  Failed Jobs: {JOB_STATUSES.count('Failed')}",
        f"  Compute Hours: {node_hours}",
        f"  Monthly Cost: ${ws_cost:.2f}",
    ]
    assert ws_result[0]["monthly_cost"] == ws_cost and ws_result[0]["currency"] == "USD"
    assert ws_result[0]["online_endpoints"] == ["fraud-ep", "recsys-ep", "canary-ep"]
    month_query = [
        r.body
        for r in requests_seen
        if r.method == "POST"
        and r.body
        and r.path.endswith("/providers/Microsoft.CostManagement/query")
        and r.body["dataset"]["grouping"] == [{"type": "Dimension", "name": "ResourceId"}]
    ]
    assert month_query and month_query[0]["timePeriod"] == {
        "from": "2026-11-01T00:00:00Z",
        "to": "2026-11-04T06:29:59Z",
    }
    assert month_query[0]["dataset"]["filter"]["dimensions"]["values"] == [WS_RG]

    # Cost Management: ActualCost per service over the three days, largest first, exact
    by_service: dict[str, Decimal] = {}
    for _, service, _, cost in azure_cost_lines("ActualCost"):
        by_service[service] = by_service.get(service, Decimal(0)) + cost
    ranked = sorted(by_service.items(), key=lambda item: -item[1])
    assert cost_lines == [f"{service}: ${cost:.2f}" for service, cost in ranked]
    assert costs["by_service"] == dict(ranked) and costs["total"] == sum(by_service.values())
    assert costs["total"].as_tuple().exponent == -10 and costs["currency"] == "USD"
    periods = {
        json.dumps(r.body["timePeriod"])
        for r in requests_seen
        if r.method == "POST" and r.body and r.body.get("dataset", {}).get("granularity") == "Daily"
    }
    assert periods == {json.dumps({"from": "2026-10-01T00:00:00Z", "to": "2026-10-03T23:59:59Z"})}

    text = "\n".join([*vm_lines, *ws_lines, *cost_lines, caplog.text, *(str(r.args) for r in caplog.records)])
    assert AZURE_SECRET not in text and token not in text


def test_azure_collect_calls_push_their_metrics_to_the_server(server, warehouse, tmp_path, monkeypatch):
    tls = make_tls_files(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca_bundle)
    with AzureArmFake(tls, client_secret=AZURE_SECRET) as fake:
        azure_scenario(fake)
        agent = AzureTelemetryAgent(
            server.url,
            SUB,
            client_id=fake.client_id,
            client_secret=AZURE_SECRET,
            tenant_id=fake.tenant_id,
            endpoint_url=fake.base_url,
            authority=fake.authority,
            now=lambda: NOW,
            admin_token=ADMIN,
            spool_dir=tmp_path / "spool",
        )
        vms = agent.collect_vm_metrics(resource_group=RG)
        agent.collect_ml_workspace_metrics(WS_NAME)
    assert len(vms) == 3 and not agent.spool.pending()
    got = pushed(warehouse, agent.agent_id)
    points = azure_vm_points()
    gpu = vm_id("gpu-train-1", RG).lower()
    cpu = mean([v["average"] for t, v in points[(gpu, "Percentage CPU")] if t >= WINDOW_START and "average" in v])
    net_in = sum(v["total"] for t, v in points[(gpu, "Network In Total")] if t >= WINDOW_START)
    assert got[("azure.vm.cpu_utilization", "gpu-train-1")] == Decimal(repr(cpu))
    assert got[("azure.vm.network_in_bytes", "gpu-train-1")] == Decimal(repr(net_in))
    assert {k[1]: v for k, v in got.items() if k[0] == "azure.vm.cost_per_hour"} == {
        "gpu-train-1": Decimal("3.06"),
        "web-1": Decimal("0"),
        "batch-2": Decimal("0.192"),
    }
    assert ("azure.vm.cpu_utilization", "web-1") not in got  # no sample: nothing invented
    assert got[("azure.ml_workspace.failed_jobs", WS_NAME)] == JOB_STATUSES.count("Failed")
    assert len(got) == 6 * 2 + 1 + 4  # 2 running VMs x 6 fields, the deallocated one: its price only; workspace: 4
    unit = rows(
        warehouse,
        "SELECT DISTINCT unit FROM raw.telemetry_metrics WHERE _agent_id = %s AND "
        "metric_name = 'azure.vm.cost_per_hour'",
        agent.agent_id,
    )
    assert unit == [("USD/h estimate",)]


# -- the Azure cycle: the costs and the config's services (the original telemetry.yaml's azure.services) ------------
def cycle_azure_agent(fake: AzureArmFake, server: Server, spool, **kwargs) -> AzureTelemetryAgent:
    return AzureTelemetryAgent(
        server.url,
        SUB,
        client_id=fake.client_id,
        client_secret=AZURE_SECRET,
        tenant_id=fake.tenant_id,
        endpoint_url=fake.base_url,
        authority=fake.authority,
        now=lambda: NOW,
        lookback_days=CYCLE_LOOKBACK,
        admin_token=ADMIN,
        spool_dir=spool,
        **kwargs,
    )


def expected_azure_vm_metrics() -> dict[tuple[str, str], Decimal]:
    """Every VM of the subscription: the six metrics of a running one from its in-window points, the price only of the
    deallocated one (no sample: nothing invented)."""
    points = azure_vm_points()
    out: dict[tuple[str, str], object] = {}
    for name, group, size, state in AZURE_VMS:
        out[("azure.vm.cost_per_hour", name)] = Decimal(0) if state == "deallocated" else AZURE_PRICE[size]
        if state != "running":
            continue
        resource = vm_id(name, group).lower()

        def window(metric, key, _id=resource):
            return [v[key] for t, v in points[(_id, metric)] if WINDOW_START <= t < WINDOW_END and key in v]

        reads, writes = (mean(window(f"Disk {k} Operations/Sec", "average")) for k in ("Read", "Write"))
        available = mean(window("Available Memory Bytes", "average"))
        out[("azure.vm.cpu_utilization", name)] = mean(window("Percentage CPU", "average"))
        out[("azure.vm.memory_utilization", name)] = 100 * (1 - available / (AZURE_MEMORY_MB[size] * 1024 * 1024))
        out[("azure.vm.disk_iops", name)] = round(reads + writes, 2)
        out[("azure.vm.network_in_bytes", name)] = sum(window("Network In Total", "total"))
        out[("azure.vm.network_out_bytes", name)] = sum(window("Network Out Total", "total"))
    return {k: v if isinstance(v, Decimal) else Decimal(repr(v)) for k, v in out.items()}


def expected_azure_workspace_metrics() -> dict[tuple[str, str], Decimal]:
    """Both workspaces of the subscription: my-ml-workspace's jobs by status and node hours; other-ws has none."""
    active = sum(s in azure_telemetry_agent.ACTIVE_JOB_STATUSES for s in JOB_STATUSES)
    node_hours = round(sum((h % 7) / 4 for h in range(24 * 3 + 7)), 2)
    mine = {
        "active_jobs": active,
        "completed_jobs": JOB_STATUSES.count("Completed"),
        "failed_jobs": JOB_STATUSES.count("Failed"),
        "compute_hours": node_hours,
    }
    return {
        **{(f"azure.ml_workspace.{k}", WS_NAME): Decimal(repr(v)) for k, v in mine.items()},
        **{(f"azure.ml_workspace.{k}", "other-ws"): Decimal(0) for k in mine},
    }


def test_an_azure_cycle_pushes_the_costs_and_the_metrics_of_its_services(server, warehouse, tmp_path, monkeypatch):
    tls = make_tls_files(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca_bundle)
    with AzureArmFake(tls, client_secret=AZURE_SECRET) as fake:
        azure_scenario(fake)
        agent = cycle_azure_agent(fake, server, tmp_path / "spool", services=["virtual_machines", "ml_workspace"])
        assert agent.services == ("virtual_machines", "ml_workspace")
        first = agent.run_once()
        got = pushed(warehouse, agent.agent_id)
        again = agent.run_once()  # unchanged vendor data: the same batches, stored once
    assert first.ok and len(first.delivered) == 3, first  # the costs, the VMs, the workspaces: a batch each
    assert again.ok and sorted(again.delivered) == sorted(first.delivered)
    billed = azure_cost_lines("ActualCost")  # the cost pass's ActualCost lines, Oct 1 - 3
    assert len(billed) == 24 and cost_totals(warehouse, agent.agent_id) == (len(billed), sum(c for *_, c in billed))
    assert got == {**expected_azure_vm_metrics(), **expected_azure_workspace_metrics()}
    assert len(got) == 3 * 6 + 1 + 2 * 4  # 3 running VMs x 6, the deallocated one's price; 2 workspaces x 4
    assert pushed(warehouse, agent.agent_id) == got and not agent.spool.pending()


def test_an_azure_cycle_without_services_pushes_the_costs_only(server, warehouse, tmp_path, monkeypatch):
    tls = make_tls_files(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca_bundle)
    billed = azure_cost_lines("ActualCost")
    for n, services in enumerate(([], None)):  # [] and the default: costs only
        with AzureArmFake(tls, client_secret=AZURE_SECRET) as fake:
            azure_scenario(fake)
            agent = cycle_azure_agent(fake, server, tmp_path / f"spool-{n}", services=services)
            result = agent.run_once()
            arm = [r.path for r in fake.arm_requests()]
        assert agent.services == ()
        assert result.ok and len(result.delivered) == 1, result
        assert cost_totals(warehouse, agent.agent_id) == (len(billed), sum(c for *_, c in billed))
        assert pushed(warehouse, agent.agent_id) == {}
        assert not [p for p in arm if "Microsoft.Compute" in p or "MachineLearningServices" in p], arm


class WorkspacesForbiddenFake(AzureArmFake):
    """The service principal lacks read access to the Azure ML workspaces (no role on them)."""

    def answer(self, method, path, query, body, authorization):
        if method == "GET" and path.lower().endswith("/providers/microsoft.machinelearningservices/workspaces"):
            return _reply(
                azure_error(
                    403,
                    "AuthorizationFailed",
                    "The client does not have authorization to perform action "
                    "'Microsoft.MachineLearningServices/workspaces/read'.",
                )
            )
        return super().answer(method, path, query, body, authorization)


def test_an_azure_service_failing_does_not_stop_the_costs_or_the_other_service(
    server, warehouse, tmp_path, monkeypatch, caplog
):
    tls = make_tls_files(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca_bundle)
    with WorkspacesForbiddenFake(tls, client_secret=AZURE_SECRET) as fake:
        azure_scenario(fake)
        agent = cycle_azure_agent(fake, server, tmp_path / "spool", services=["ml_workspace", "virtual_machines"])
        result = agent.run_once()
    assert not result.collected and not result.ok and len(result.delivered) == 2  # the costs and the VMs
    billed = azure_cost_lines("ActualCost")
    assert cost_totals(warehouse, agent.agent_id) == (len(billed), sum(c for *_, c in billed))
    assert pushed(warehouse, agent.agent_id) == expected_azure_vm_metrics()
    assert any("ml_workspace metrics failed" in r.getMessage() and "403" in r.getMessage() for r in caplog.records)


def test_azure_services_are_checked_and_read_from_the_config(tmp_path, capsys):
    with pytest.raises(
        ValueError, match=r"^services \['vms'\]: expected some of \['virtual_machines', 'ml_workspace'\]$"
    ):
        AzureTelemetryAgent(subscription_id=SUB, services=["virtual_machines", "vms"])
    with pytest.raises(ValueError, match="services: expected a list"):
        AzureTelemetryAgent(subscription_id=SUB, services="virtual_machines")
    options = {"subscription_id": SUB, "services": ["virtual_machines", "ml_workspace"]}  # the original guide's
    assert build_from_cli(azure_telemetry_agent, [], options, tmp_path).services == ("virtual_machines", "ml_workspace")
    assert build_from_cli(azure_telemetry_agent, ["--services", "ml_workspace"], options, tmp_path).services == (
        "ml_workspace",
    )
    assert build_from_cli(azure_telemetry_agent, ["--services", "none"], options, tmp_path).services == ()
    assert build_from_cli(azure_telemetry_agent, [], {"subscription_id": SUB}, tmp_path).services == ()
    with pytest.raises(ValueError, match=r"^azure\.services: expected a list"):
        build_from_cli(azure_telemetry_agent, [], {**options, "services": "virtual_machines"}, tmp_path)
    with pytest.raises(ValueError, match=r"services \['ml_workspaces'\]"):
        build_from_cli(azure_telemetry_agent, [], {**options, "services": ["ml_workspaces"]}, tmp_path)
    argv = [
        "--openfinops-endpoint",
        "http://127.0.0.1:9",
        "--subscription-id",
        SUB,
        "--services",
        "vm,ml_workspace",
        "--spool-dir",
        str(tmp_path),
        "--once",
    ]
    with pytest.raises(SystemExit) as stopped:
        azure_telemetry_agent.main(argv)
    assert stopped.value.code == 2 and "services ['vm']: expected some of" in capsys.readouterr().err


# -- Google Cloud ------------------------------------------------------------------------------------------------------
PROJECT = "ml-project-4821"
GCP_PRICE = {
    "a2-highgpu-1g": Decimal("3.673385"),
    "n1-standard-4": Decimal("0.189999"),
    "e2-standard-4": Decimal("0.134012"),
    "nvidia-tesla-t4": Decimal("0.35"),
}
GCP_INSTANCES = (  # name, id, zone, machine type, status, GPUs (type, count), Spot
    ("train-a100", "4201", "us-central1-a", "a2-highgpu-1g", "RUNNING", ("nvidia-tesla-a100", 1), False),
    ("infer-t4", "4202", "us-central1-a", "n1-standard-4", "RUNNING", ("nvidia-tesla-t4", 2), False),
    ("web-e2", "4203", "us-central1-a", "e2-standard-4", "TERMINATED", None, False),
    ("spot-n2", "4204", "us-central1-b", "n2-standard-8", "RUNNING", None, True),
)
ENDPOINTS = (("1111", "fraud-scorer", 2), ("2222", "recsys", 1), ("3333", "idle", 1))  # id, name, deployed models
BASE = "https://www.googleapis.com/compute/v1/projects/" + PROJECT


def gcp_instance(name, iid, zone, machine, status, gpus, spot) -> dict:
    body = {
        "kind": "compute#instance",
        "id": iid,
        "name": name,
        "status": status,
        "zone": f"{BASE}/zones/{zone}",
        "machineType": f"{BASE}/zones/{zone}/machineTypes/{machine}",
        "scheduling": {"provisioningModel": "SPOT" if spot else "STANDARD", "preemptible": False},
    }
    if gpus:
        body["guestAccelerators"] = [
            {"acceleratorType": f"{BASE}/zones/{zone}/acceleratorTypes/{gpus[0]}", "acceleratorCount": gpus[1]}
        ]
    return body


def gcp_series() -> list[Series]:
    rng = random.Random(1729)
    times = [WINDOW_START + timedelta(minutes=m) for m in (-5, 0, 10, 20, 30, 40, 50, 60)]  # first two outside

    def samples(make):
        return [(t, make()) for t in times]

    out = []
    for name, iid, zone, _, status, gpus, _ in GCP_INSTANCES:
        if status != "RUNNING":
            continue
        labels = {"project_id": PROJECT, "instance_id": iid, "zone": zone}
        out.append(
            Series(
                "compute.googleapis.com/instance/cpu/utilization",
                "gce_instance",
                labels,
                samples(lambda: rng.randrange(0, 1024) / 1024),
                {"instance_name": name},
            )
        )
        for state in ("used", "free"):
            out.append(
                Series(
                    "agent.googleapis.com/memory/percent_used",
                    "gce_instance",
                    labels,
                    samples(lambda: rng.randrange(0, 400) / 4),
                    {"state": state},
                )
            )
        for n in range((gpus or (None, 0))[1]):
            out.append(
                Series(
                    "agent.googleapis.com/gpu/utilization",
                    "gce_instance",
                    labels,
                    samples(lambda: rng.randrange(0, 400) / 4),
                    {"gpu_number": str(n)},
                )
            )
    for eid, _, models in ENDPOINTS:
        if eid == "3333":
            continue
        labels = {"resource_container": PROJECT, "location": "us-central1", "endpoint_id": eid}
        for m in range(models):
            model = {"deployed_model_id": f"{eid}{m}"}
            out.append(
                Series(
                    "aiplatform.googleapis.com/prediction/online/prediction_count",
                    "aiplatform.googleapis.com/Endpoint",
                    labels,
                    samples(lambda: rng.randrange(0, 5000)),
                    model,
                    "DELTA",
                )
            )
            out.append(
                Series(
                    "aiplatform.googleapis.com/prediction/online/error_count",
                    "aiplatform.googleapis.com/Endpoint",
                    labels,
                    samples(lambda: rng.randrange(0, 50)),
                    model,
                    "DELTA",
                )
            )
            for kind in ("total", "model"):
                out.append(
                    Series(
                        "aiplatform.googleapis.com/prediction/online/prediction_latencies",
                        "aiplatform.googleapis.com/Endpoint",
                        labels,
                        [(t, rng.randrange(100, 20000) / 8) for t in times for _ in range(5)],
                        {**model, "latency_type": kind},
                        "DELTA",
                    )
                )
    return out


def in_window(series: Series) -> list:
    return [v for t, v in series.samples if WINDOW_START < t <= WINDOW_END]


def gcp_scenario(fake: FakeGoogleCloud) -> None:
    fake.instances = {}
    for spec in GCP_INSTANCES:
        fake.instances.setdefault(spec[2], []).append(gcp_instance(*spec))
    fake.instances["us-central1-c"] = []
    fake.series = gcp_series()
    fake.endpoints = {
        "us-central1": [
            {
                "name": f"projects/123456789012/locations/us-central1/endpoints/{eid}",
                "displayName": name,
                "deployedModels": [
                    {"id": f"{eid}{m}", "model": "projects/1/locations/us-central1/models/9"} for m in range(models)
                ],
                "createTime": "2026-09-01T10:00:00Z",
            }
            for eid, name, models in ENDPOINTS
        ]
    }


def gcp_export_rows() -> list[dict]:
    rng = random.Random(99)
    project = {"id": PROJECT, "number": "123456789012", "name": "ML", "labels": []}
    out = []
    for day in (date(2026, 10, 1), date(2026, 10, 2)):
        for service, sku, credit in (
            (("6F81-5844-456A", "Compute Engine"), ("CF4E", "A2 core"), True),
            (("95FF-2EF5-5EA1", "Cloud Storage"), ("E5F0", "Standard storage"), False),
            (("C7E2-9256-1C43", "Vertex AI"), ("1B2C", "Online prediction"), False),
        ):
            cost = Decimal(rng.randrange(1, 10**11)).scaleb(-9)
            credits = (("SUSTAINED_USAGE_DISCOUNT", "SUD", -(cost / 5).quantize(Decimal("1E-9"))),) if credit else ()
            out.append(
                export_row(
                    billing_account="0123AB-4567CD-89EF01",
                    project=project,
                    service=service,
                    sku=sku,
                    start=datetime(day.year, day.month, day.day, 7, tzinfo=UTC),
                    cost=cost,
                    credits=credits,
                )
            )
    return out


def expected_instance_lines(series: list[Series]) -> list[str]:
    def per_instance(metric_type: str, iid: str, scale: float = 1, state: str | None = None) -> float:
        means = [
            mean(in_window(s))
            for s in series
            if s.metric_type == metric_type
            and s.resource_labels["instance_id"] == iid
            and s.metric_labels.get("state", state) == state
        ]
        return mean(means) * scale if means else UNAVAILABLE  # no sample in the fake: n/a

    lines = []
    for name, iid, zone, machine, status, gpus, _ in GCP_INSTANCES:
        if zone != "us-central1-a":
            continue
        price = GCP_PRICE[machine]
        if gpus and not machine.startswith("a2-"):
            price += GCP_PRICE[gpus[0]] * gpus[1]
        price = price if status == "RUNNING" else Decimal(0)
        lines += [
            f"Instance: {name}",
            f"  CPU: {per_instance('compute.googleapis.com/instance/cpu/utilization', iid, 100):.1f}%",
            f"  Memory: {per_instance('agent.googleapis.com/memory/percent_used', iid, state='used'):.1f}%",
            f"  GPU: {per_instance('agent.googleapis.com/gpu/utilization', iid):.1f}%",
            f"  Cost (hourly): ${price:.4f}",
        ]
    return lines


def expected_endpoint_lines(series: list[Series]) -> list[str]:
    lines = []
    for eid, name, _ in ENDPOINTS:
        mine = [s for s in series if s.resource_labels.get("endpoint_id") == eid]
        count = sum(sum(in_window(s)) for s in mine if s.metric_type.endswith("prediction_count"))
        errors = sum(sum(in_window(s)) for s in mine if s.metric_type.endswith("error_count"))
        latencies = [in_window(s) for s in mine if s.metric_labels.get("latency_type") == "total"]
        p50 = max((nearest_rank(v, 50) for v in latencies), default=UNAVAILABLE)
        p95 = max((nearest_rank(v, 95) for v in latencies), default=UNAVAILABLE)
        rate = errors / count * 100 if count else (0.0 if not errors else UNAVAILABLE)
        lines += [
            f"Endpoint: {name}",
            f"  Predictions: {count}",
            f"  Latency (p50): {p50:.2f}ms",
            f"  Latency (p95): {p95:.2f}ms",
            f"  Error Rate: {rate:.2f}%",
        ]
    return lines


def test_the_gcp_guide_examples_print_what_the_apis_hold(tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    private_key, public_key = new_service_account_key()
    export = gcp_export_rows()
    with FakeGoogleCloud(public_key_pem=public_key) as fake:
        gcp_scenario(fake)
        fake.serve(RESULT_SCHEMA, query_result(export))
        key = keyfile(fake.token_uri, private_key, PROJECT, f"agent@{PROJECT}.iam.gserviceaccount.com")
        (tmp_path / "credentials.json").write_text(json.dumps(key))
        agent = GCPTelemetryAgent(
            project_id="ml-project-4821",
            credentials_file=str(tmp_path / "credentials.json"),
            billing_table="billing-admin.billing.gcp_billing_export_v1_0123AB_4567CD_89EF01",  # for get_billing_data
            endpoint_url=fake.url,
            now=lambda: NOW,  # the fake, a fixed clock
        )

        metrics = agent.collect_compute_metrics(zone="us-central1-a")

        for instance in metrics:
            print(f"Instance: {instance['name']}")
            print(f"  CPU: {instance['cpu_utilization']:.1f}%")
            print(f"  Memory: {instance['memory_utilization']:.1f}%")
            print(f"  GPU: {instance['gpu_utilization']:.1f}%")
            print(f"  Cost (hourly): ${instance['cost_per_hour']:.4f}")
        instance_lines = capsys.readouterr().out.splitlines()

        metrics = agent.collect_vertex_ai_metrics()

        for endpoint in metrics:
            print(f"Endpoint: {endpoint['name']}")
            print(f"  Predictions: {endpoint['prediction_count']}")
            print(f"  Latency (p50): {endpoint['latency_p50_ms']:.2f}ms")
            print(f"  Latency (p95): {endpoint['latency_p95_ms']:.2f}ms")
            print(f"  Error Rate: {endpoint['error_rate']:.2f}%")
        endpoint_lines = capsys.readouterr().out.splitlines()

        start_date, end_date = date(2026, 10, 1), date(2026, 10, 2)
        billing = agent.get_billing_data(start_date, end_date)

        print(f"Total Cost: ${billing['total']:.2f}")
        for service, cost in billing["by_service"].items():
            print(f"  {service}: ${cost:.2f}")
        billing_lines = capsys.readouterr().out.splitlines()

        everywhere = agent.collect_compute_metrics()  # aggregatedList: every zone
        one = agent.collect_vertex_ai_metrics(endpoint_id="2222")
        asked = list(fake.queries)
        monitoring = list(fake.monitoring_queries)
        issued = list(fake.issued_tokens)

    series = gcp_series()
    assert instance_lines == expected_instance_lines(series)
    assert "  GPU: n/a%" in instance_lines  # the e2 instance is TERMINATED: no sample, none invented
    assert endpoint_lines == expected_endpoint_lines(series)
    idle = endpoint_lines.index("Endpoint: idle")  # no series in the fake: n/a latencies, no predictions -> 0 %
    assert endpoint_lines[idle + 2 : idle + 5] == [
        "  Latency (p50): n/ams",
        "  Latency (p95): n/ams",
        "  Error Rate: 0.00%",
    ]
    assert "nan" not in "\n".join([*instance_lines, *endpoint_lines])
    assert [e["endpoint_id"] for e in one] == ["2222"]
    assert {m["interval.startTime"] for m in monitoring} == {"2026-11-04T05:30:00Z"}
    assert all(m["aggregation.alignmentPeriod"] == "3600s" for m in monitoring)

    by_service: dict[str, Decimal] = {}
    for r in export:
        name = r["service"]["description"]
        by_service[name] = by_service.get(name, Decimal(0)) + r["cost"] + sum(c["amount"] for c in r["credits"])
    ranked = sorted(by_service.items(), key=lambda item: -item[1])
    assert billing_lines == [
        f"Total Cost: ${sum(by_service.values()):.2f}",
        *(f"  {service}: ${cost:.2f}" for service, cost in ranked),
    ]
    assert billing["total"] == sum(by_service.values()) and billing["by_service"] == dict(ranked)
    assert billing["credits"] == sum(c["amount"] for r in export for c in r["credits"]) < 0
    assert {q.parameters["window_start"] for q in asked} == {("TIMESTAMP", "2026-10-01 00:00:00+00:00")}
    assert {q.parameters["window_end"] for q in asked} == {("TIMESTAMP", "2026-10-03 00:00:00+00:00")}

    assert sorted(i["name"] for i in everywhere) == sorted(spec[0] for spec in GCP_INSTANCES)
    spot = next(i for i in everywhere if i["name"] == "spot-n2")
    assert spot["cost_per_hour"] is UNAVAILABLE and spot["zone"] == "us-central1-b"  # Spot: no list-price estimate
    assert f"{spot['cost_per_hour']:.4f}" == "n/a" and not spot["cost_per_hour"]
    # one convention: the AWS, Azure and GCP agents give the same singleton (agents.collector_agent.UNAVAILABLE)
    for module in (aws_telemetry_agent, azure_telemetry_agent, gcp_telemetry_agent):
        assert module.UNAVAILABLE is UNAVAILABLE
    with pytest.raises(TypeError):
        spot["cost_per_hour"] * 24

    text = "\n".join(
        [*instance_lines, *endpoint_lines, *billing_lines, caplog.text, *(str(r.args) for r in caplog.records)]
    )
    assert issued
    for secret in [*key_secrets(key), *issued]:
        assert secret not in text


def test_gcp_collect_calls_push_their_metrics_to_the_server(server, warehouse, tmp_path):
    private_key, public_key = new_service_account_key()
    with FakeGoogleCloud(public_key_pem=public_key) as fake:
        gcp_scenario(fake)
        key = keyfile(fake.token_uri, private_key, PROJECT, f"agent@{PROJECT}.iam.gserviceaccount.com")
        (tmp_path / "key.json").write_text(json.dumps(key))
        agent = GCPTelemetryAgent(
            server.url,
            PROJECT,
            billing_table="b.b.gcp_billing_export_v1_X",
            credentials_file=str(tmp_path / "key.json"),
            endpoint_url=fake.url,
            now=lambda: NOW,
            admin_token=ADMIN,
            spool_dir=tmp_path / "spool",
        )
        agent.collect_compute_metrics(zone="us-central1-a")
        agent.collect_vertex_ai_metrics()
    got = pushed(warehouse, agent.agent_id)
    assert not agent.spool.pending()
    assert {k[1]: v for k, v in got.items() if k[0] == "gcp.compute.cost_per_hour"} == {
        "train-a100": Decimal("3.673385"),
        "infer-t4": Decimal("0.889999"),
        "web-e2": Decimal("0"),
    }
    fraud = [s for s in gcp_series() if s.resource_labels.get("endpoint_id") == "1111"]
    assert got[("gcp.vertex_ai.prediction_count", "1111")] == sum(
        sum(in_window(s)) for s in fraud if s.metric_type.endswith("prediction_count")
    )
    assert ("gcp.compute.gpu_utilization", "web-e2") not in got
    assert ("gcp.vertex_ai.latency_p50_ms", "3333") not in got and got[("gcp.vertex_ai.prediction_count", "3333")] == 0


# -- the Google Cloud cycle: the costs and the config's services (gcp.services) ---------------------------------------
def cycle_gcp_agent(fake: FakeGoogleCloud, server: Server, tmp_path, spool: str, **kwargs) -> GCPTelemetryAgent:
    return GCPTelemetryAgent(
        server.url,
        PROJECT,
        billing_table="billing-admin.billing.gcp_billing_export_v1_0123AB_4567CD_89EF01",
        credentials_file=str(tmp_path / "key.json"),
        endpoint_url=fake.url,
        now=lambda: NOW,
        lookback_days=CYCLE_LOOKBACK,
        admin_token=ADMIN,
        spool_dir=tmp_path / spool,
        **kwargs,
    )


def expected_gcp_metrics() -> dict[tuple[str, str], object]:
    """Every instance of every zone and every Vertex AI endpoint of us-central1, from the fake's series: floats are
    means / percentiles, counts and list prices exact; what has no sample or no price is absent."""
    series = gcp_series()
    out: dict[tuple[str, str], object] = {}
    for name, iid, _, machine, status, gpus, spot in GCP_INSTANCES:

        def per_instance(metric_type, state=None, _iid=iid):
            means = [
                mean(in_window(s))
                for s in series
                if s.metric_type == metric_type
                and s.resource_labels["instance_id"] == _iid
                and s.metric_labels.get("state", state) == state
            ]
            return mean(means) if means else None

        values = {
            "cpu_utilization": per_instance(gcp_telemetry_agent.CPU),
            "memory_utilization": per_instance(gcp_telemetry_agent.MEMORY, "used"),
            "gpu_utilization": per_instance(gcp_telemetry_agent.GPU),
        }
        if values["cpu_utilization"] is not None:
            values["cpu_utilization"] *= 100
        if not spot:  # Spot: no list-price estimate
            price = GCP_PRICE[machine] + (GCP_PRICE[gpus[0]] * gpus[1] if gpus and not machine.startswith("a2-") else 0)
            values["cost_per_hour"] = price if status == "RUNNING" else Decimal(0)
        out.update({(f"gcp.compute.{k}", name): v for k, v in values.items() if v is not None})
    for eid, _, _ in ENDPOINTS:
        mine = [s for s in series if s.resource_labels.get("endpoint_id") == eid]
        count = sum(sum(in_window(s)) for s in mine if s.metric_type.endswith("prediction_count"))
        errors = sum(sum(in_window(s)) for s in mine if s.metric_type.endswith("error_count"))
        latencies = [in_window(s) for s in mine if s.metric_labels.get("latency_type") == "total"]
        values = {
            "prediction_count": count,
            "error_count": errors,
            "error_rate": errors / count * 100 if count else 0.0,
        }
        if latencies:
            values["latency_p50_ms"] = float(max(nearest_rank(v, 50) for v in latencies))
            values["latency_p95_ms"] = float(max(nearest_rank(v, 95) for v in latencies))
        out.update({(f"gcp.vertex_ai.{k}", eid): v for k, v in values.items()})
    return out


def assert_gcp_metrics(got: dict[tuple[str, str], Decimal], expected: dict[tuple[str, str], object]) -> None:
    assert set(got) == set(expected)
    for key, value in expected.items():
        if isinstance(value, float):
            assert float(got[key]) == pytest.approx(value, rel=1e-12), key
        else:
            assert got[key] == value, key


def gcp_costs(export: list[dict]) -> tuple[int, Decimal]:
    """Every cost line and every (negative) credit line: records and their net sum."""
    lines = [r["cost"] for r in export] + [c["amount"] for r in export for c in r["credits"]]
    return len(lines), sum(lines)


def test_a_gcp_cycle_pushes_the_costs_and_the_metrics_of_its_services(server, warehouse, tmp_path):
    private_key, public_key = new_service_account_key()
    export = gcp_export_rows()
    with FakeGoogleCloud(public_key_pem=public_key) as fake:
        gcp_scenario(fake)
        fake.serve(RESULT_SCHEMA, query_result(export))
        key = keyfile(fake.token_uri, private_key, PROJECT, f"agent@{PROJECT}.iam.gserviceaccount.com")
        (tmp_path / "key.json").write_text(json.dumps(key))
        agent = cycle_gcp_agent(fake, server, tmp_path, "spool", services=["compute", "vertex_ai"])
        assert agent.services == ("compute", "vertex_ai")
        result = agent.run_once()
        asked = list(fake.queries)
    assert result.ok and len(result.delivered) == 3, result  # the costs, Compute Engine, Vertex AI: a batch each
    assert {q.parameters["window_start"] for q in asked} == {("TIMESTAMP", "2026-10-01 00:00:00+00:00")}
    assert cost_totals(warehouse, agent.agent_id) == gcp_costs(export)
    got = pushed(warehouse, agent.agent_id)
    expected = expected_gcp_metrics()
    assert_gcp_metrics(got, expected)
    assert len(expected) == 4 + 4 + 1 + 2 + 5 + 5 + 3  # a100, t4, TERMINATED e2 (price), Spot n2; 3 endpoints
    assert got[("gcp.compute.cost_per_hour", "infer-t4")] == Decimal("0.889999") and not agent.spool.pending()


def test_a_gcp_cycle_without_services_pushes_the_costs_only(server, warehouse, tmp_path):
    private_key, public_key = new_service_account_key()
    export = gcp_export_rows()
    for n, services in enumerate(([], None)):  # [] and the default: costs only
        with FakeGoogleCloud(public_key_pem=public_key) as fake:
            gcp_scenario(fake)
            fake.serve(RESULT_SCHEMA, query_result(export))
            key = keyfile(fake.token_uri, private_key, PROJECT, f"agent@{PROJECT}.iam.gserviceaccount.com")
            (tmp_path / "key.json").write_text(json.dumps(key))
            agent = cycle_gcp_agent(fake, server, tmp_path, f"spool-{n}", services=services)
            result = agent.run_once()
            cloud = [path for _, path, _ in fake.requests if path.startswith(("/compute/", "/v3/", "/v1/"))]
        assert agent.services == ()
        assert result.ok and len(result.delivered) == 1, result
        assert cost_totals(warehouse, agent.agent_id) == gcp_costs(export)
        assert pushed(warehouse, agent.agent_id) == {} and cloud == []


def test_gcp_services_are_checked_and_read_from_the_config(tmp_path):
    with pytest.raises(ValueError, match=r"^services \['gke'\]: expected some of \['compute', 'vertex_ai'\]$"):
        GCPTelemetryAgent(project_id=PROJECT, services=["compute", "gke"])
    with pytest.raises(ValueError, match="services: expected a list"):
        GCPTelemetryAgent(project_id=PROJECT, services="compute")
    options = {"project_id": PROJECT, "billing_table": "b.b.t", "services": ["compute", "vertex_ai"]}  # the guide's
    agent = build_from_cli(gcp_telemetry_agent, [], {**options, "region": "europe-west4"}, tmp_path)
    assert agent.services == ("compute", "vertex_ai") and agent.region == "europe-west4"
    agent = build_from_cli(gcp_telemetry_agent, ["--services", "vertex_ai", "--region", "us-east1"], options, tmp_path)
    assert agent.services == ("vertex_ai",) and agent.region == "us-east1"
    assert build_from_cli(gcp_telemetry_agent, ["--services", "none"], options, tmp_path).services == ()
    agent = build_from_cli(gcp_telemetry_agent, [], {**options, "services": None}, tmp_path)
    assert agent.services == () and agent.region == "us-central1"
    with pytest.raises(ValueError, match=r"^gcp\.services: expected a list"):
        build_from_cli(gcp_telemetry_agent, [], {**options, "services": "compute"}, tmp_path)
    with pytest.raises(ValueError, match=r"services \['vertex'\]"):
        build_from_cli(gcp_telemetry_agent, ["--services", "compute,vertex"], options, tmp_path)


# -- CostObservatory.track_cloud_cost ---------------------------------------------------------------------------------
def test_track_cloud_cost_straight_to_the_warehouse_keeps_the_decimal(empty_db, monkeypatch):
    monkeypatch.setenv("OPENFINOPS_WAREHOUSE_URL", empty_db)
    for name in ("OPENFINOPS_ENDPOINT", "OPENFINOPS_API_KEY", "OPENFINOPS_AGENT_ID"):
        monkeypatch.delenv(name, raising=False)
    from openfinops.observability.cost_observatory import CostObservatory

    cost_obs = CostObservatory()
    exact = Decimal("0.123456789012345678901234567")
    first = cost_obs.track_cloud_cost(provider="azure", service="vm", cost=exact, vm_name="gpu-train-1")
    second = cost_obs.track_cloud_cost(
        provider="gcp", service="compute", cost=0.1, region="us-central1", currency="EUR", instance_name="infer-t4"
    )
    assert first["via"] == "warehouse" and first["record"]["cost"] == exact
    assert second["record"]["cost"] == Decimal("0.1")  # a float by its shortest repr, not 0.1000000000000000055...
    stored = rows(
        empty_db,
        """SELECT provider_name, service_name, cost, currency, region, resource_id,
                                      tags->>'vm_name', _agent_id, _batch_id
                               FROM raw.telemetry_cost_records ORDER BY charge_period_start""",
    )
    assert stored == [
        ("Microsoft Azure", "vm", exact, "USD", None, "gpu-train-1", "gpu-train-1", "python-api", first["batch_id"]),
        (
            "Google Cloud",
            "compute",
            Decimal("0.1"),
            "EUR",
            "us-central1",
            "infer-t4",
            None,
            "python-api",
            second["batch_id"],
        ),
    ]
    for bad in (math.nan, float("inf"), True, None, "12,5", UNAVAILABLE):
        with pytest.raises(ValueError):
            cost_obs.track_cloud_cost(provider="aws", service="ec2", cost=bad, instance_id="i-1")
    with pytest.raises(ValueError):
        cost_obs.track_cloud_cost(provider="aws", service="ec2", cost=1, currency="usd")
    assert rows(empty_db, "SELECT count(*) FROM raw.telemetry_cost_records") == [(2,)]


def test_track_cloud_cost_through_the_ingest_server(server, warehouse, tmp_path, monkeypatch):
    agent = requests.post(
        f"{server.url}/api/v1/agents/register",
        json={"agent_type": "python-api"},
        timeout=10,
        headers={"Authorization": f"Bearer {ADMIN}"},
    ).json()
    monkeypatch.setenv("OPENFINOPS_ENDPOINT", server.url)
    monkeypatch.setenv("OPENFINOPS_API_KEY", agent["api_key"])
    monkeypatch.setenv("OPENFINOPS_AGENT_ID", agent["agent_id"])
    monkeypatch.setenv("OPENFINOPS_WAREHOUSE_URL", warehouse)
    from openfinops.observability import CostObservatory  # the Complete Example's import

    cost_obs = CostObservatory()
    tls = make_tls_files(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca_bundle)
    with AzureArmFake(tls, client_secret=AZURE_SECRET) as fake:
        azure_scenario(fake)
        azure_agent = AzureTelemetryAgent(
            subscription_id=SUB,
            client_id=fake.client_id,
            client_secret=AZURE_SECRET,
            tenant_id=fake.tenant_id,
            endpoint_url=fake.base_url,
            authority=fake.authority,
            now=lambda: NOW,
        )
        # the guide's "Complete Example", Azure part
        azure_vms = azure_agent.collect_vm_metrics()
        results = []
        for vm in azure_vms:
            results.append(
                cost_obs.track_cloud_cost(provider="azure", service="vm", cost=vm["cost_per_hour"], vm_name=vm["name"])
            )
        # a size the price table does not know: the estimate is UNAVAILABLE, and the guide's loop stops there with a
        # clear error instead of storing a made-up cost
        monkeypatch.delitem(AZURE_LIST_PRICES, ("eastus", "standard_d4s_v3"))
        unpriced = azure_agent.collect_vm_metrics(vm_names=["batch-2"])
    assert unpriced[0]["cost_per_hour"] is UNAVAILABLE
    with pytest.raises(ValueError, match="cost: expected a Decimal, a number or a decimal string, got UNAVAILABLE"):
        cost_obs.track_cloud_cost(provider="azure", service="vm", cost=unpriced[0]["cost_per_hour"], vm_name="batch-2")
    assert {r["via"] for r in results} == {"ingest server"}
    stored = rows(
        warehouse,
        "SELECT resource_id, cost, currency, provider_name FROM raw.telemetry_cost_records "
        "WHERE _agent_id = %s ORDER BY resource_id",
        agent["agent_id"],
    )
    expected = {name: Decimal(0) if state == "deallocated" else AZURE_PRICE[size] for name, _, size, state in AZURE_VMS}
    assert stored == [(name, expected[name], "USD", "Microsoft Azure") for name in sorted(expected)]
    revoked = "ofo_revoked-key"
    monkeypatch.setenv("OPENFINOPS_API_KEY", revoked)
    from openfinops.observability.llm_observability import IngestError

    with pytest.raises(IngestError, match="401"):
        CostObservatory().track_cloud_cost(provider="aws", service="ec2", cost=Decimal("1.5"), instance_id="i-1")
