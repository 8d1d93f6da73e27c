"""Channel normalisation: turn raw feedback into the text the models should read.

Each channel has its own noise. Emails carry quoted replies and signatures that
are not the customer's words this time; call transcripts mix agent and customer
turns, and the customer's turns say how they feel; social posts carry mentions,
links and hashtags. Vietnamese typed quickly uses teencode ("ko", "dc", "sp")
and stretched letters ("quáaaa"). The result is a list of weighted segments, so
the pipeline can weight the customer's turns above the agent's.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from nlp.components.base import Doc
from nlp.types import Channel, Language

CUSTOMER_WEIGHT = 0.8
"""Share of a call's embedding that comes from the customer's turns."""


@dataclass(frozen=True)
class Segment:
    """A piece of normalised text and its weight in the item's embedding."""

    text: str
    weight: float


@dataclass(frozen=True)
class NormalizedText:
    """The normalised text of one item: what is stored, and the weighted segments to encode."""

    text: str
    segments: tuple[Segment, ...]


_QUOTE_HEADER = re.compile(
    r"^\s*(?:On .{0,200}wrote:|Vào .{0,200}(?:đã )?viết:|Vao .{0,200}viet:|"
    r"-{2,}\s*(?:Original Message|Forwarded message|Thư gốc)\s*-{2,}|"
    r"(?:From|Từ|Tu):\s.+)\s*$",
    re.IGNORECASE,
)
_SIGNATURE_START = re.compile(
    r"^\s*(?:--\s*|—\s*|Best regards|Kind regards|Regards|Best|Cheers|Thanks|Thank you|"
    r"Sincerely|Trân trọng|Tran trong|Thân ái|Than ai|Cảm ơn|Cam on|Sent from my .+|"
    r"Gửi từ .+|Gui tu .+)[,.!]?\s*$",
    re.IGNORECASE,
)
_SPEAKER = re.compile(
    r"^\s*\[?(?P<speaker>agent|customer|caller|client|rep|representative|operator|staff|"
    r"tổng đài viên|tong dai vien|nhân viên|nhan vien|nv|khách hàng|khach hang|kh|khách|khach|"
    r"tư vấn viên|tu van vien|tvv)\]?\s*[:\-–]\s*",
    re.IGNORECASE,
)
_CUSTOMER_SPEAKERS = frozenset(
    {"customer", "caller", "client", "khách hàng", "khach hang", "kh", "khách", "khach"}
)
_MENTION = re.compile(r"(?<!\w)@\w+")
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_HASHTAG = re.compile(r"(?<!\w)#(\w+)")
_CAMEL = re.compile(r"(?<=[a-zà-ỹ])(?=[A-ZÀ-Ỹ])")
_STRETCH = re.compile(r"([^\W\d_])\1{2,}")
_SPACES = re.compile(r"[ \t]+")

# Teencode and abbreviations, applied to Vietnamese text only ("k" is "ok" in English).
_TEENCODE = {
    "ko": "không",
    "k": "không",
    "kh": "không",
    "hok": "không",
    "khg": "không",
    "kg": "không",
    "hong": "không",
    "dc": "được",
    "đc": "được",
    "dk": "được",
    "đk": "được",
    "sp": "sản phẩm",
    "nv": "nhân viên",
    "nvgh": "nhân viên giao hàng",
    "j": "gì",
    "vs": "với",
    "r": "rồi",
    "ntn": "như thế nào",
    "mn": "mọi người",
    "mng": "mọi người",
    "mik": "mình",
    "mk": "mình",
    "bn": "bao nhiêu",
    "qá": "quá",
    "wa": "quá",
    "cx": "cũng",
    "cg": "cũng",
    "trc": "trước",
    "tl": "trả lời",
    "sđt": "số điện thoại",
    "sdt": "số điện thoại",
    "dt": "điện thoại",
    "đt": "điện thoại",
    "tks": "cảm ơn",
    "thanks": "cảm ơn",
}
_TEENCODE_TOKEN = re.compile(
    r"(?<![\w])("
    + "|".join(sorted(map(re.escape, _TEENCODE), key=len, reverse=True))
    + r")(?![\w])",
    re.IGNORECASE,
)


def _base_letter(char: str) -> str:
    return unicodedata.normalize("NFD", char)[0].lower()


def unstretch(text: str) -> str:
    """Collapse letters stretched for emphasis: "tệ quáaaa" -> "tệ quá", "sooo" -> "so"."""
    text = _STRETCH.sub(r"\1", text)

    # "quáa" after collapsing: a plain vowel trailing the same vowel with a mark is a stretch too.
    def drop_echo(match: re.Match[str]) -> str:
        first, second = match.group(1), match.group(2)
        return first if _base_letter(first) == second.lower() and first != second else match.group()

    return re.sub(r"(\w)(\w)(?!\w)", drop_echo, text)


def expand_teencode(text: str) -> str:
    """Spell out common Vietnamese abbreviations and teencode."""
    return _TEENCODE_TOKEN.sub(lambda m: _TEENCODE[m.group(1).lower()], text)


def strip_email(text: str) -> str:
    """The new part of an email: quoted replies, forwarded headers and signatures removed."""
    kept: list[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith(">") or _QUOTE_HEADER.match(line):
            break
        if _SIGNATURE_START.match(line) and kept:
            break
        kept.append(line)
    body = "\n".join(kept).strip()
    return body or text.strip()


def split_turns(text: str) -> list[tuple[str, str]]:
    """A transcript as ``(speaker, words)`` turns; unlabelled lines continue the last turn."""
    turns: list[tuple[str, str]] = []
    for line in text.splitlines():
        match = _SPEAKER.match(line)
        if match:
            turns.append((match.group("speaker").lower(), line[match.end() :].strip()))
        elif turns:
            speaker, words = turns[-1]
            turns[-1] = (speaker, f"{words} {line.strip()}".strip())
        elif line.strip():
            turns.append(("unknown", line.strip()))
    return [(speaker, words) for speaker, words in turns if words]


def clean_social(text: str) -> str:
    """Mentions and links removed; hashtags kept as words ("#GiaoHangCham" -> "Giao Hang Cham")."""
    text = _URL.sub(" ", text)
    text = _MENTION.sub(" ", text)
    return _HASHTAG.sub(lambda m: _CAMEL.sub(" ", m.group(1)).replace("_", " "), text)


def _tidy(text: str, language: Language) -> str:
    text = unicodedata.normalize("NFC", text)
    text = unstretch(text)
    if language in ("vi", "mixed"):
        text = expand_teencode(text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


def normalize(text: str, channel: Channel, language: Language) -> NormalizedText:
    """Normalise one item's text for its channel and language."""
    if channel == "email":
        return _single(_tidy(strip_email(text), language))
    if channel == "social":
        return _single(_tidy(clean_social(text), language))
    if channel == "call_transcript":
        turns = split_turns(text)
        customer = [w for s, w in turns if s in _CUSTOMER_SPEAKERS]
        others = [w for s, w in turns if s not in _CUSTOMER_SPEAKERS]
        if customer and others:
            customer_text = _tidy(" ".join(customer), language)
            other_text = _tidy(" ".join(others), language)
            return NormalizedText(
                text=customer_text,
                segments=(
                    Segment(customer_text, CUSTOMER_WEIGHT),
                    Segment(other_text, round(1 - CUSTOMER_WEIGHT, 6)),
                ),
            )
        return _single(_tidy(" ".join(w for _, w in turns) or text, language))
    return _single(_tidy(text, language))


def _single(text: str) -> NormalizedText:
    return NormalizedText(text=text, segments=(Segment(text, 1.0),))


class NormalizeStep:
    """Component ``normalize``: the channel's normalisation, in the item's language."""

    name = "normalize"
    version = None

    def __call__(self, docs: list[Doc]) -> None:
        """Set each doc's normalised text."""
        for doc in docs:
            doc.text = normalize(doc.item.text, doc.item.channel, doc.language)
            doc.out["normalized_text"] = doc.text.text
