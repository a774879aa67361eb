"""A local GitHub REST API for the billing usage report, in GitHub's wire format: `GET
/organizations/{org}/settings/billing/usage?year=&month=` -> `{"usageItems": [...]}` (the documented example
verbatim plus the items a test adds), bearer token and API version checked, GitHub's rate-limit answer (403 with
`x-ratelimit-remaining: 0`, `x-ratelimit-reset` in epoch seconds and a `Date` header) on demand, and 410 Gone for
the retired per-product endpoints."""

from __future__ import annotations

import json
import threading
import time
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.conftest import SHARED_DATA
from tests.fakes.json_http import JsonHandler

VENDOR_EXAMPLE = SHARED_DATA / "vendor-api" / "github-billing-usage.json"


class GithubApi:
    def __init__(self, token: str, org: str) -> None:
        self.token, self.org = token, org
        self.months: dict[tuple[int, int], list[str]] = {}  # (year, month) -> raw JSON text of each item
        self.requests: list[str] = []
        self.rate_limited = 0  # answer this many requests with GitHub's rate-limit 403 first
        self.gone = False  # answer 410 Gone (an organisation not on the enhanced billing platform)
        api = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                api.requests.append(self.path)
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    return self._send(401, {"message": "Bad credentials"})
                if self.headers.get("X-GitHub-Api-Version") != "2022-11-28":
                    return self._send(400, {"message": "unsupported API version"})
                if url.path.startswith(f"/orgs/{api.org}/settings/billing/"):
                    return self._send(410, {"message": "This endpoint has been removed.",
                                            "documentation_url": "https://docs.github.com/rest/billing"})
                if url.path != f"/organizations/{api.org}/settings/billing/usage":
                    return self._send(404, {"message": "Not Found"})
                if api.rate_limited:
                    api.rate_limited -= 1
                    # reset one second after the Date header http.server sends with every answer
                    return self._send(403, {"message": "API rate limit exceeded"},
                                      {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + 1)})
                if api.gone:
                    return self._send(410, {"message": "This endpoint has been removed."})
                query = parse_qs(url.query)
                items = api.months.get((int(query["year"][0]), int(query["month"][0])), [])
                self._send(200, '{"usageItems": [' + ", ".join(items) + "]}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> GithubApi:
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


# Items the tests add to August 2023 (the month of the documented example).
TOKEN = "ghp_testtokenneverlogged"
COPILOT = ('{"date": "2023-08-02T00:00:00Z", "product": "Copilot", "sku": "Copilot Business", "quantity": 3, '
           '"unitType": "user-months", "pricePerUnit": 19, "grossAmount": 57.00, "discountAmount": 0, '
           '"netAmount": 57.00, "organizationName": "GitHub"}')
MACOS = ('{"date": "2023-08-03", "product": "Actions", "sku": "Actions macOS 3-core", "quantity": 1000, '
         '"unitType": "minutes", "pricePerUnit": 0.062, "grossAmount": 62.000, "discountAmount": 12.400, '
         '"netAmount": 49.600, "organizationName": "GitHub", "repositoryName": "github/example"}')
BAD = ('{"date": "2023-08-04", "product": "Actions", "sku": "Actions Linux", "quantity": "ten", "unitType": '
       '"minutes", "pricePerUnit": 0.008, "grossAmount": 0.08, "discountAmount": 0, "netAmount": 0.08, '
       '"organizationName": "GitHub"}')


def vendor_items() -> list[str]:
    return [json.dumps(item) for item in json.loads(VENDOR_EXAMPLE.read_text())["usageItems"]]
