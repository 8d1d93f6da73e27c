"""Keyword cues for what a few hundred labelled examples cannot teach a model reliably.

Severity and churn risk hinge on specific phrases: a threat to go to the press
or a regulator, legal action, a safety issue, money lost, repeated contact,
or a stated intention to leave. Cues are matched on text lower-cased and
stripped of diacritics, so they work on Vietnamese typed without marks too;
the few syllables that become ambiguous without marks ("kiện" sue, "kiên"
patient, both "kien") only count when typed with their marks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nlp.components.base import Doc
from nlp.text import strip_diacritics
from nlp.types import Severity

CUES_VERSION = "cues-2"


def _pattern(phrases: str, keep_marks: bool = False) -> re.Pattern[str]:
    clean = (p.strip() for p in phrases.split("|") if p.strip())
    alternatives = [p.lower() if keep_marks else strip_diacritics(p) for p in clean]
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, alternatives)) + r")(?!\w)")


_CRITICAL_MARKED = _pattern("kiện", keep_marks=True)
_HIGH_MARKED = _pattern("lừa|bị lừa", keep_marks=True)
_CRITICAL = _pattern(
    "khởi kiện|sẽ kiện|kiện ra tòa|luật sư|tòa án|công an|báo chí|lên báo|bộ công thương|"
    "cục quản lý|"
    "hội bảo vệ người tiêu dùng|ngộ độc|cháy nổ|phát nổ|bốc cháy|bị thương|nguy hiểm|"
    "lawyer|attorney|lawsuit|sue you|legal action|court|regulator|ftc|ombudsman|"
    "the press|journalist|go public|food poisoning|caught fire|exploded|injured|injury|unsafe|"
    "dangerous|hazard"
)
_HIGH = _pattern(
    "mất tiền|bị trừ tiền|lừa đảo|gian lận|trừ tiền hai lần|lần thứ ba|lần thứ 3|nhiều lần|"
    "gọi mấy lần|gọi nhiều lần|đã phản ánh|vẫn chưa|"
    "scam|fraud|stolen|charged twice|charged me twice|double charged|lost money|third time|"
    "3rd time|"
    "several times|multiple times|again and again|still not|still no|no one responded|escalate"
)
_CHURN = _pattern(
    "không mua nữa|ko mua nữa|không bao giờ mua|không quay lại|ko quay lại|chuyển sang bên khác|"
    "chuyển qua bên khác|chuyển sang hãng khác|hủy tài khoản|huỷ tài khoản|hủy dịch vụ|"
    "hủy gói|cạch mặt|tẩy chay|bye shop|"
    "cancel my account|cancel my subscription|cancelling my|canceling my|close my account|"
    "switching to|switch to another|moving to another|never buy|never order|never again|"
    "never coming back|won't be back|not coming back|lost a customer|last time i"
)


@dataclass(frozen=True)
class Cues:
    """What the keyword cues found in one text."""

    critical: bool
    high: bool
    churn_risk: bool


def find_cues(text: str) -> Cues:
    """Look for severity and churn cues in ``text`` (any language, marks or no marks)."""
    plain = strip_diacritics(text)
    return Cues(
        critical=bool(_CRITICAL.search(plain) or _CRITICAL_MARKED.search(text.lower())),
        high=bool(_HIGH.search(plain) or _HIGH_MARKED.search(text.lower())),
        churn_risk=bool(_CHURN.search(plain)),
    )


def severity(cues: Cues, complaint: bool, negative_probability: float) -> Severity:
    """Severity from the cues and the models: critical cues win; churn or money lost is high."""
    if cues.critical:
        return "critical"
    if cues.high or (cues.churn_risk and complaint):
        return "high"
    if complaint and negative_probability >= 0.8:
        return "medium"
    return "low"


CUE_FEATURES = ("critical", "high", "churn_risk")


def cue_features(cues: Sequence[Cues]) -> npt.NDArray[np.float32]:
    """``(n, 3)`` 0/1 features (critical, high, churn) that the churn and severity heads read
    beside the embedding: the phrase lists become evidence the models weigh, not the verdict."""
    return np.array(
        [[float(c.critical), float(c.high), float(c.churn_risk)] for c in cues], dtype=np.float32
    ).reshape(len(cues), len(CUE_FEATURES))


def with_cues(embeddings: npt.NDArray[np.float32], texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """The embeddings with the cue features of ``texts`` appended (what cue-aware heads read)."""
    return np.concatenate([embeddings, cue_features([find_cues(t) for t in texts])], axis=1)


class CuesStep:
    """Component ``cues``: severity and churn phrases in the normalised text."""

    name = "cues"
    version = CUES_VERSION

    def __call__(self, docs: list[Doc]) -> None:
        """Set each doc's cues."""
        for doc in docs:
            doc.cues = find_cues(doc.text.text if doc.text is not None else doc.item.text)
