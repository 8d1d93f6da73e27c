"""Dashboard building blocks without a server: sessions, CSRF checks, redirects, charts."""

from __future__ import annotations

import time
from datetime import date
from uuid import uuid4

import pytest

from api.dashboard.charts import sparkline
from api.dashboard.router import _safe_next
from api.dashboard.session import Session, SessionSigner, check_token
from api.errors import ApiError
from api.topic_reports import bucket, buckets, partial


def _session() -> Session:
    return Session(uuid4(), "shop", "ab" * 32, "token")


def test_a_signed_session_round_trips_and_a_forged_one_does_not() -> None:
    signer = SessionSigner("secret", max_age_s=60)
    session = _session()
    cookie = signer.dumps(session)
    assert signer.loads(cookie) == session
    assert signer.loads(cookie[:-2] + "xx") is None
    assert SessionSigner("other", max_age_s=60).loads(cookie) is None
    assert signer.loads(None) is None and signer.loads("garbage") is None


def test_an_expired_session_is_refused() -> None:
    signer = SessionSigner("secret", max_age_s=1)
    cookie = signer.dumps(_session())
    time.sleep(2.1)
    assert signer.loads(cookie) is None


def test_csrf_tokens_must_match() -> None:
    check_token("abc", "abc")
    for expected, sent in (("abc", "abd"), ("abc", None), (None, "abc"), ("", "")):
        with pytest.raises(ApiError) as caught:
            check_token(expected, sent)
        assert caught.value.status == 403 and caught.value.code == "csrf_failed"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/dashboard/topics/3?period=7d", "/dashboard/topics/3?period=7d"),
        ("https://evil.example/", "/dashboard/topics"),
        ("//evil.example/dashboard/", "/dashboard/topics"),
        ("/dashboard//evil.example", "/dashboard/topics"),
        ("/v1/topics", "/dashboard/topics"),
        (None, "/dashboard/topics"),
    ],
)
def test_login_redirects_only_to_dashboard_pages(target: str | None, expected: str) -> None:
    assert _safe_next(target) == expected


def test_sparkline_is_an_svg_scaled_to_its_box() -> None:
    svg = str(sparkline([0, 5, 10], width=100, height=20))
    assert svg.startswith("<svg") and 'aria-label="15 items' in svg
    assert "1.0,18.0" in svg and "99.0,2.0" in svg
    assert "<polyline" in str(sparkline([]))


def test_a_running_period_is_dashed_in_the_sparkline_and_flagged_partial() -> None:
    svg = str(sparkline([4, 6, 1], width=100, height=20, partial=True))
    # The first two points (x 1 and 50) in the solid line, the last segment dashed apart.
    solid, dashed = svg.split('class="partial"')
    assert "1.0," in solid and "50.0," in solid and "99.0," not in solid
    assert 'stroke-dasharray="2 2"' in dashed and "50.0," in dashed and "99.0," in dashed
    assert "still running" in svg
    assert "stroke-dasharray" not in str(sparkline([4, 6, 1], width=100, height=20))
    monday = date(2026, 11, 30)
    assert partial(monday, "week", today=date(2026, 12, 2))
    assert not partial(monday, "week", today=date(2026, 12, 7))
    assert partial(date(2026, 12, 2), "day", today=date(2026, 12, 2))
    assert not partial(date(2026, 12, 1), "day", today=date(2026, 12, 2))


def test_weeks_start_on_monday_and_buckets_have_no_gaps() -> None:
    assert bucket(date(2026, 11, 26), "week") == date(2026, 11, 23)
    assert bucket(date(2026, 11, 26), "day") == date(2026, 11, 26)
    weeks = buckets(date(2026, 11, 1), date(2026, 11, 20), "week")
    assert weeks == [date(2026, 10, 26), date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16)]


def test_the_shell_auth_checks_origin_and_token() -> None:
    from starlette.requests import Request

    from api.auth import Principal
    from api.dashboard.router import ShellAuth
    from store.tenants import Tenant

    def request(origin: str, scope: str = "admin") -> Request:
        headers = [(b"host", b"127.0.0.1:8000"), (b"origin", origin.encode())]
        # What the shell's session lookup puts on the request: who is logged in, by which key.
        principal = Principal("dashboard", Tenant(uuid4(), "t"), "k", "key", (scope,))  # type: ignore[arg-type]
        return Request(
            {
                "type": "http",
                "method": "POST",
                "path": "/",
                "headers": headers,
                "state": {"principal": principal},
            }
        )

    auth, session = ShellAuth(), _session()
    auth.check_post(request("http://127.0.0.1:8000"), session, {"csrf": "token"})
    for origin, form in (
        ("http://evil.example", {"csrf": "token"}),
        ("http://127.0.0.1:8000", {"csrf": "other"}),
    ):
        with pytest.raises(ApiError):
            auth.check_post(request(origin), session, form)
    # A read-only key may look, not change.
    with pytest.raises(ApiError) as refused:
        auth.check_post(request("http://127.0.0.1:8000", "read"), session, {"csrf": "token"})
    assert refused.value.code == "insufficient_scope"
