"""Cloud Billing export test data for :class:`tests.fakes.bigquery_api.FakeBigQuery`: what BigQuery answers to the
``gcp_billing_export`` collector's query over a list of export rows, and a throw-away service-account key.

Export rows are dicts shaped like the nested rows of the standard usage cost export table (``service``, ``sku``,
``project`` with ``labels``, ``location``, ``usage``, ``credits`` [...], ``invoice``, ``cost_type``, ...).
:func:`query_result` gives the collector's result set for them (one ``cost`` row per export row, one ``credit`` row
per credit) in the result schema :data:`RESULT_SCHEMA`; the fake evaluates no SQL, so a test serves exactly that.
Expected figures are for the tests to compute from the export rows themselves (Decimal sums of cost and credits).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from tests.fakes.bigquery_api import Field

LABEL = (Field("key", "STRING"), Field("value", "STRING"))
# The result schema BigQuery gives the collector's SELECT (types as the casts in the query make them).
RESULT_SCHEMA = (
    Field("export_row_key", "STRING"), Field("line_type", "STRING"), Field("credit_index", "INTEGER"),
    Field("billing_account_id", "STRING"), Field("invoice_month", "STRING"), Field("cost_type", "STRING"),
    Field("service_id", "STRING"), Field("service_description", "STRING"),
    Field("sku_id", "STRING"), Field("sku_description", "STRING"),
    Field("usage_start_time", "TIMESTAMP"), Field("usage_end_time", "TIMESTAMP"),
    Field("project_id", "STRING"), Field("project_number", "STRING"), Field("project_name", "STRING"),
    Field("project_labels", "RECORD", "REPEATED", LABEL), Field("labels", "RECORD", "REPEATED", LABEL),
    Field("system_labels", "RECORD", "REPEATED", LABEL),
    Field("location", "STRING"), Field("country", "STRING"), Field("region", "STRING"), Field("zone", "STRING"),
    Field("resource_name", "STRING"), Field("resource_global_name", "STRING"),
    Field("usage_amount", "BIGNUMERIC"), Field("usage_unit", "STRING"),
    Field("usage_amount_in_pricing_units", "BIGNUMERIC"), Field("usage_pricing_unit", "STRING"),
    Field("amount", "NUMERIC"), Field("currency", "STRING"), Field("currency_conversion_rate", "NUMERIC"),
    Field("cost_at_list", "NUMERIC"),
    Field("credit_id", "STRING"), Field("credit_type", "STRING"), Field("credit_name", "STRING"),
    Field("credit_full_name", "STRING"),
    Field("adjustment_id", "STRING"), Field("adjustment_type", "STRING"), Field("adjustment_mode", "STRING"),
    Field("adjustment_description", "STRING"), Field("export_time", "TIMESTAMP"), Field("payload", "STRING"),
)


def export_row(*, billing_account: str, project: dict, service: tuple[str, str], sku: tuple[str, str],
               start: datetime, cost: Decimal, credits: tuple[tuple[str, str, Decimal], ...] = (),
               labels: tuple[tuple[str, str], ...] = (), cost_type: str = "regular", hours: int = 1,
               region: str | None = "us-central1", usage: tuple[Decimal, str, Decimal, str] | None = None) -> dict:
    """One row of the standard usage cost export table. ``project``: {id, number, name, labels: [(key, value)]};
    ``service`` / ``sku``: (id, description); ``credits``: (type, name, amount), amounts negative as Google writes
    them; ``usage``: (amount, unit, amount in pricing units, pricing unit)."""
    amount, unit, pricing_amount, pricing_unit = usage or (None, None, None, None)
    return {
        "billing_account_id": billing_account,
        "service": {"id": service[0], "description": service[1]},
        "sku": {"id": sku[0], "description": sku[1]},
        "usage_start_time": start, "usage_end_time": start + timedelta(hours=hours),
        "project": {"id": project["id"], "number": project["number"], "name": project["name"],
                    "labels": [{"key": k, "value": v} for k, v in project.get("labels", ())],
                    "ancestry_numbers": "/1234567890/"},
        "labels": [{"key": k, "value": v} for k, v in labels],
        "system_labels": [],
        "location": {"location": region, "country": "US" if region else None, "region": region, "zone": None},
        "export_time": start + timedelta(hours=hours + 6),
        "cost": cost, "currency": "USD", "currency_conversion_rate": Decimal(1),
        "usage": {"amount": amount, "unit": unit, "amount_in_pricing_units": pricing_amount,
                  "pricing_unit": pricing_unit},
        "credits": [{"type": kind, "name": name, "id": "", "full_name": "", "amount": credit}
                    for kind, name, credit in credits],
        "invoice": {"month": start.strftime("%Y%m"), "publisher_type": "GOOGLE"},
        "cost_type": cost_type, "adjustment_info": None,
        "cost_at_list": None if cost_type == "tax" else (cost * Decimal("1.25")).quantize(Decimal("1e-9")),
    }


def to_json_string(row: dict) -> str:
    """What TO_JSON_STRING gives for the row (ISO timestamps, numbers as JSON numbers)."""
    def default(value):
        if isinstance(value, Decimal):
            return float(value)
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(value)
    return json.dumps(row, default=default, separators=(",", ":"))


def query_result(rows: list[dict], detailed: bool = False) -> list[dict]:
    """What BigQuery returns for the collector's query over ``rows``: a cost row each, then a credit row each."""
    cost_rows, credit_rows = [], []
    for row in rows:
        payload = to_json_string(row)
        common = {
            "export_row_key": hashlib.sha256(payload.encode()).hexdigest() + "-1",
            "billing_account_id": row["billing_account_id"], "invoice_month": row["invoice"]["month"],
            "cost_type": row["cost_type"], "service_id": row["service"]["id"],
            "service_description": row["service"]["description"], "sku_id": row["sku"]["id"],
            "sku_description": row["sku"]["description"], "usage_start_time": row["usage_start_time"],
            "usage_end_time": row["usage_end_time"], "project_id": row["project"]["id"],
            "project_number": row["project"]["number"], "project_name": row["project"]["name"],
            "project_labels": row["project"]["labels"], "labels": row["labels"],
            "system_labels": row["system_labels"], "location": row["location"]["location"],
            "country": row["location"]["country"], "region": row["location"]["region"],
            "zone": row["location"]["zone"], "currency": row["currency"],
            "currency_conversion_rate": row["currency_conversion_rate"], "export_time": row["export_time"],
            "resource_name": f"vm-{row['project']['id']}" if detailed else None,
            "resource_global_name": f"//compute.googleapis.com/projects/{row['project']['id']}/instances/1"
            if detailed else None,
        }
        usage = row["usage"]
        cost_rows.append({**common, "line_type": "cost", "amount": row["cost"], "cost_at_list": row["cost_at_list"],
                          "usage_amount": usage["amount"], "usage_unit": usage["unit"],
                          "usage_amount_in_pricing_units": usage["amount_in_pricing_units"],
                          "usage_pricing_unit": usage["pricing_unit"], "payload": payload})
        for offset, credit in enumerate(row["credits"]):
            credit_rows.append({**common, "line_type": "credit", "credit_index": offset, "amount": credit["amount"],
                                "credit_id": credit["id"], "credit_type": credit["type"],
                                "credit_name": credit["name"], "credit_full_name": credit["full_name"],
                                "payload": to_json_string(credit)})
    return cost_rows + credit_rows


def service_account_key() -> tuple[bytes, bytes]:
    """A throw-away service-account RSA key pair (private PKCS#8 PEM, public PEM), made at test time."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def keyfile(token_uri: str, private_key: bytes, project: str, client_email: str) -> dict:
    """A service-account JSON key whose ``token_uri`` is the fake's token endpoint."""
    return {"type": "service_account", "project_id": project, "private_key_id": uuid.uuid4().hex,
            "private_key": private_key.decode(), "client_email": client_email,
            "client_id": "109876543210987654321", "token_uri": token_uri}


def key_secrets(key: dict) -> list[str]:
    """The parts of a keyfile that must never reach a log or a table: the key id and every line of the key body."""
    return [key["private_key_id"], *key["private_key"].splitlines()[1:-1]]
