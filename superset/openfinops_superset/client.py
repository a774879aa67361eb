"""A logged-in Superset REST session (bearer token + CSRF token + session cookie) and the list/import calls deploy
uses. Standard library + requests only."""

from __future__ import annotations

import json
import re
from typing import Any

import requests

BUNDLE_ZIP_NAME = "openfinops_bundle.zip"


class DeployError(Exception):
    """Deployment cannot go on: Superset refused a request, or a precondition (database role, policy, users) is
    not met. The message names the problem; it never carries a password."""


def rison(value: Any) -> str:
    """Minimal rison encoder (Superset's list/filter `q` parameter)."""
    if value is True:
        return "!t"
    if value is False:
        return "!f"
    if value is None:
        return "!n"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        if value and re.fullmatch(r"[A-Za-z_./~-][A-Za-z0-9_./~-]*", value):
            return value
        return "'" + value.replace("!", "!!").replace("'", "!'") + "'"
    if isinstance(value, (list, tuple)):
        return "!(" + ",".join(rison(v) for v in value) + ")"
    if isinstance(value, dict):
        return "(" + ",".join(f"{rison(str(k))}:{rison(v)}" for k, v in value.items()) + ")"
    raise TypeError(f"cannot rison-encode {type(value).__name__}")


class SupersetClient:
    """Logged-in requests session. ``get``/``post``/``put``/``delete`` raise DeployError on HTTP >= 400;
    ``request`` returns any response unchecked (tests use it to assert 403s)."""

    def __init__(self, url: str, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _check(self, resp: requests.Response, what: str) -> requests.Response:
        if resp.status_code >= 400:
            body = resp.text[:500].replace("\n", " ")
            hint = " (the server log has the reason)" if resp.status_code >= 500 else ""
            raise DeployError(f"{what} failed: HTTP {resp.status_code} {body}{hint}")
        return resp

    def login(self, username: str, password: str) -> SupersetClient:
        try:
            resp = self.session.post(
                f"{self.url}/api/v1/security/login",
                json={"username": username, "password": password, "provider": "db", "refresh": False},
                timeout=self.timeout,
            )
        except requests.ConnectionError as exc:
            raise DeployError(f"cannot reach Superset at {self.url}: {exc}") from exc
        if resp.status_code == 401:
            raise DeployError(f"login as {username!r} refused: wrong user or password")
        self._check(resp, "login")
        self.session.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"
        csrf = self._check(self.session.get(f"{self.url}/api/v1/security/csrf_token/", timeout=self.timeout), "csrf")
        self.session.headers["X-CSRFToken"] = csrf.json()["result"]
        self.session.headers["Referer"] = self.url
        return self

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=self.timeout, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self._check(self.request("GET", path, **kw), f"GET {path}")

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self._check(self.request("POST", path, **kw), f"POST {path}")

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self._check(self.request("PUT", path, **kw), f"PUT {path}")

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self._check(self.request("DELETE", path, **kw), f"DELETE {path}")

    def list_all(self, resource: str, columns: list[str], filters: list[dict[str, Any]] | None = None) -> list[dict]:
        """Every row of a list endpoint (``/api/v1/<resource>/``), page by page (Superset caps pages at 100)."""
        out, page = [], 0
        while True:
            q: dict[str, Any] = {"columns": columns, "page": page, "page_size": 100}
            if filters:
                q["filters"] = filters
            data = self.get(f"/api/v1/{resource}/", params={"q": rison(q)}).json()
            out.extend(data.get("result", []))
            if len(out) >= data.get("count", 0) or not data.get("result"):
                return out
            page += 1

    def import_assets(self, zip_bytes: bytes, passwords: dict[str, str]) -> None:
        """POST /api/v1/assets/import/: overwrites databases, datasets, charts and dashboards matched by uuid."""
        files = {"bundle": (BUNDLE_ZIP_NAME, zip_bytes, "application/zip")}
        data = {"passwords": json.dumps(passwords)} if passwords else {}
        self.post("/api/v1/assets/import/", files=files, data=data)
