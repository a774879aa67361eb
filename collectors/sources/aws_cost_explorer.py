"""The ``aws_cost_explorer`` source: AWS Cost Explorer ``GetCostAndUsage``, daily, into one raw table.

What the API does (AWS Billing and Cost Management API Reference, ``GetCostAndUsage``; botocore model
``ce/2017-10-25``: protocol awsJson1_1, target ``AWSInsightsIndexService.GetCostAndUsage``, endpoint in us-east-1):
- ``TimePeriod`` is a pair of dates, ``Start`` inclusive and ``End`` exclusive; ``Granularity`` DAILY gives one
  ``ResultsByTime`` entry per UTC day, each with ``Estimated`` (recent days are estimates and are restated later, so
  the source is re-pulled with a look-back) and ``Groups`` (``Keys`` in ``GroupBy`` order, ``Metrics`` as
  ``{"Amount": "<decimal string>", "Unit": "USD"}``).
- ``GroupBy`` takes at most two ``{Type, Key}`` (DIMENSION, TAG or COST_CATEGORY). A tag group key is
  ``"<tag key>$<value>"``; ``"<tag key>$"`` is the spend of resources without that tag.
- Pages: a response carries ``NextPageToken`` while more groups remain (a day's groups may continue on the next page).
  ``DimensionValueAttributes`` maps a dimension value to attributes; for LINKED_ACCOUNT the ``description`` attribute
  is the account name.
- Every request is billed (USD 0.01 per request, Cost Explorer pricing): a run costs passes x pages requests.
- Throttling answers ``ThrottlingException`` / ``LimitExceededException``; ``DataUnavailableException`` means the data
  is not ready yet. The client retries them itself (botocore standard mode) and this module retries again with a
  slower exponential backoff, honouring ``Retry-After`` if the service sends one.

Passes (never summed with each other; each row carries its ``grouping``):
1. the cost pass, GroupBy LINKED_ACCOUNT + SERVICE — the only pass the unified (FOCUS) cost model reads;
2. one pass per entry of option ``extra_group_bys`` (default ``[["REGION"]]``) and one per tag key of option
   ``tag_keys`` (``["TAG:<key>"]``), for breakdowns.

Amounts go from their wire strings straight to ``Decimal`` (botocore keeps the ``Amount`` shape a string).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from time import sleep
from typing import Any

from collectors.core.base import Collector, CollectorError, Column, Dataset, Reject, Window
from collectors.core.http_retry import PageGuard

log = logging.getLogger(__name__)

API = "Cost Explorer GetCostAndUsage"
# A Retry-After longer than this is not slept through inside the task: it fails and Airflow retries it later.
MAX_RETRY_AFTER_SECONDS = 300
CE_REGION = "us-east-1"  # Cost Explorer's endpoint region (ce.us-east-1.amazonaws.com) when the connection has none
BOTOCORE_MAX_ATTEMPTS = 3  # botocore standard mode: short jittered retries of throttling, 5xx and network errors
COST_METRICS = ("UnblendedCost", "AmortizedCost", "NetAmortizedCost")
METRICS = (*COST_METRICS, "UsageQuantity")
RETRYABLE_ERRORS = frozenset({"ThrottlingException", "LimitExceededException", "DataUnavailableException"})
MAX_GROUP_BY = 2  # GetCostAndUsage accepts at most two GroupBy entries
OPTIONS = ("tag_keys", "extra_group_bys", "filter", "max_retries", "retry_base_seconds")
_DIMENSION = re.compile(r"[A-Z][A-Z_]*")

COST_DAILY = Dataset(
    name="cost_daily",
    table="aws_cost_explorer_cost_daily",
    time_column="time_period_start",
    columns=(
        Column("grouping", "text", nullable=False),
        Column("time_period_start", "date", nullable=False),
        Column("time_period_end", "date", nullable=False),
        Column("estimated", "boolean"),
        Column("linked_account_id", "text"),
        Column("linked_account_name", "text"),
        Column("service", "text"),
        Column("region", "text"),
        Column("tag_key", "text"),
        Column("tag_value", "text"),
        Column("other_keys", "jsonb"),
        Column("unblended_cost", "numeric", nullable=False),
        Column("amortized_cost", "numeric"),
        Column("net_amortized_cost", "numeric"),
        Column("usage_quantity", "numeric"),
        Column("currency", "text", nullable=False),
        Column("usage_unit", "text"),
        Column("payload", "jsonb", nullable=False),
    ),
)


@dataclass(frozen=True)
class Pass:
    """One GetCostAndUsage query: its GroupBy and the ``grouping`` label its rows carry (e.g. ``TAG:team``)."""

    grouping: str
    group_by: tuple[tuple[str, str], ...]  # (Type, Key) pairs, in request order

    @property
    def request(self) -> list[dict[str, str]]:
        return [{"Type": kind, "Key": key} for kind, key in self.group_by]


COST_PASS = Pass("LINKED_ACCOUNT,SERVICE", (("DIMENSION", "LINKED_ACCOUNT"), ("DIMENSION", "SERVICE")))


class _BadField(ValueError):
    """A field of one group that cannot be parsed; becomes a Reject naming the field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


class CostExplorerCollector(Collector):
    """Daily cost per linked account and service (plus breakdown passes) from the Cost Explorer API.

    Options: ``tag_keys`` (list of tag keys, one breakdown pass each), ``extra_group_bys`` (list of passes, each a
    list of one or two of ``"<DIMENSION>"``, ``"TAG:<key>"``, ``"COST_CATEGORY:<name>"``; default ``[["REGION"]]``),
    ``filter`` (a Cost Explorer Expression passed through as ``Filter``), ``max_retries`` (5) and
    ``retry_base_seconds`` (1.0) for throttling. Client: ``clients["ce"]``, else built from the Airflow connection
    ``connection_id`` by the Amazon provider's ``AwsBaseHook``.
    """

    type = "aws_cost_explorer"
    default_lookback_days = 3

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        unknown = sorted(set(self.options) - set(OPTIONS))
        if unknown:
            raise ValueError(f"source {self.source_id}: unknown options {unknown}; expected some of {list(OPTIONS)}")
        self.passes = self._passes()
        self.filter = self.options.get("filter")
        if self.filter is not None and not isinstance(self.filter, Mapping):
            raise ValueError(f"source {self.source_id}: options.filter must be a Cost Explorer Expression (a mapping "
                             f"such as {{Dimensions: {{Key: SERVICE, Values: [...]}}}}), got {self.filter!r}")
        self.max_retries = self.options.get("max_retries", 5)
        if not isinstance(self.max_retries, int) or isinstance(self.max_retries, bool) or self.max_retries < 0:
            raise ValueError(f"source {self.source_id}: options.max_retries must be an integer >= 0, "
                             f"got {self.max_retries!r}")
        self.retry_base_seconds = self.options.get("retry_base_seconds", 1.0)
        if (not isinstance(self.retry_base_seconds, int | float) or isinstance(self.retry_base_seconds, bool)
                or self.retry_base_seconds < 0):
            raise ValueError(f"source {self.source_id}: options.retry_base_seconds must be a number >= 0, "
                             f"got {self.retry_base_seconds!r}")
        self._ce: Any = None

    # -- options ---------------------------------------------------------------------------------------------------
    def _passes(self) -> tuple[Pass, ...]:
        tag_keys = self.options.get("tag_keys", [])
        if not isinstance(tag_keys, list) or not all(isinstance(k, str) and k for k in tag_keys):
            raise ValueError(f"source {self.source_id}: options.tag_keys must be a list of tag keys (non-empty "
                             f"strings), got {tag_keys!r}")
        extra = self.options.get("extra_group_bys", [["REGION"]])
        if not isinstance(extra, list):
            raise ValueError(f"source {self.source_id}: options.extra_group_bys must be a list of passes, each a list "
                             f"of 1-{MAX_GROUP_BY} group keys, got {extra!r}")
        passes = {COST_PASS.grouping: COST_PASS}
        asked = [(f"options.extra_group_bys[{n}]", specs) for n, specs in enumerate(extra)]
        asked += [(f"options.tag_keys[{n}]", [f"TAG:{key}"]) for n, key in enumerate(tag_keys)]
        for where, specs in asked:
            if not isinstance(specs, list) or not 1 <= len(specs) <= MAX_GROUP_BY:
                raise ValueError(f"source {self.source_id}: {where} must be a list of 1-{MAX_GROUP_BY} group keys "
                                 f"(Cost Explorer accepts at most {MAX_GROUP_BY} GroupBy), got {specs!r}")
            group_by = tuple(self._group_key(spec, where) for spec in specs)
            grouping = ",".join(key if kind == "DIMENSION" else f"{kind}:{key}" for kind, key in group_by)
            passes.setdefault(grouping, Pass(grouping, group_by))  # a pass asked for twice is pulled once
        return tuple(passes.values())

    def _group_key(self, spec: Any, where: str) -> tuple[str, str]:
        kind, sep, key = spec.partition(":") if isinstance(spec, str) else ("", "", "")
        if sep and kind in ("TAG", "COST_CATEGORY") and key:
            return kind, key
        if isinstance(spec, str) and not sep and _DIMENSION.fullmatch(spec):
            return "DIMENSION", spec
        raise ValueError(f"source {self.source_id}: {where} has {spec!r}; expected a Cost Explorer dimension "
                         f"(e.g. REGION, USAGE_TYPE, RECORD_TYPE), 'TAG:<key>' or 'COST_CATEGORY:<name>'")

    # -- collector contract ------------------------------------------------------------------------------------------
    def datasets(self) -> tuple[Dataset, ...]:
        return (COST_DAILY,)

    def align_window(self, window: Window) -> Window:
        """Whole UTC days: DAILY results cover a day each, so a run replaces every day it touches."""
        start = datetime.combine(window.start.date(), datetime.min.time(), UTC)
        end = datetime.combine(window.end.date(), datetime.min.time(), UTC)
        if end < window.end:
            end += timedelta(days=1)
        return Window(start, end)

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        if dataset.name != COST_DAILY.name:
            raise ValueError(f"source {self.source_id}: unknown dataset {dataset.name!r}")
        days = self.align_window(window)
        period = {"Start": days.start.date().isoformat(), "End": days.end.date().isoformat()}
        client = self._client()
        for query in self.passes:
            yield from self._collect_pass(client, query, period)

    # -- API -------------------------------------------------------------------------------------------------------
    def _client(self) -> Any:
        """``clients["ce"]`` if injected; else a boto3 ``ce`` client from the Airflow connection (conn type ``aws``:
        login/password = access key, or role/profile extras; extras ``region_name``, ``endpoint_url``,
        ``config_kwargs`` honoured). Connection botocore settings win over our retry default."""
        if "ce" in self.clients:
            return self.clients["ce"]
        if self._ce is None:
            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
            from botocore.config import Config

            hook = AwsBaseHook(aws_conn_id=self.connection_id, client_type="ce")
            config = Config(retries={"mode": "standard", "total_max_attempts": BOTOCORE_MAX_ATTEMPTS}).merge(
                hook.config)
            self._ce = hook.get_client_type(region_name=hook.region_name or CE_REGION, config=config)
        return self._ce

    def _collect_pass(self, client: Any, query: Pass, period: dict[str, str]) -> Iterator[tuple | Reject]:
        params: dict[str, Any] = {"TimePeriod": period, "Granularity": "DAILY", "Metrics": list(METRICS),
                                  "GroupBy": query.request}
        if self.filter is not None:
            params["Filter"] = dict(self.filter)
        account_names: dict[str, str] = {}
        token, page = None, 0
        guard = PageGuard(self.source_id, f"{API} ({query.grouping})")
        while True:
            page += 1
            response = self._call(client, {**params, "NextPageToken": token} if token else params, query, page)
            self._check_definitions(response, query, page)
            for item in response.get("DimensionValueAttributes") or []:
                name = (item.get("Attributes") or {}).get("description")
                if item.get("Value") and name:
                    account_names[item["Value"]] = name
            results = response.get("ResultsByTime") or []
            log.info("source %s: %s %s page %d: %d day(s), %d group(s)", self.source_id, API, query.grouping, page,
                     len(results), sum(len(r.get("Groups") or []) for r in results))
            for r, result in enumerate(results):
                for g, group in enumerate(result.get("Groups") or []):
                    ref = f"{query.grouping} page {page} ResultsByTime[{r}].Groups[{g}]"
                    yield self._record(query, result, group, account_names, ref)
            token = response.get("NextPageToken")
            if not token:
                return
            guard.next(token, page)

    def _call(self, client: Any, params: dict[str, Any], query: Pass, page: int) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

        what = f"source {self.source_id}: {API} ({query.grouping}, page {page})"
        attempt = 0
        while True:
            try:
                return client.get_cost_and_usage(**params)
            except ClientError as exc:
                error = exc.response.get("Error", {})
                meta = exc.response.get("ResponseMetadata", {})
                code, message, status = error.get("Code"), error.get("Message"), meta.get("HTTPStatusCode")
                # throttling, and any 5xx (a transient fault of the service) once botocore's own retries are spent
                if code not in RETRYABLE_ERRORS and not (isinstance(status, int) and status >= 500):
                    raise CollectorError(f"{what} failed: HTTP {status} {code}: {message}") from exc
                if attempt == self.max_retries:
                    raise CollectorError(f"{what} failed after {attempt + 1} attempts: HTTP {status} {code}: "
                                         f"{message}") from exc
                asked = _retry_after(meta.get("HTTPHeaders") or {})
                if asked > MAX_RETRY_AFTER_SECONDS:
                    raise CollectorError(f"{what}: HTTP {status} {code}, and the service asks to wait {asked:.0f} s "
                                         f"(Retry-After), more than the {MAX_RETRY_AFTER_SECONDS} s a collect task "
                                         f"waits: failing now (the task's retry comes back later)") from exc
                delay = max(self.retry_base_seconds * 2 ** attempt, asked)
                attempt += 1
                log.warning("%s: HTTP %s %s (%s); retry %d of %d in %.2f s", what, status, code, message,
                            attempt, self.max_retries, delay)
                sleep(delay)
            except (ConnectionError, HTTPClientError) as exc:  # dropped / refused / timed-out connections
                if attempt == self.max_retries:
                    raise CollectorError(f"{what} failed after {attempt + 1} attempts: {type(exc).__name__}: "
                                         f"{exc}") from exc
                delay = self.retry_base_seconds * 2 ** attempt
                attempt += 1
                log.warning("%s: %s; retry %d of %d in %.2f s", what, type(exc).__name__, attempt, self.max_retries,
                            delay)
                sleep(delay)
            except BotoCoreError as exc:
                raise CollectorError(f"{what} failed: {type(exc).__name__}: {exc}") from exc

    def _check_definitions(self, response: Mapping[str, Any], query: Pass, page: int) -> None:
        """The response's GroupDefinitions (what its Keys mean), when present, must be the GroupBy we asked for."""
        returned = tuple((d.get("Type"), d.get("Key")) for d in response.get("GroupDefinitions") or [])
        if returned and returned != query.group_by:
            raise CollectorError(f"source {self.source_id}: {API} ({query.grouping}, page {page}) answered with "
                                 f"GroupDefinitions {list(returned)}, but GroupBy {list(query.group_by)} was asked")

    # -- parsing -----------------------------------------------------------------------------------------------------
    def _record(self, query: Pass, result: Mapping[str, Any], group: Mapping[str, Any],
                account_names: Mapping[str, str], ref: str) -> tuple | Reject:
        payload = json.dumps(group, separators=(",", ":"))
        try:
            start, end = _period(result)
            keys = _keys(query.group_by, group.get("Keys"))
            amounts, currency, usage_unit = _metrics(group.get("Metrics"))
        except _BadField as bad:
            return Reject(COST_DAILY.name, ref, bad.field, str(bad), payload)
        estimated = result.get("Estimated")
        account = keys.pop("LINKED_ACCOUNT", None)
        tag = next((k for k in keys if k.startswith("TAG:")), None)
        tag_value = keys.pop(tag) if tag else None
        service, region = keys.pop("SERVICE", None), keys.pop("REGION", None)
        return COST_DAILY.row(
            grouping=query.grouping, time_period_start=start, time_period_end=end,
            estimated=estimated if isinstance(estimated, bool) else None,
            linked_account_id=account, linked_account_name=account_names.get(account) if account else None,
            service=service, region=region, tag_key=tag[4:] if tag else None, tag_value=tag_value,
            other_keys=json.dumps(keys, sort_keys=True) if keys else None,
            unblended_cost=amounts["UnblendedCost"], amortized_cost=amounts["AmortizedCost"],
            net_amortized_cost=amounts["NetAmortizedCost"], usage_quantity=amounts["UsageQuantity"],
            currency=currency, usage_unit=usage_unit, payload=payload)


def _retry_after(headers: Mapping[str, str]) -> float:
    """Seconds from a ``Retry-After`` header (botocore lower-cases header names); 0 when absent or not a number."""
    try:
        return max(0.0, float(headers.get("retry-after", 0)))
    except ValueError:
        return 0.0


def _period(result: Mapping[str, Any]) -> tuple[date, date]:
    try:
        period = result["TimePeriod"]
        return date.fromisoformat(period["Start"]), date.fromisoformat(period["End"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _BadField("TimePeriod", f"expected {{Start, End}} as YYYY-MM-DD dates: {exc!r}") from None


def _keys(definitions: tuple[tuple[str, str], ...], keys: Any) -> dict[str, str | None]:
    """Group keys by meaning: ``{"LINKED_ACCOUNT": "1234", "TAG:team": "payments" | None, ...}``."""
    if not isinstance(keys, list) or len(keys) != len(definitions):
        raise _BadField("Keys", f"expected {len(definitions)} keys for GroupBy {list(definitions)}, got {keys!r}")
    out: dict[str, str | None] = {}
    for i, ((kind, key), value) in enumerate(zip(definitions, keys, strict=True)):
        if not isinstance(value, str):
            raise _BadField(f"Keys[{i}]", f"expected a string, got {value!r}")
        if kind == "DIMENSION":
            out[key] = value
            continue
        prefix, sep, rest = value.partition("$")
        if not sep or prefix != key:  # TAG and COST_CATEGORY keys are "<key>$<value>", "<key>$" when absent
            raise _BadField(f"Keys[{i}]", f"expected '{key}$<value>' for {kind} {key!r}, got {value!r}")
        out[f"{kind}:{key}"] = rest or None
    return out


def _metrics(metrics: Any) -> tuple[dict[str, Decimal | None], str, str | None]:
    """Amounts (Decimal; None when the metric is absent), the currency shared by the cost metrics, the usage unit."""
    if not isinstance(metrics, Mapping):
        raise _BadField("Metrics", f"expected an object of metrics, got {metrics!r}")
    amounts: dict[str, Decimal | None] = {}
    for name in METRICS:
        metric = metrics.get(name)
        amounts[name] = None if metric is None else _amount(metric, name)
    if amounts["UnblendedCost"] is None:
        raise _BadField("Metrics.UnblendedCost", "missing: every request asks for UnblendedCost (the billed cost)")
    units = {name: metrics[name].get("Unit") for name in COST_METRICS if amounts[name] is not None}
    currencies = set(units.values())
    if len(currencies) != 1 or not all(isinstance(c, str) and c for c in currencies):
        raise _BadField("Metrics.*.Unit", f"the cost metrics must share one currency, got {units}")
    usage = metrics.get("UsageQuantity")
    return amounts, currencies.pop(), usage.get("Unit") if isinstance(usage, Mapping) else None


def _amount(metric: Any, name: str) -> Decimal:
    amount = metric.get("Amount") if isinstance(metric, Mapping) else None
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        raise _BadField(f"Metrics.{name}.Amount", f"not a decimal number: {amount!r}") from None
    if not value.is_finite():
        raise _BadField(f"Metrics.{name}.Amount", f"not a finite number: {amount!r}")
    return value
