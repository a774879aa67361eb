"""github_billing against a local GitHub API in GitHub's wire format (tests/fakes/github_api.py): the documented
example item verbatim plus items a test adds, parsed field by field with Decimal money; GitHub's rate-limit 403
retried after x-ratelimit-reset; a malformed item rejected naming the field; retired endpoints refused clearly."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from collectors.core.base import CollectorError, Reject, Window
from collectors.sources.github_billing import USAGE_ITEMS, GithubBillingCollector
from tests.fakes.github_api import BAD, COPILOT, MACOS, TOKEN, GithubApi, vendor_items

AUGUST = Window.from_dates(date(2023, 8, 1), date(2023, 9, 1))

@pytest.fixture
def github():
    with GithubApi(TOKEN, "GitHub") as api:
        api.months[(2023, 8)] = [*vendor_items(), COPILOT, MACOS, BAD]
        yield api


def collector(api: GithubApi, **options) -> GithubBillingCollector:
    return GithubBillingCollector("github-test", {"organization": "GitHub", "api_url": api.url, **options},
                                  clients={"token": TOKEN})


def test_usage_items_are_parsed_field_by_field_and_a_bad_item_is_rejected(github):
    out = list(collector(github).collect(USAGE_ITEMS, AUGUST))
    records = [r for r in out if not isinstance(r, Reject)]
    rejects = [r for r in out if isinstance(r, Reject)]
    assert records == [
        # the documented example, verbatim: quantity 100 minutes at 0.008 = 0.8 net
        (date(2023, 8, 1), "Actions", "Actions Linux", Decimal(100), "minutes", Decimal("0.008"), Decimal("0.8"),
         Decimal(0), Decimal("0.8"), "GitHub", "github/example", "2023-08", 1),
        (date(2023, 8, 2), "Copilot", "Copilot Business", Decimal(3), "user-months", Decimal(19), Decimal("57.00"),
         Decimal(0), Decimal("57.00"), "GitHub", None, "2023-08", 2),
        (date(2023, 8, 3), "Actions", "Actions macOS 3-core", Decimal(1000), "minutes", Decimal("0.062"),
         Decimal("62.000"), Decimal("12.400"), Decimal("49.600"), "GitHub", "github/example", "2023-08", 3),
    ]
    assert [(r.record_ref, r.field, r.reason) for r in rejects] == [
        ("GitHub 2023-08 usageItems[3]", "quantity", "not a number: 'ten'")]
    assert github.requests == ["/organizations/GitHub/settings/billing/usage?year=2023&month=8"]


def test_rate_limit_403_waits_for_the_reset_and_retries(github):
    github.rate_limited = 1
    out = list(collector(github).collect(USAGE_ITEMS, AUGUST))
    assert len(github.requests) == 2 and len([r for r in out if not isinstance(r, Reject)]) == 3


def test_retired_billing_endpoints_are_refused_naming_the_one_to_use(github):
    with pytest.raises(ValueError, match=r"options.api_url points at a retired per-product billing endpoint .*"
                                         r"/organizations/\{org\}/settings/billing/usage"):
        GithubBillingCollector("gh", {"organization": "GitHub",
                                      "api_url": f"{github.url}/orgs/GitHub/settings/billing/actions"})
    github.gone = True
    with pytest.raises(CollectorError, match=r"source github-test: billing usage 2023-08: GET "
                                             r"/organizations/GitHub/settings/billing/usage failed with HTTP 410 .*"
                                             r"Gone: GitHub retired this billing endpoint"):
        list(collector(github).collect(USAGE_ITEMS, AUGUST))


def test_options_are_checked_naming_the_key():
    with pytest.raises(ValueError, match="options.organization: expected the organisation login, got None"):
        GithubBillingCollector("gh", {})
    with pytest.raises(ValueError, match="options.api_url: expected an http"):
        GithubBillingCollector("gh", {"organization": "o", "api_url": "api.github.com"})
