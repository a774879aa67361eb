"""A local Redis Cloud REST API v1: `GET /v1/subscriptions` -> `{"accountId", "subscriptions": [...], "_links"}`
with the subscription of Redis's own client fixture verbatim (../shared/data/vendor-api) plus the ones a test adds,
`x-api-key` / `x-api-secret-key` checked, and a 429 with Retry-After on demand."""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer

from tests.conftest import SHARED_DATA
from tests.fakes.json_http import JsonHandler

VENDOR_SUBSCRIPTION = SHARED_DATA / "vendor-api" / "redis-cloud-subscription.json"
API_KEY, SECRET_KEY = "redis-account-key", "redis-secret-never-logged"
# A second subscription: a monthly-priced item with its database name, and one item whose price is not a number.
MONTHLY = {"id": 98766, "name": "cache-eu", "status": "active", "subscriptionPricing": [
    {"type": "Shards", "typeDetails": "high-throughput", "databaseName": "sessions", "quantity": 2,
     "quantityMeasurement": "shards", "pricePerUnit": 43.8, "priceCurrency": "USD", "pricePeriod": "month"},
    {"type": "Shards", "quantity": 1, "quantityMeasurement": "shards", "pricePerUnit": "n/a",
     "priceCurrency": "USD", "pricePeriod": "hour"}],
    "cloudDetails": [{"provider": "GCP", "cloudAccountId": 1}]}


class RedisCloudApi:
    def __init__(self, subscriptions: list[dict]) -> None:
        self.subscriptions = subscriptions
        self.requests = 0
        self.throttle = 0
        api = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                api.requests += 1
                if (self.headers.get("x-api-key"), self.headers.get("x-api-secret-key")) != (API_KEY, SECRET_KEY):
                    return self._send(401, {"error": {"type": "UNAUTHORIZED", "status": "401 UNAUTHORIZED"}})
                if self.path != "/v1/subscriptions":
                    return self._send(404, {"error": {"type": "NOT_FOUND"}})
                if api.throttle:
                    api.throttle -= 1
                    return self._send(429, {"error": {"type": "TOO_MANY_REQUESTS"}}, {"Retry-After": "0"})
                self._send(200, {"accountId": 40131, "subscriptions": api.subscriptions,
                                 "_links": {"self": {"href": "https://api.redislabs.com/v1/subscriptions"}}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> RedisCloudApi:
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def vendor_subscriptions() -> list[dict]:
    return [json.loads(VENDOR_SUBSCRIPTION.read_text()), MONTHLY]
