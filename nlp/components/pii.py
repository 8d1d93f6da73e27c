"""Personal data redaction, applied before feedback text is stored or emitted.

Each kind of personal data is one pattern plus, where digits alone are
ambiguous, a check: card numbers must pass Luhn, ID and bank-account numbers
must sit near a cue word. That keeps order numbers, prices and dates intact,
which analysts need and which are not personal data.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

PII_KINDS: tuple[str, ...] = ("email", "card", "national_id", "bank_account", "phone", "address")


@dataclass(frozen=True)
class Redaction:
    """One redacted span of the original text."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class RedactionResult:
    """The redacted text and what was taken out of it."""

    text: str
    redactions: tuple[Redaction, ...]


# Every pattern must run in time linear in the text: a tenant controls the text, and
# redaction runs before anything is stored. Two rules keep it so. A match may only start
# where a run of its characters starts (the lookbehinds), so the engine never rescans a
# long run from each of its positions; and a run that may be long is consumed possessively
# (``*+``, ``++``) or with a bounded count, so a failed match gives nothing back to retry.
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]{1,63}(?:\.[\w-]{1,63})*\.[A-Za-z]{2,63}")

# A maximal run of digits grouped by single spaces or dashes; 13-19 digits is a candidate card
# (checked in _cards). Matching whole runs, not every 13-19 digit window, keeps one pass.
_CARD_RUN = re.compile(r"(?<![\w.,])\d(?:[ -]?\d){12,}+")
_CARD_TAIL = re.compile(r"[\w.,]?\d")

_VN_PHONE_PREFIX = r"(?:\(\+?84\)|\+84|84)[ .-]?"
# Mobiles: 0, +84, 84 or (+84), then 9 digits starting 3, 5, 7, 8 or 9, with single spaces,
# dots or dashes anywhere ("(+84) 912 345 678"). Landlines: a 2x area code, optionally in
# brackets, then 8 digits, grouped the same way ("(028) 3822 1234", "024.3826.5432").
_VN_PHONE = re.compile(
    rf"(?<![\w+])(?:"
    rf"(?:{_VN_PHONE_PREFIX}|0[ .-]?)[35789](?:[ .-]?\d){{8}}"
    rf"|(?:{_VN_PHONE_PREFIX}\(?|\(0|0)2\d\)?[ .-]?\d(?:[ .-]?\d){{7}}"
    rf")(?!\d)"
)
# International numbers need the leading + so that plain digit runs stay untouched.
_INTL_PHONE = re.compile(r"(?<![\w+])\+(?!84)\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w])")

_ID_CUE = (
    r"(?:cmnd|cccd|căn cước|can cuoc|chứng minh|chung minh|cmt|id card|national id|passport|"
    r"hộ chiếu|ho chieu)"
)
# 12 digits (CCCD) or 9 (CMND), written solid or in groups ("079 123 456 789").
_NATIONAL_ID = re.compile(
    rf"({_ID_CUE})[^\d\n]{{0,25}}+(\d(?:[ .-]?\d){{11}}|\d(?:[ .-]?\d){{8}})"
    rf"(?![ .-]?\d)",
    re.IGNORECASE,
)

_BANK_CUE = (
    r"(?:stk|số tài khoản|so tai khoan|tài khoản|tai khoan|tk ngân hàng|account number|"
    r"account no\.?|acct|iban|bank account)"
)
_BANK_ACCOUNT = re.compile(
    rf"({_BANK_CUE})[^\d\n]{{0,30}}+(\d(?:[ -]?\d){{7,18}})(?!\d)", re.IGNORECASE
)

_STREET_WORD = (
    r"(?:đường|duong|phố|pho|ngõ|ngo|hẻm|hem|ngách|ngach|kiệt|kiet|street|st\.|road|rd\.|"
    r"avenue|ave\.|lane|boulevard|blvd\.)"
)
# A house number such as 12, 12A or 12/3/4B: it starts where a run of digits and slashes
# starts, and at most four slash levels follow, so "1/1/1/..." is one short look per run.
_ADDRESS = re.compile(
    rf"(?:\b(?:số|so|no\.?)\s*+)?(?<![\w/])\d{{1,5}}[A-Za-z]?(?:/\d{{1,4}}[A-Za-z]?){{0,4}}+"
    rf"\s*+,?\s*+{_STREET_WORD}(?:\s++[\wÀ-ỹ]++){{1,4}}",
    re.IGNORECASE,
)
_ADDRESS_EN = re.compile(
    r"(?<!\w)\d{1,5}\s++(?:[A-Z][a-z]++\s++){1,3}(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|"
    r"Boulevard|Blvd|Drive|Dr)\b\.?",
)


def luhn_valid(digits: str) -> bool:
    """Whether a digit string passes the Luhn checksum used by payment cards."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


Finder = Callable[[str], Iterable[tuple[int, int]]]


def _emails(text: str) -> Iterable[tuple[int, int]]:
    return ((m.start(), m.end()) for m in _EMAIL.finditer(text))


def _cards(text: str) -> Iterable[tuple[int, int]]:
    for match in _CARD_RUN.finditer(text):
        digits = _digits(match.group())
        if (
            13 <= len(digits) <= 19
            and not _CARD_TAIL.match(text, match.end())
            and luhn_valid(digits)
        ):
            yield match.start(), match.end()


def _cued_numbers(pattern: re.Pattern[str]) -> Finder:
    def find(text: str) -> Iterable[tuple[int, int]]:
        return ((m.start(2), m.end(2)) for m in pattern.finditer(text))

    return find


def _phones(text: str) -> Iterable[tuple[int, int]]:
    for pattern in (_VN_PHONE, _INTL_PHONE):
        for match in pattern.finditer(text):
            if 9 <= len(_digits(match.group())) <= 15:
                yield match.start(), match.end()


def _addresses(text: str) -> Iterable[tuple[int, int]]:
    for pattern in (_ADDRESS, _ADDRESS_EN):
        for match in pattern.finditer(text):
            yield match.start(), match.end()


# Order matters: earlier kinds win overlapping spans (a card number is not also a phone).
_FINDERS: dict[str, Finder] = {
    "email": _emails,
    "card": _cards,
    "national_id": _cued_numbers(_NATIONAL_ID),
    "bank_account": _cued_numbers(_BANK_ACCOUNT),
    "phone": _phones,
    "address": _addresses,
}


def redact(text: str, kinds: Iterable[str] = PII_KINDS) -> RedactionResult:
    """Replace personal data in ``text`` with ``[KIND]`` placeholders.

    ``kinds`` selects which of :data:`PII_KINDS` to look for; an unknown kind
    is a programming error and raises ``ValueError``.
    """
    wanted = list(kinds)
    unknown = set(wanted) - set(PII_KINDS)
    if unknown:
        raise ValueError(f"unknown PII kinds: {sorted(unknown)}")
    # The kept spans never overlap, so sorted by start they are sorted by end too: one
    # bisection finds the only neighbours a new span could overlap (a scan of every kept
    # span would make a text full of e-mail addresses quadratic).
    spans: list[Redaction] = []
    starts: list[int] = []
    for kind in PII_KINDS:
        if kind not in wanted:
            continue
        for start, end in _FINDERS[kind](text):
            at = bisect.bisect_left(starts, start)
            if at > 0 and spans[at - 1].end > start:
                continue
            if at < len(spans) and spans[at].start < end:
                continue
            spans.insert(at, Redaction(kind, start, end))
            starts.insert(at, start)
    pieces: list[str] = []
    cursor = 0
    for span in spans:
        pieces.append(text[cursor : span.start])
        pieces.append(f"[{span.kind.upper()}]")
        cursor = span.end
    pieces.append(text[cursor:])
    return RedactionResult("".join(pieces), tuple(spans))
