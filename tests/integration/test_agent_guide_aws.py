"""The original telemetry-agent guide's AWS examples, run as written against moto (a real moto server behind a
recording proxy: botocore makes real HTTP requests, the proxy shows what reached "AWS").

Expected values come from the fixtures put into moto (CloudWatch datapoints put with put_metric_data, S3 objects, Cost
Explorer answers) and from AWS's published list prices written here as literals, never from the agent. Shown: the
guide's EC2, SageMaker, S3 and Cost Explorer snippets print the fixture's values (a metric without a datapoint prints
``n/a``, never 0); without a server nothing is spooled or pushed, with ``OPENFINOPS_ENDPOINT`` the guide's constructor
pushes the metrics, exact, into raw.telemetry_metrics; ``start_collection`` runs cycles in a daemon thread that
``stop_collection`` ends promptly; the secret key never shows in logs or output."""

from __future__ import annotations

import json
import logging
import statistics
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, localcontext

import boto3
import psycopg
import pytest

from agents.aws_telemetry_agent import AWSTelemetryAgent
from agents.collector_agent import UNAVAILABLE
from tests.fakes.moto_server import CREDENTIALS, MotoServer
from tests.fakes.recording_proxy import RecordingProxy
from tests.servers import Server

ADMIN = "guide-aws-admin-token-4f2a"
AWS_SECRET = "guideSECRETkeyNeverLogged/9xQeLmZ+uTvW"
REGION = "us-west-2"
LINUX_AMI = "ami-1e749f67"  # an Ubuntu image of moto's catalogue
WINDOWS_AMI = "ami-12c6146b"  # a Windows Server image of moto's catalogue
CE_RESULTS = "/moto-api/static/ce/cost-and-usage-results"
GIB = 2**30

# AWS on-demand list prices, us-west-2, USD (https://aws.amazon.com/ec2/pricing/on-demand/ Linux m5.large;
# https://aws.amazon.com/sagemaker/pricing/ real-time inference ml.m5.xlarge; https://aws.amazon.com/s3/pricing/
# first 50 TB per GB-month)
M5_LARGE_HOURLY = Decimal("0.096")
ML_M5_XLARGE_HOURLY = Decimal("0.23")
S3_STANDARD_GB_MONTH = Decimal("0.023")
S3_STANDARD_IA_GB_MONTH = Decimal("0.0125")

# CloudWatch fixtures (minutes before "now" -> value)
CPU = {12: 20.0, 22: 35.5, 32: 50.25}
CPU_OUTSIDE_WINDOW = {180: 99.0}
NET_IN = {12: 1000.0, 22: 2500.0, 32: 1200.0}
NET_OUT = {12: 700.0, 22: 300.0, 32: 0.0}
MEMORY = {12: 61.5, 27: 62.5}
WINDOWS_CPU = {17: 80.0}
INVOCATIONS = {12: 120.0, 17: 80.0}
LATENCY_US = {12: (120, 15234.0), 17: (80, 20111.0)}  # (invocations, mean microseconds) per period
ERRORS_4XX = {12: 3.0, 17: 1.0}
ERRORS_5XX = {12: 0.0, 17: 2.0}
TRAINING_OBJECTS = (1000, 2048, 4096)
MODEL_OBJECTS = (10_000,)
MODELS_IA_BYTES = 5_905_580_032  # 5.5 GiB in STANDARD_IA


@pytest.fixture(scope="module")
def moto():
    with MotoServer() as m:
        yield m


@pytest.fixture(scope="module")
def proxy(moto):
    with RecordingProxy(moto.url) as p:
        yield p


@pytest.fixture(scope="module")
def warehouse():
    from tests.conftest import create_database, drop_database

    url = create_database("ofo_agent_guide_aws")
    yield url
    drop_database(url)


@pytest.fixture(scope="module")
def server(warehouse):
    s = Server(warehouse_url=warehouse, admin_token=ADMIN)
    yield s
    s.stop()


@pytest.fixture()
def aws(moto, proxy, monkeypatch, tmp_path, caplog):
    """A clean moto; the agent's AWS calls go through the proxy (env AWS_ENDPOINT_URL, as boto3 reads it); the guide's
    os.getenv() credentials; no OpenFinOps server unless a test sets one."""
    caplog.set_level(logging.DEBUG)
    moto.reset()
    with proxy.lock:
        proxy.requests.clear()
    for name in ("OPENFINOPS_ENDPOINT", "OPENFINOPS_SERVER_ADMIN_TOKEN", "OPENFINOPS_API_KEY", "AWS_PROFILE",
                 "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("OPENFINOPS_AGENT_SPOOL_DIR", str(tmp_path / "spool"))

    def client(service: str, region: str = REGION):  # the test's own clients talk to moto directly
        return boto3.client(service, endpoint_url=moto.url, region_name=region, **CREDENTIALS)

    return client


def put(cw, namespace: str, name: str, dims: list[dict], points: dict, now: datetime, unit: str = "None") -> None:
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": name, "Dimensions": dims, "Timestamp": now - timedelta(minutes=m), "Value": v, "Unit": unit}
        for m, v in points.items()])


def seed_ec2(client) -> dict[str, str]:
    ec2, cw, now = client("ec2"), client("cloudwatch"), datetime.now(UTC)

    def run(ami: str, kind: str) -> str:
        return ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType=kind)["Instances"][0]["InstanceId"]

    ids = {"linux": run(LINUX_AMI, "m5.large"), "windows": run(WINDOWS_AMI, "t3.medium"),
           "stopped": run(LINUX_AMI, "m5.large")}
    ec2.stop_instances(InstanceIds=[ids["stopped"]])
    linux = [{"Name": "InstanceId", "Value": ids["linux"]}]
    put(cw, "AWS/EC2", "CPUUtilization", linux, {**CPU, **CPU_OUTSIDE_WINDOW}, now, "Percent")
    put(cw, "AWS/EC2", "NetworkIn", linux, NET_IN, now, "Bytes")
    put(cw, "AWS/EC2", "NetworkOut", linux, NET_OUT, now, "Bytes")
    put(cw, "CWAgent", "mem_used_percent", [*linux, {"Name": "ImageId", "Value": LINUX_AMI},
                                            {"Name": "InstanceType", "Value": "m5.large"}], MEMORY, now, "Percent")
    put(cw, "AWS/EC2", "CPUUtilization", [{"Name": "InstanceId", "Value": ids["windows"]}], WINDOWS_CPU, now,
        "Percent")
    return ids


def seed_sagemaker(client) -> None:
    sm, cw, now = client("sagemaker"), client("cloudwatch"), datetime.now(UTC)
    for endpoint, kind, count in (("my-model-endpoint", "ml.m5.xlarge", 2), ("gpu-endpoint", "ml.p3.16xlarge", 1)):
        sm.create_model(ModelName=f"{endpoint}-model", ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
                        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-west-2.amazonaws.com/model:1"})
        sm.create_endpoint_config(EndpointConfigName=f"{endpoint}-config", ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": f"{endpoint}-model", "InitialInstanceCount": count,
             "InstanceType": kind}])
        sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-config")
    dims = [{"Name": "EndpointName", "Value": "my-model-endpoint"}, {"Name": "VariantName", "Value": "AllTraffic"}]
    put(cw, "AWS/SageMaker", "Invocations", dims, INVOCATIONS, now)
    put(cw, "AWS/SageMaker", "Invocation4XXErrors", dims, ERRORS_4XX, now)
    put(cw, "AWS/SageMaker", "Invocation5XXErrors", dims, ERRORS_5XX, now)
    cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[  # per-period statistics, as SageMaker publishes them
        {"MetricName": "ModelLatency", "Dimensions": dims, "Timestamp": now - timedelta(minutes=m),
         "StatisticValues": {"SampleCount": n, "Sum": n * mean, "Minimum": mean / 2, "Maximum": mean * 2},
         "Unit": "Microseconds"} for m, (n, mean) in LATENCY_US.items()])


def seed_s3(client) -> None:
    s3, cw = client("s3"), client("cloudwatch")
    for bucket, sizes in (("my-training-data", TRAINING_OBJECTS), ("my-models", MODEL_OBJECTS)):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        for n, size in enumerate(sizes):
            s3.put_object(Bucket=bucket, Key=f"object-{n}", Body=b"x" * size)
    # moto publishes StandardStorage bytes and object counts itself; the IA bytes as S3 publishes them, once a day
    yesterday = datetime.combine(datetime.now(UTC).date() - timedelta(days=1), datetime.min.time(), UTC)
    cw.put_metric_data(Namespace="AWS/S3", MetricData=[{
        "MetricName": "BucketSizeBytes", "Timestamp": yesterday, "Value": MODELS_IA_BYTES, "Unit": "Bytes",
        "Dimensions": [{"Name": "StorageType", "Value": "StandardIAStorage"}, {"Name": "BucketName",
                                                                               "Value": "my-models"}]}])


def published_bytes(client, bucket: str) -> int:
    """The newest StandardStorage BucketSizeBytes datapoint CloudWatch holds for the bucket."""
    now = datetime.now(UTC)
    points = client("cloudwatch").get_metric_statistics(
        Namespace="AWS/S3", MetricName="BucketSizeBytes", StartTime=now - timedelta(days=3), EndTime=now,
        Period=86400, Statistics=["Maximum"], Dimensions=[{"Name": "BucketName", "Value": bucket},
                                                          {"Name": "StorageType", "Value": "StandardStorage"}])
    return int(max(points["Datapoints"], key=lambda p: p["Timestamp"])["Maximum"])


def gib(size: int, price: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 80
        return Decimal(size) / GIB * price


def assert_secret_kept(caplog, capsys, agent) -> None:
    out = capsys.readouterr()
    for text in (caplog.text, out.out, out.err, repr(agent)):
        assert AWS_SECRET not in text


def test_the_guide_ec2_example(aws, proxy, caplog, capsys, tmp_path):
    ids = seed_ec2(aws)
    # --- the guide (credentials from the environment, as in its Complete Example) ---
    import os

    agent = AWSTelemetryAgent(
        aws_access_key_id=os.getenv('AWS_ACCESS_KEY_ID'),
        aws_secret_access_key=os.getenv('AWS_SECRET_ACCESS_KEY'),
        region="us-west-2"
    )
    # All EC2 instances
    metrics = agent.collect_ec2_metrics()

    for instance in metrics:
        print(f"Instance: {instance['instance_id']}")
        print(f"  CPU: {instance['cpu_utilization']:.1f}%")
        print(f"  Memory: {instance['memory_utilization']:.1f}%")
        print(f"  Network In: {instance['network_in']} bytes")
        print(f"  Network Out: {instance['network_out']} bytes")
        print(f"  Cost (hourly): ${instance['cost_per_hour']:.4f}")
    # ---
    out = capsys.readouterr().out
    expected = {
        ids["linux"]: (f"{statistics.fmean(CPU.values()):.1f}%", f"{statistics.fmean(MEMORY.values()):.1f}%",
                       f"{int(sum(NET_IN.values()))} bytes", f"{int(sum(NET_OUT.values()))} bytes",
                       f"${M5_LARGE_HOURLY:.4f}"),
        ids["windows"]: (f"{statistics.fmean(WINDOWS_CPU.values()):.1f}%", "n/a%", "n/a bytes", "n/a bytes",
                         "$n/a"),  # no CloudWatch agent, no network datapoints, no Windows price in the table
        ids["stopped"]: ("n/a%", "n/a%", "n/a bytes", "n/a bytes", "$0.0000"),  # stopped: no instance hours billed
    }
    assert out == "".join(f"Instance: {i}\n  CPU: {c}\n  Memory: {m}\n  Network In: {ni}\n  Network Out: {no}\n"
                          f"  Cost (hourly): {cost}\n" for i, (c, m, ni, no, cost) in sorted(expected.items()))
    linux = next(m for m in metrics if m["instance_id"] == ids["linux"])
    assert linux["cost_per_hour"] == M5_LARGE_HOURLY and isinstance(linux["cost_per_hour"], Decimal)
    assert (linux["network_in"], linux["network_out"]) == (4700, 1000)
    windows = next(m for m in metrics if m["instance_id"] == ids["windows"])
    assert windows["memory_utilization"] is UNAVAILABLE and not windows["memory_utilization"]
    with pytest.raises(TypeError):
        windows["memory_utilization"] + 1  # never taken for a number
    with pytest.raises(TypeError):
        assert windows["cost_per_hour"] > 0

    # Specific instances (the guide's placeholder ids replaced by real ones)
    metrics = agent.collect_ec2_metrics(instance_ids=[ids["windows"], ids["linux"]])
    assert sorted(m["instance_id"] for m in metrics) == sorted([ids["windows"], ids["linux"]])
    # what reached AWS; without a server nothing was spooled or pushed
    actions = proxy.actions()
    assert actions.count("DescribeInstances") == 2 and "GetMetricData" in actions
    assert agent.offline and not (tmp_path / "spool").exists()
    assert_secret_kept(caplog, capsys, agent)


def test_the_guide_sagemaker_example(aws, caplog, capsys):
    seed_sagemaker(aws)
    agent = AWSTelemetryAgent(aws_access_key_id=CREDENTIALS["aws_access_key_id"], aws_secret_access_key=AWS_SECRET,
                              region="us-west-2")
    printed = []
    for endpoint_name in (None, "my-model-endpoint"):
        # --- the guide ---
        if endpoint_name is None:
            # All endpoints
            metrics = agent.collect_sagemaker_metrics()
        else:
            # Specific endpoint
            metrics = agent.collect_sagemaker_metrics(endpoint_name="my-model-endpoint")

        for endpoint in metrics:
            print(f"Endpoint: {endpoint['name']}")
            print(f"  Invocations: {endpoint['invocations']}")
            print(f"  Model Latency: {endpoint['model_latency_ms']:.2f}ms")
            print(f"  4xx Errors: {endpoint['4xx_errors']}")
            print(f"  5xx Errors: {endpoint['5xx_errors']}")
            print(f"  Cost (hourly): ${endpoint['cost_per_hour']:.4f}")
        # ---
        printed.append(capsys.readouterr().out)
    latency_ms = sum(n * mean for n, mean in LATENCY_US.values()) / sum(n for n, _ in LATENCY_US.values()) / 1000
    mine = (f"Endpoint: my-model-endpoint\n  Invocations: {int(sum(INVOCATIONS.values()))}\n"
            f"  Model Latency: {latency_ms:.2f}ms\n  4xx Errors: {int(sum(ERRORS_4XX.values()))}\n"
            f"  5xx Errors: {int(sum(ERRORS_5XX.values()))}\n  Cost (hourly): ${2 * ML_M5_XLARGE_HOURLY:.4f}\n")
    idle = ("Endpoint: gpu-endpoint\n  Invocations: n/a\n  Model Latency: n/ams\n  4xx Errors: n/a\n"
            "  5xx Errors: n/a\n  Cost (hourly): $n/a\n")  # no datapoints; ml.p3.16xlarge is not in the price table
    assert printed == [idle + mine, mine]
    assert metrics[0]["cost_per_hour"] == Decimal("0.46") and metrics[0]["instance_count"] == 2
    assert_secret_kept(caplog, capsys, agent)


def test_the_guide_s3_example(aws, caplog, capsys):
    seed_s3(aws)
    agent = AWSTelemetryAgent(aws_access_key_id=CREDENTIALS["aws_access_key_id"], aws_secret_access_key=AWS_SECRET,
                              region="us-west-2")
    # --- the guide ---
    metrics = agent.collect_s3_metrics(bucket_names=["my-training-data", "my-models"])

    for bucket in metrics:
        print(f"Bucket: {bucket['name']}")
        print(f"  Size: {bucket['size_gb']:.2f} GB")
        print(f"  Objects: {bucket['object_count']}")
        print(f"  Storage Class: {bucket['storage_class']}")
        print(f"  Monthly Cost: ${bucket['monthly_cost']:.2f}")
    # ---
    # moto publishes StandardStorage as the in-memory size of its key objects (not the bytes put): the expected bytes
    # are what CloudWatch publishes, read here with another API (GetMetricStatistics)
    training_bytes, models_standard = published_bytes(aws, "my-training-data"), published_bytes(aws, "my-models")
    assert training_bytes > 0 and models_standard > 0
    training_cost = gib(training_bytes, S3_STANDARD_GB_MONTH)
    models_cost = gib(models_standard, S3_STANDARD_GB_MONTH) + gib(MODELS_IA_BYTES, S3_STANDARD_IA_GB_MONTH)
    models_gb = Decimal(models_standard + MODELS_IA_BYTES) / GIB
    assert capsys.readouterr().out == (
        f"Bucket: my-training-data\n  Size: {Decimal(training_bytes) / GIB:.2f} GB\n"
        f"  Objects: {len(TRAINING_OBJECTS)}\n  Storage Class: STANDARD\n  Monthly Cost: ${training_cost:.2f}\n"
        f"Bucket: my-models\n  Size: {models_gb:.2f} GB\n  Objects: {len(MODEL_OBJECTS)}\n"
        f"  Storage Class: STANDARD_IA,STANDARD\n  Monthly Cost: ${models_cost:.2f}\n")
    training, models = metrics
    assert training["monthly_cost"] == training_cost and models["monthly_cost"] == models_cost  # exact Decimals
    assert models["storage_classes"] == {"STANDARD_IA": MODELS_IA_BYTES, "STANDARD": models_standard}
    assert models["size_bytes"] == models_standard + MODELS_IA_BYTES and models["region"] == REGION
    assert_secret_kept(caplog, capsys, agent)


def ce_answer(days: list[str]) -> tuple[dict, dict[str, Decimal]]:
    """One GetCostAndUsage page (LINKED_ACCOUNT x SERVICE, daily, a credit) and the Decimal total per day."""
    amounts = {"Amazon Elastic Compute Cloud - Compute": "123.4567891234", "Amazon Simple Storage Service":
               "7.0000000001", "Amazon SageMaker": "42.4242424242", "Tax": "0.0000000100"}
    results, totals = [], {}
    for n, day in enumerate(days):
        groups = []
        for account in ("111111111111", "222222222222"):
            for service, amount in amounts.items():
                value = Decimal(amount) * (n + 1) * (2 if account.startswith("2") else 1)
                if service == "Amazon SageMaker" and n == 1 and account.startswith("2"):
                    value = -value  # a credit
                groups.append({"Keys": [account, service], "Metrics": {
                    m: {"Amount": str(value), "Unit": "USD"} for m in ("UnblendedCost", "AmortizedCost",
                                                                       "NetAmortizedCost")}
                    | {"UsageQuantity": {"Amount": "1", "Unit": "N/A"}}})
        totals[day] = sum((Decimal(g["Metrics"]["UnblendedCost"]["Amount"]) for g in groups), Decimal(0))
        end = str(date.fromisoformat(day) + timedelta(days=1))
        results.append({"TimePeriod": {"Start": day, "End": end}, "Total": {}, "Groups": groups, "Estimated": False})
    definitions = [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": "SERVICE"}]
    return {"GroupDefinitions": definitions, "ResultsByTime": results, "DimensionValueAttributes": []}, totals


def test_the_guide_cost_and_usage_example(aws, moto, proxy, caplog, capsys):
    days = ["2025-09-01", "2025-09-02", "2025-09-03"]
    page, totals = ce_answer(days)
    assert moto.post(CE_RESULTS, {"results": [page, page]}) == 201
    agent = AWSTelemetryAgent(aws_access_key_id=CREDENTIALS["aws_access_key_id"], aws_secret_access_key=AWS_SECRET,
                              region="us-west-2")
    # --- the guide ---
    import datetime

    start = datetime.date(2025, 9, 1)
    end = datetime.date(2025, 9, 30)

    costs = agent.get_cost_and_usage(
        start_date=start,
        end_date=end,
        granularity='DAILY'  # or 'MONTHLY', 'HOURLY'
    )

    for day, cost_data in costs.items():
        print(f"{day}: ${cost_data['total']:.2f}")
    # ---
    assert capsys.readouterr().out == "".join(f"{d}: ${totals[d]:.2f}\n" for d in days)
    assert {str(d): v["total"] for d, v in costs.items()} == totals  # exact, the credit included
    assert all(v["currency"] == "USD" for v in costs.values()) and totals["2025-09-02"] < totals["2025-09-03"]
    [request] = [json.loads(b) for b in proxy.bodies("GetCostAndUsage")]
    assert request["TimePeriod"] == {"Start": "2025-09-01", "End": "2025-10-01"}  # Sept 30 included
    assert request["Granularity"] == "DAILY"

    monthly = agent.get_cost_and_usage(start, end, granularity="MONTHLY")
    assert list(monthly) == [datetime.date(2025, 9, 1)]
    assert monthly[datetime.date(2025, 9, 1)]["total"] == sum(totals.values(), Decimal(0))
    with pytest.raises(ValueError, match="HOURLY"):
        agent.get_cost_and_usage(start, end, granularity="HOURLY")
    assert_secret_kept(caplog, capsys, agent)


def metric_rows(warehouse: str, agent_id: str) -> list[tuple]:
    with psycopg.connect(warehouse) as conn:
        return conn.execute("SELECT metric_name, metric_value, unit, labels FROM raw.telemetry_metrics "
                            "WHERE _agent_id = %s ORDER BY metric_name, labels->>'instance_id', labels->>'bucket'",
                            (agent_id,)).fetchall()


def test_with_openfinops_endpoint_set_the_guide_constructor_pushes_what_it_collects(aws, server, warehouse,
                                                                                    monkeypatch, caplog, capsys):
    ids = seed_ec2(aws)
    seed_s3(aws)
    monkeypatch.setenv("OPENFINOPS_ENDPOINT", server.url)
    monkeypatch.setenv("OPENFINOPS_SERVER_ADMIN_TOKEN", ADMIN)
    agent = AWSTelemetryAgent(aws_access_key_id=CREDENTIALS["aws_access_key_id"], aws_secret_access_key=AWS_SECRET,
                              region="us-west-2")
    ec2 = agent.collect_ec2_metrics()
    agent.collect_s3_metrics(bucket_names=["my-models"])
    assert agent.agent_id and not agent.spool.pending()
    stored = metric_rows(warehouse, agent.agent_id)
    by_key = {(name, labels.get("instance_id") or labels.get("bucket")): (value, unit, labels)
              for name, value, unit, labels in stored}
    assert len(by_key) == len(stored)
    linux, windows, stopped = ids["linux"], ids["windows"], ids["stopped"]
    assert set(by_key) == {  # nothing for what had no datapoint or no price
        ("aws_ec2_cpu_utilization", linux), ("aws_ec2_memory_utilization", linux),
        ("aws_ec2_network_in_bytes", linux), ("aws_ec2_network_out_bytes", linux),
        ("aws_ec2_cost_per_hour_estimate", linux), ("aws_ec2_cpu_utilization", windows),
        ("aws_ec2_cost_per_hour_estimate", stopped),
        ("aws_s3_size_bytes", "my-models"), ("aws_s3_object_count", "my-models"),
        ("aws_s3_monthly_cost_estimate", "my-models")}
    assert by_key[("aws_ec2_cpu_utilization", linux)][:2] == (Decimal(str(statistics.fmean(CPU.values()))), "Percent")
    assert by_key[("aws_ec2_network_in_bytes", linux)][0] == Decimal(int(sum(NET_IN.values())))
    value, unit, labels = by_key[("aws_ec2_cost_per_hour_estimate", linux)]
    assert (value, unit, labels["estimate"], labels["instance_type"]) == (M5_LARGE_HOURLY, "USD/hour", True, "m5.large")
    assert by_key[("aws_ec2_cost_per_hour_estimate", stopped)][0] == 0
    standard = published_bytes(aws, "my-models")
    assert by_key[("aws_s3_monthly_cost_estimate", "my-models")][0] == (
        gib(standard, S3_STANDARD_GB_MONTH) + gib(MODELS_IA_BYTES, S3_STANDARD_IA_GB_MONTH))
    assert by_key[("aws_s3_size_bytes", "my-models")][0] == standard + MODELS_IA_BYTES
    assert len(ec2) == 3
    assert_secret_kept(caplog, capsys, agent)


def test_start_collection_runs_cycles_in_the_background_and_stop_collection_ends_them(aws, server, warehouse, proxy,
                                                                                      monkeypatch, caplog, capsys):
    ids = seed_ec2(aws)
    monkeypatch.setenv("OPENFINOPS_ENDPOINT", server.url)
    monkeypatch.setenv("OPENFINOPS_SERVER_ADMIN_TOKEN", ADMIN)
    agent = AWSTelemetryAgent(aws_access_key_id=CREDENTIALS["aws_access_key_id"], aws_secret_access_key=AWS_SECRET,
                              region="us-west-2")

    def collection_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith("openfinops-") and t.name.endswith("-collection")]

    assert collection_threads() == []
    # --- the guide, with a short interval ---
    agent.start_collection(interval_seconds=0.3)
    # Agent runs in background
    # ---
    [thread] = collection_threads()
    assert thread.daemon and agent.start_collection(interval_seconds=5) is thread  # idempotent: no second thread
    deadline = time.monotonic() + 20
    while proxy.actions().count("DescribeInstances") < 2:  # two cycles seen at the network boundary
        assert time.monotonic() < deadline, proxy.actions()
        time.sleep(0.05)
    assert thread.is_alive() and collection_threads() == [thread]
    began = time.monotonic()
    assert agent.stop_collection(timeout=10)
    assert time.monotonic() - began < 5 and not thread.is_alive() and collection_threads() == []
    seen = len(proxy.actions())
    time.sleep(1.0)
    assert len(proxy.actions()) == seen  # stopped: no more calls
    names = {name for name, _, _, labels in metric_rows(warehouse, agent.agent_id)
             if labels.get("instance_id") == ids["linux"]}
    assert "aws_ec2_cpu_utilization" in names and not agent.spool.pending()
    # a stopped agent starts again
    again = agent.start_collection(interval_seconds=0.3)
    assert again is not thread and again.is_alive()
    assert agent.stop_collection(timeout=10) and not again.is_alive() and collection_threads() == []
    assert_secret_kept(caplog, capsys, agent)
