"""Language identification for Vietnamese and English feedback.

Statistical identifiers (py3langid) are trained on edited text and fail on
Vietnamese typed without diacritics, which is how much feedback arrives
("san pham tot nhung ship lau" comes back as Tagalog). So the decision is made
in three steps: Vietnamese-only letters decide at once; otherwise a lexicon of
frequent unaccented Vietnamese syllables and teencode is weighed against
English function words; only text neither lexicon recognises goes to py3langid.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import get_args

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from nlp.components.base import Doc
from nlp.text import strip_diacritics, words
from nlp.types import FeedbackText, Language

_KNOWN: tuple[str, ...] = get_args(Language)

# Letters only Vietnamese uses among the languages we meet; é, à, ô and the like are
# left out because French and Portuguese share them.
_VI_LETTERS = re.compile(
    r"[ăđơưảạằẳẵắặầẩẫấậẻẽẹềểễếệỉĩịỏọồổỗốộờởỡớợủũụừửữứựỳỷỹỵ]",
    re.IGNORECASE,
)

# Frequent Vietnamese syllables and teencode as typed without marks; chosen to be rare as
# English words (no "an", "to", "me", "do", "ban" ...).
_VI_SYLLABLES = frozenset(
    """
    khong ko k hok hong kg khg dc duoc dk roi r cua la nhung nhu nhieu qua lam cho mua
    hang giao tot te nay thi voi vs minh toi em anh chi ban shop sp nv sao gi j bao lau
    chua chat luong gia tien dich vu nhan vien goi dien thoai tong dai hoan tra doi ve
    bi tui mik mk cung con nua het moi biet nhe nha nhaa oi ah uh uk luon rat hoi kem
    xau dep ngon thich chan buc minh nguoi den di lai ngay hom qua tuan thang nam dat re
    cham nhanh dung sai hu hong loi mat da dang se duoc trong ngoai tren duoi sau truoc
    dau ma vi nen hay them bot phai nhan gui xin cam on cmt fb trang web ung dung ship
    """.split()
)

_EN_WORDS = frozenset(
    """
    the a an and or but is are was were be been have has had do does did not no my your
    our their this that these those it its i you we they he she to of in on at for with
    from by as if so very too just what when where why how can could would should will
    there here all any some more most than then after before again never always because
    about good great bad awful terrible love hate excellent poor slow fast price service
    delivery order refund thanks thank please ok okay nice worst best product app
    support
    """.split()
)

_SUPPORTED: tuple[Language, ...] = ("vi", "en")


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    # A private instance: set_languages on the module-level identifier would leak to other users.
    return LanguageIdentifier.from_model_file(MODEL_FILE)


def detect_language(text: str) -> Language:
    """``vi``, ``en``, ``mixed`` (substantial Vietnamese and English) or ``other``."""
    tokens = words(text)
    if not tokens:
        return "other"
    has_vi_letters = bool(_VI_LETTERS.search(text))
    plain = [strip_diacritics(t) for t in tokens]
    vi_hits = sum(1 for t in plain if t in _VI_SYLLABLES)
    en_hits = sum(1 for t in tokens if t in _EN_WORDS)
    vi_share = vi_hits / len(tokens)
    en_share = en_hits / len(tokens)
    # Code-mixed feedback keeps a real run of English function words beside the Vietnamese.
    english_run = en_hits >= 3 and en_share >= 0.2
    if has_vi_letters or vi_share >= 0.3:
        return "mixed" if english_run else "vi"
    if vi_hits >= 2 and vi_share >= 0.2 and english_run:
        return "mixed"
    if en_share >= 0.15 and (en_hits >= 2 or len(tokens) <= 2):
        return "en"
    if vi_share >= 0.15 and vi_hits >= 2:
        return "vi"
    language, _ = _identifier().classify(text)
    return language if language in _SUPPORTED else "other"  # type: ignore[return-value]


def item_language(item: FeedbackText) -> Language:
    """The item's language hint when it names a known language, else the detected one."""
    hint = item.language_hint
    return hint if hint in _KNOWN else detect_language(item.text)  # type: ignore[return-value]


class LanguageStep:
    """Component ``language``: the hint when it names a known language, else detection."""

    name = "language"
    version = None

    def __call__(self, docs: list[Doc]) -> None:
        """Set each doc's language."""
        for doc in docs:
            doc.language = item_language(doc.item)
            doc.out["language"] = doc.language
