"""The dashboard in Vietnamese and English: one Babel catalogue per language, the visitor's
language (the ``lng_lang`` cookie, else the browser's Accept-Language, else English), and
number and date formats of that language.

The catalogues are the ``.po`` files under ``locales/``; they are compiled in memory here at
import, so no compiled ``.mo`` file is kept in git. English is the message id: the English
catalogue is empty and every lookup falls back to the id.

Templates reach all of it through :func:`install`: ``_()``/``{% trans %}`` and the
``number``, ``percent`` and ``day`` filters read the language from the request in the
template's context, so no page has to pass it.
"""

from __future__ import annotations

from datetime import date, datetime
from gettext import c2py
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from fastapi import Request
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

LOCALES = Path(__file__).parent / "locales"
LANGS = ("en", "vi")
DEFAULT = "en"
COOKIE = "lng_lang"


def _load(lang: str) -> NullTranslations:
    path = LOCALES / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        catalog = read_po(f, locale=lang)
    # Untranslated (empty) entries are left out, so they fall back to the English id.
    entries: dict[Any, str] = {}
    for m in catalog:
        if isinstance(m.id, str):
            if m.id and isinstance(m.string, str) and m.string:
                entries[m.id] = m.string
        else:  # a plural message: gettext's keys are (singular id, form number)
            forms = m.string if isinstance(m.string, tuple | list) else ()
            for form, text in enumerate(forms):
                if text:
                    entries[(m.id[0], form)] = text
    translations = Translations()
    translations._catalog = entries
    # Vietnamese has one plural form: the catalogue's rule, not gettext's English default.
    rule = c2py(catalog.plural_expr)
    translations.plural = lambda n: rule(int(n))
    return translations


CATALOGUES: dict[str, NullTranslations] = {lang: _load(lang) for lang in LANGS}


def negotiate(accept_language: str | None) -> str:
    """The best of our languages for an Accept-Language header, English when none fits."""
    wanted: list[tuple[float, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag and q > 0:
            # Ties keep the header's order.
            wanted.append((-q + i * 1e-6, tag.replace("_", "-")))
    found = Locale.negotiate([t for _, t in sorted(wanted)], list(LANGS), sep="-")
    return str(found.language) if found is not None else DEFAULT


def lang_of(request: Request) -> str:
    """The request's language: its ``lng_lang`` cookie when valid, else negotiated."""
    cached = getattr(request.state, "lang", None)
    if isinstance(cached, str):
        return cached
    chosen = request.cookies.get(COOKIE)
    lang = chosen if chosen in LANGS else negotiate(request.headers.get("accept-language"))
    request.state.lang = lang
    return lang


def tr(request: Request, message: str) -> str:
    """``message`` (an English msgid) in the request's language: for text made in Python."""
    return CATALOGUES[lang_of(request)].gettext(message)


def _lang(ctx: Context) -> str:
    request = ctx.get("request")
    return lang_of(request) if request is not None else DEFAULT


@pass_context
def _gettext(ctx: Context, message: str) -> str:
    return CATALOGUES[_lang(ctx)].gettext(message)


@pass_context
def _ngettext(ctx: Context, singular: str, plural: str, n: int) -> str:
    return CATALOGUES[_lang(ctx)].ngettext(singular, plural, n)


@pass_context
def number(ctx: Context, value: float | int | None, digits: int = 0, empty: str = "–") -> str:
    """A number in the page's language (``1.234,5`` in Vietnamese), ``digits`` decimals."""
    if value is None:
        return empty
    fmt = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=fmt, locale=_lang(ctx))


@pass_context
def percent(ctx: Context, share: float | None, digits: int = 1, empty: str = "–") -> str:
    """A share of 1 (0.125) as a percentage in the page's language (``12,5%``)."""
    if share is None:
        return empty
    text: str = number(ctx, share * 100, digits, empty)
    return f"{text}%"


@pass_context
def day(ctx: Context, value: date | datetime | str | None, empty: str = "—") -> str:
    """A date in the page's language (``2 thg 12, 2026`` / ``Dec 2, 2026``)."""
    if value is None or value == "":
        return empty
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.date()
    return format_date(value, format="medium", locale=_lang(ctx))


@pass_context
def moment(ctx: Context, value: datetime | None, empty: str = "—") -> str:
    """A date and time (to the minute) in the page's language."""
    if value is None:
        return empty
    return format_datetime(value, format="short", locale=_lang(ctx), tzinfo=value.tzinfo)


@pass_context
def page_lang(ctx: Context) -> str:
    """The page's language code, for ``<html lang>`` and the switcher."""
    return _lang(ctx)


def install(env: Environment) -> None:
    """Give ``env`` the i18n extension, the per-request gettext and the format filters."""
    env.add_extension("jinja2.ext.i18n")
    # newstyle: %-formatting is done by Jinja with autoescaping, as {% trans %} expects.
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    filters: dict[str, Any] = {"number": number, "percent": percent, "day": day, "moment": moment}
    env.filters.update(filters)
    env.globals["page_lang"] = page_lang
    env.globals["langs"] = LANGS
