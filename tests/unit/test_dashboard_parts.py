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


def _sums(n: int) -> dict[str, int | float]:
    """One row of signal sums: ``n`` items, half of them satisfied, none rated or surveyed."""
    zero = ("rated_n", "rated_satisfied", "surveyed_n", "survey_promoters", "survey_detractors")
    return {
        "n": n,
        "satisfied_sum": n / 2,
        "promoters": n // 2,
        "detractors": 0,
        "surveyed_inferred_promoters": 0,
        "surveyed_inferred_detractors": 0,
        "rated_inferred_sum": 0.0,
        "rated_abs_error_sum": 0.0,
        **dict.fromkeys(zero, 0),
    }


def test_signals_are_split_into_one_series_per_segment_largest_first() -> None:
    from datetime import UTC, datetime, timedelta

    from api.dashboard.inbox import _segments

    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    this_week = datetime(2026, 11, 30, tzinfo=UTC)
    last_week = this_week - timedelta(weeks=1)
    rows = [
        {"period_start": last_week, "channel": "email", **_sums(4)},
        {"period_start": this_week, "channel": "email", **_sums(2)},
        {"period_start": this_week, "channel": "review", **_sums(9)},
    ]
    segments = _segments(rows, "channel", {}, "week", now)
    assert [(s["name"], s["n"]) for s in segments] == [("review", 9), ("email", 6)]
    email = segments[1]
    # Oldest first for the chart; the running week is marked partial, the last one is not.
    assert [p["period"] for p in email["chart"]] == ["2026-11-23", "2026-11-30"]
    assert [p["partial"] for p in email["chart"]] == [False, True]
    assert email["chart"][0] == {
        "period": "2026-11-23",
        "count": 4,
        "csat_mean": 50.0,
        "partial": False,
    }
    # Topics and themes by name; items in none (-1) show empty.
    named = _segments(
        [{"period_start": last_week, "topic_id": -1, **_sums(3)}], "topic", {1: "x"}, "week", now
    )
    assert named[0]["name"] == ""


@pytest.mark.parametrize("weeks", ["3", "105", "many"])
def test_the_signals_page_refuses_weeks_out_of_range(weeks: str) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from api.dashboard.inbox import build_router
    from api.dashboard.router import ShellAuth
    from api.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(build_router(ShellAuth()))
    # Checked before the login is: no session or database is needed to be refused.
    response = TestClient(app).get("/dashboard/signals", params={"weeks": weeks})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
