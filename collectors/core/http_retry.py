"""A small retrying HTTP caller over ``requests`` for vendor REST APIs.

Retried: HTTP 408, 429 and 5xx, and connection errors / timeouts. Any other status is returned at once (2xx, 3xx)
or raised as a :class:`~collectors.core.base.CollectorError` (4xx). The wait before retry ``n`` (0-based) is, in order:

1. what the server asks for: the largest of ``Retry-After`` (seconds, or an HTTP-date read against the response's
   own ``Date`` header: no local clock is read) and any ``x-ms-ratelimit-*-retry-after`` header (seconds; Azure Cost
   Management sends ``x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after``, ``-entity-retry-after`` and
   ``-tenant-retry-after`` with its 429s, and the longest one is the one to honour) and, with
   ``x-ratelimit-remaining: 0``, ``x-ratelimit-reset`` (GitHub: epoch seconds, read against ``Date``; Datadog:
   seconds to wait); a 403 that carries those headers is GitHub's rate limit and is retried like a 429;
2. otherwise ``base_seconds * 2**n``, capped at ``max_seconds`` (deterministic: no jitter, so tests and logs can
   state the exact waits).

A server that asks for a longer wait than ``max_seconds`` is not obeyed by sleeping in the task: the call fails at
once naming the wait asked for (the task's own retry comes back later). :class:`PageGuard` stops paging loops that
would never end (a repeated continuation token or link, or more pages than any real answer has).

After the last attempt the error names the source id, the operation, the method and URL *path* (never the query
string, which may carry tokens), the HTTP status and the vendor's error code and message. ``sleep`` is injectable.
urllib3's own DEBUG line per request has its query string blanked too (:func:`redact_urllib3_query_strings`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from collectors.core.base import CollectorError

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_VENDOR_RETRY_AFTER = re.compile(r"^x-ms-ratelimit-.+-retry-after$", re.IGNORECASE)
_QUERY_STRING = re.compile(r"[?][^\s)]*")  # a URL's query string inside an exception message


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` retries after the first attempt (so ``max_retries + 1`` attempts in all)."""

    max_retries: int = 6
    base_seconds: float = 2.0
    max_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.base_seconds < 0 or self.max_seconds < 0:
            raise ValueError(f"retry policy values must be >= 0, got {self}")

    def backoff(self, retry: int) -> float:
        return min(self.max_seconds, self.base_seconds * 2 ** retry)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The longest wait the throttling headers ask for, in seconds, or None when there is none (or none readable)."""
    waits = []
    for name, value in headers.items():
        if name.lower() == "retry-after" or _VENDOR_RETRY_AFTER.match(name):
            wait = _seconds(value, headers.get("Date"))
            if wait is not None:
                waits.append(wait)
    reset = _rate_limit_reset(headers)
    if reset is not None:
        waits.append(reset)
    return max(waits) if waits else None


def _rate_limit_reset(headers: Mapping[str, str]) -> float | None:
    """``x-ratelimit-remaining: 0`` with ``x-ratelimit-reset``: GitHub sends the reset time in epoch seconds (read
    against the response's ``Date``, not a local clock), Datadog the seconds until the reset."""
    lower = {k.lower(): v for k, v in headers.items()}
    if lower.get("x-ratelimit-remaining", "").strip() != "0" or "x-ratelimit-reset" not in lower:
        return None
    try:
        reset = float(lower["x-ratelimit-reset"])
    except ValueError:
        return None
    if reset < 1_000_000_000:  # seconds until the reset
        return max(0.0, reset)
    if not lower.get("date"):
        return None
    try:
        return max(0.0, reset - parsedate_to_datetime(lower["date"]).timestamp())
    except (TypeError, ValueError):
        return None


def _seconds(value: str, date_header: str | None) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    if not date_header:  # an HTTP-date needs the server's "now"; without it the header cannot be read
        return None
    try:
        return max(0.0, (parsedate_to_datetime(value) - parsedate_to_datetime(date_header)).total_seconds())
    except (TypeError, ValueError):
        return None


def vendor_error(response: requests.Response) -> tuple[str | None, str]:
    """(code, message) from the common JSON error shapes: ``{"error": {"code", "message"}}`` (Azure Resource
    Manager, Google) or top-level ``{"code", "message"}``; else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        if "code" in inner or "message" in inner:
            return (None if inner.get("code") is None else str(inner.get("code")), str(inner.get("message") or ""))
    return None, (response.text or "").strip()[:300]


def url_path(url: str) -> str:
    """The URL without scheme, host and query string: safe to log and to put in error messages."""
    return urlsplit(url).path


class PageGuard:
    """Counts the pages of one paged answer and refuses a continuation it has seen before (the API is looping) or a
    page beyond ``max_pages`` (default 10,000: a daily cost query has a handful)."""

    def __init__(self, source_id: str, what: str, max_pages: int = 10_000) -> None:
        self.source_id, self.what, self.max_pages = source_id, what, max_pages
        self.seen: set[str] = set()

    def next(self, continuation: str, page: int) -> None:
        """Call with the continuation token or link that page ``page`` returned, before fetching the next page."""
        if continuation in self.seen:
            raise CollectorError(f"source {self.source_id}: {self.what}: page {page} returned a continuation "
                                 f"already followed ({url_path(continuation) or 'token'} repeated): the API is "
                                 f"looping, stopping rather than loading the same rows again")
        if page >= self.max_pages:
            raise CollectorError(f"source {self.source_id}: {self.what}: more than {self.max_pages} pages: stopping "
                                 f"(no real answer is this long; narrow the window or report the API's behaviour)")
        self.seen.add(continuation)


class _RedactQueryStrings(logging.Filter):
    """urllib3 logs each request's URL with its query string at DEBUG; a query string may carry a credential (a
    presigned URL's signature, an API key). This filter on urllib3's connection-pool logger blanks them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_QUERY_STRING.sub("?<redacted>", a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_urllib3_query_strings() -> None:
    """Install :class:`_RedactQueryStrings` once (idempotent)."""
    pool_log = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _RedactQueryStrings) for f in pool_log.filters):
        pool_log.addFilter(_RedactQueryStrings())


class RetryingHttp:
    """Sends requests for one source with :class:`RetryPolicy`. ``operation`` (e.g. "Cost Management query,
    scope subscriptions/...") is put in log lines and errors."""

    def __init__(self, session: requests.Session, source_id: str, policy: RetryPolicy | None = None, *,
                 sleep: Callable[[float], None] = time.sleep, timeout: tuple[float, float] = (10.0, 300.0),
                 error_detail: Callable[[requests.Response], tuple[str | None, str]] = vendor_error) -> None:
        redact_urllib3_query_strings()
        self.session = session
        self.source_id = source_id
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.timeout = timeout
        self.error_detail = error_detail

    def request(self, method: str, url: str, *, operation: str,
                headers: Callable[[], Mapping[str, str]] | Mapping[str, str] | None = None,
                **kwargs: Any) -> requests.Response:
        """``headers`` may be a callable, called before every attempt (a fresh bearer token after a long wait).
        ``kwargs`` go to ``session.request`` (``json=``, ``data=``, ``params=``)."""
        attempts = self.policy.max_retries + 1
        where = f"{method} {url_path(url)}"
        for retry in range(attempts):
            attempt_headers = headers() if callable(headers) else headers
            response, failure = None, ""
            try:
                response = self.session.request(method, url, headers=attempt_headers, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                failure = f"{type(exc).__name__}: {_QUERY_STRING.sub('', str(exc))}"
            if response is not None and response.status_code not in RETRYABLE_STATUSES and not (
                    response.status_code == 403 and _rate_limit_reset(response.headers) is not None):
                if response.status_code >= 400:
                    raise self._error(operation, where, response, retry + 1)
                return response
            if retry + 1 == attempts:
                if response is not None:
                    raise self._error(operation, where, response, attempts)
                raise CollectorError(f"source {self.source_id}: {operation}: {where} failed after {attempts} "
                                     f"attempt(s): {failure}")
            wait = retry_after_seconds(response.headers) if response is not None else None
            if wait is not None and wait > self.policy.max_seconds:
                raise CollectorError(
                    f"source {self.source_id}: {operation}: {where} -> HTTP {response.status_code}, and the server "
                    f"asks to wait {wait:.0f} s before retrying, more than the {self.policy.max_seconds:.0f} s a "
                    f"collect task waits: failing now (the task's retry comes back later)")
            if wait is None:
                wait = self.policy.backoff(retry)
            log.warning("source %s: %s: %s -> %s; retry %d of %d in %.1f s", self.source_id, operation, where,
                        failure or f"HTTP {response.status_code}", retry + 1, self.policy.max_retries, wait)
            self.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _error(self, operation: str, where: str, response: requests.Response, attempts: int) -> CollectorError:
        code, message = self.error_detail(response)
        detail = f"{code}: {message}" if code else message
        return CollectorError(f"source {self.source_id}: {operation}: {where} failed with HTTP {response.status_code} "
                              f"after {attempts} attempt(s): {detail}")
