"""The dashboard's two languages: every message has a Vietnamese translation, and the
language comes from the cookie, else the browser, else English."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jinja2 import Environment
from starlette.requests import Request

from api.dashboard import i18n
from api.dashboard.router import router
from api.errors import install_error_handlers

DASHBOARD = Path(i18n.__file__).parent
# ``tr(request, "...")`` in Python: the message is its second argument.
PY_KEYWORDS = {"_": None, "gettext": None, "tr": (2,)}
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n"}


def messages() -> dict[str, str]:
    """Every message id in the dashboard's templates and Python, with where it was found."""
    found: dict[str, str] = {}
    for path in sorted((DASHBOARD / "templates").rglob("*.html")):
        for line, msgid, _, _ in extract_from_file(
            "jinja2.ext:babel_extract", path, options=JINJA_OPTIONS
        ):
            ids = msgid if isinstance(msgid, tuple) else (msgid,)
            for m in ids:
                found.setdefault(m, f"{path.relative_to(DASHBOARD)}:{line}")
    for path in sorted(DASHBOARD.glob("*.py")):
        for line, msgid, _, _ in extract_from_file("python", path, keywords=PY_KEYWORDS):
            ids = msgid if isinstance(msgid, tuple) else (msgid,)
            for m in ids:
                if m:
                    found.setdefault(m, f"{path.relative_to(DASHBOARD)}:{line}")
    return found


def test_templates_have_messages_to_check() -> None:
    found = messages()
    # The extractor really reads the templates and Python: a handful of known ids.
    for msgid in ("Topics", "Signals", "That API key is not valid.", "Write a note first."):
        assert msgid in found


def test_every_message_has_a_vietnamese_translation() -> None:
    vi = i18n.CATALOGUES["vi"]
    missing = [
        f"{where}: {msgid!r}" for msgid, where in messages().items() if vi.gettext(msgid) == msgid
    ]
    # A Vietnamese word may equal the English one ("CSAT"); none of ours is left out like that.
    assert not missing, "untranslated in vi:\n" + "\n".join(missing)


def test_translations_keep_the_placeholders() -> None:
    vi = i18n.CATALOGUES["vi"]
    for msgid in messages():
        text = vi.gettext(msgid)
        for token in ("%(", "%%"):
            assert msgid.count(token) == text.count(token), (msgid, text)


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("vi-VN,vi;q=0.9,en-US;q=0.8", "vi"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR,fr;q=0.9", "en"),
        ("fr;q=1, vi;q=0.5, en;q=0.7", "en"),
        ("fr, vi;q=0.5", "vi"),
        ("", "en"),
        (None, "en"),
        ("vi;q=garbage", "en"),
    ],
)
def test_the_browser_language_is_negotiated(header: str | None, lang: str) -> None:
    assert i18n.negotiate(header) == lang


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "headers": raw, "method": "GET", "path": "/"})


def test_the_cookie_wins_over_the_browser_and_a_bad_cookie_is_ignored() -> None:
    assert i18n.lang_of(_request({"Accept-Language": "en", "Cookie": "lng_lang=vi"})) == "vi"
    assert i18n.lang_of(_request({"Accept-Language": "vi", "Cookie": "lng_lang=en"})) == "en"
    assert i18n.lang_of(_request({"Accept-Language": "vi", "Cookie": "lng_lang=xx"})) == "vi"
    assert i18n.lang_of(_request({})) == "en"


def test_python_messages_follow_the_request() -> None:
    vi = _request({"Cookie": "lng_lang=vi"})
    assert i18n.tr(vi, "That API key is not valid.") != "That API key is not valid."
    assert i18n.tr(_request({}), "That API key is not valid.") == "That API key is not valid."


def test_numbers_and_dates_in_each_language() -> None:
    env = Environment(autoescape=True)
    i18n.install(env)
    page = env.from_string(
        "{{ 12345.678|number(1) }} {{ 0.125|percent(1) }} {{ d|day }} {{ none|number }}"
    )
    assert page.render(request=_request({}), d=date(2026, 12, 2)) == (
        "12,345.7 12.5% Dec 2, 2026 –"
    )
    vi = page.render(request=_request({"Cookie": "lng_lang=vi"}), d=date(2026, 12, 2))
    assert vi.startswith("12.345,7 12,5% ") and "2026" in vi and "12" in vi


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    return TestClient(app)


def test_the_switcher_sets_the_cookie_and_returns_to_the_page(client: TestClient) -> None:
    response = client.get(
        "/dashboard/lang",
        params={"to": "vi", "next": "/dashboard/signals?weeks=8"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/signals?weeks=8"
    assert "lng_lang=vi" in response.headers["set-cookie"]
    assert "Path=/dashboard" in response.headers["set-cookie"]


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/v1/keys"])
def test_the_switcher_is_no_open_redirect(client: TestClient, target: str) -> None:
    response = client.get(
        "/dashboard/lang", params={"to": "en", "next": target}, follow_redirects=False
    )
    assert response.headers["location"] == "/dashboard/topics"


def test_an_unknown_language_is_refused(client: TestClient) -> None:
    assert client.get("/dashboard/lang", params={"to": "fr"}).status_code == 422


def test_the_login_page_is_in_the_browser_language(client: TestClient) -> None:
    vi = client.get("/dashboard/login", headers={"Accept-Language": "vi-VN,vi;q=0.9"})
    assert '<html lang="vi">' in vi.text and "Đăng nhập" in vi.text
    en = client.get("/dashboard/login", headers={"Accept-Language": "en-GB"})
    assert '<html lang="en">' in en.text and "Log in" in en.text
    client.cookies.set("lng_lang", "vi", path="/dashboard")
    assert '<html lang="vi">' in client.get("/dashboard/login").text


def test_no_template_hides_the_gettext_function() -> None:
    # ``{% set _ = ... %}`` (a throwaway name) would shadow ``_()`` for the rest of the block.
    for path in (DASHBOARD / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"{%-?\s*(set|for|with)\s+_\s*[=,%]|\bas _\b", text), path


def test_imported_macros_see_the_page_language() -> None:
    # A macro imported without the context has no request, so it would render in English.
    for path in (DASHBOARD / "templates").rglob("*.html"):
        for found in re.finditer(r"{%-?\s*(from\s+\S+\s+)?import\b[^%]*%}", path.read_text()):
            assert "with context" in found.group(0), (path, found.group(0))
