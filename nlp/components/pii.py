"""Personal data redaction, applied before feedback text is stored or emitted.

Each kind of personal data is one pattern plus, where digits alone are
ambiguous, a check: card numbers must pass Luhn, ID and bank-account numbers
must sit near a cue word. That keeps order numbers, prices and dates intact,
which analysts need and which are not personal data.
"""

from __future__ import annotations

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


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")

# 13-19 digits, optionally grouped by single spaces or dashes.
_CARD = re.compile(r"(?<![\w.,])\d(?:[ -]?\d){12,18}(?![\w.,]?\d)")

_VN_MOBILE_PREFIXES = "3|5|7|8|9"
# 0xx... or +84 / 84 followed by 9 digits; separators are single spaces, dots or dashes.
_VN_PHONE = re.compile(
    rf"(?<![\w+])(?:\+84|84|0)[ .-]?(?:{_VN_MOBILE_PREFIXES}|2\d)\d(?:[ .-]?\d){{7}}(?!\d)"
)
# International numbers need the leading + so that plain digit runs stay untouched.
_INTL_PHONE = re.compile(r"(?<![\w+])\+(?!84)\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w])")

_ID_CUE = (
    r"(?:cmnd|cccd|căn cước|can cuoc|chứng minh|chung minh|cmt|id card|national id|passport|"
    r"hộ chiếu|ho chieu)"
)
_NATIONAL_ID = re.compile(
    rf"({_ID_CUE})(?:[^\d\n]{{0,25}}?)(?<!\d)(\d{{12}}|\d{{9}})(?!\d)", re.IGNORECASE
)

_BANK_CUE = (
    r"(?:stk|số tài khoản|so tai khoan|tài khoản|tai khoan|tk ngân hàng|account number|"
    r"account no\.?|acct|iban|bank account)"
)
_BANK_ACCOUNT = re.compile(
    rf"({_BANK_CUE})(?:[^\d\n]{{0,30}}?)(?<!\d)(\d(?:[ -]?\d){{7,18}})(?!\d)", re.IGNORECASE
)

_STREET_WORD = (
    r"(?:đường|duong|phố|pho|ngõ|ngo|hẻm|hem|ngách|ngach|kiệt|kiet|street|st\.|road|rd\.|"
    r"avenue|ave\.|lane|boulevard|blvd\.)"
)
_ADDRESS = re.compile(
    rf"(?:\b(?:số|so|no\.?)\s*)?\b\d{{1,5}}[A-Za-z]?(?:/\d{{1,4}}[A-Za-z]?)*\s*,?\s*{_STREET_WORD}"
    rf"(?:\s+[\wÀ-ỹ]+){{1,4}}",
    re.IGNORECASE,
)
_ADDRESS_EN = re.compile(
    r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Boulevard|Blvd|"
    r"Drive|Dr)\b\.?",
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
    for match in _CARD.finditer(text):
        digits = _digits(match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
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
    spans: list[Redaction] = []
    for kind in PII_KINDS:
        if kind not in wanted:
            continue
        for start, end in _FINDERS[kind](text):
            if not any(start < s.end and s.start < end for s in spans):
                spans.append(Redaction(kind, start, end))
    spans.sort(key=lambda s: s.start)
    pieces: list[str] = []
    cursor = 0
    for span in spans:
        pieces.append(text[cursor : span.start])
        pieces.append(f"[{span.kind.upper()}]")
        cursor = span.end
    pieces.append(text[cursor:])
    return RedactionResult("".join(pieces), tuple(spans))
