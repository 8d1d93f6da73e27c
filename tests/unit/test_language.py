"""Language identification, including Vietnamese typed without diacritics."""

from __future__ import annotations

import pytest

from nlp.components.language import detect_language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Sản phẩm tốt, giao hàng nhanh", "vi"),
        ("san pham tot nhung ship lau", "vi"),
        ("giao hang qua cham, goi tong dai ko ai nghe", "vi"),
        ("sp dc, nv nhiệt tình", "vi"),
        ("The delivery was late and the box was damaged", "en"),
        ("Awful", "en"),
        ("ship lâu quá, and the customer service is not helpful at all", "mixed"),
        ("Le service était horrible et la livraison lente", "other"),
        ("Das Essen war sehr gut und der Service freundlich", "other"),
        ("👍👍", "other"),
        ("", "other"),
    ],
)
def test_detects_language(text: str, language: str) -> None:
    assert detect_language(text) == language
