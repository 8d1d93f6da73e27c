"""PII redaction on Vietnamese and English samples, including near-misses that must stay."""

from __future__ import annotations

import pytest

from nlp.components.pii import luhn_valid, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Gọi cho tôi số 0912 345 678 nhé", "Gọi cho tôi số [PHONE] nhé"),
        ("sdt 0912.345.678 hoac +84 912 345 678", "sdt [PHONE] hoac [PHONE]"),
        ("Call me on +1 415-555-0134 tomorrow", "Call me on [PHONE] tomorrow"),
        ("email: nguyen.van.a@gmail.com", "email: [EMAIL]"),
        ("Write to john_doe+shop@example.co.uk.", "Write to [EMAIL]."),
        ("thẻ 4111 1111 1111 1111 bị trừ tiền", "thẻ [CARD] bị trừ tiền"),
        ("card 5500-0000-0000-0004 charged twice", "card [CARD] charged twice"),
        ("CCCD của tôi là 079123456789", "CCCD của tôi là [NATIONAL_ID]"),
        ("so cmnd 025123456", "so cmnd [NATIONAL_ID]"),
        ("số tài khoản: 0123456789012 Vietcombank", "số tài khoản: [BANK_ACCOUNT] Vietcombank"),
        ("refund to account number 12345678901", "refund to account number [BANK_ACCOUNT]"),
        ("Giao đến số 12 đường Nguyễn Trãi, Quận 1", "Giao đến [ADDRESS], Quận 1"),
        ("Ship to 221 Baker Street, London", "Ship to [ADDRESS], London"),
    ],
)
def test_redacts_personal_data(text: str, expected: str) -> None:
    assert redact(text).text == expected


@pytest.mark.parametrize(
    "text",
    [
        "Mã đơn hàng 230415ABC123 giao chậm",
        "Order #1234567890123 arrived broken",
        "giá 1.250.000đ mà chất lượng kém",
        "It cost $1,299.99 and broke on 12/03/2024",
        "ngày 15/08/2024 mới nhận được",
        "mã vận đơn 0912345678901 chưa cập nhật",
        "tracking number 4111111111111112 never updates",
        "tôi đã gọi 1900 1234 ba lần",
        "order 84123456789 delayed",
        "số lượng 123456789 sản phẩm",
    ],
)
def test_leaves_near_misses_alone(text: str) -> None:
    result = redact(text)
    assert result.text == text
    assert result.redactions == ()


def test_reports_spans_of_the_original_text() -> None:
    text = "mail a@b.vn or call 0987654321"
    result = redact(text)
    assert [(r.kind, text[r.start : r.end]) for r in result.redactions] == [
        ("email", "a@b.vn"),
        ("phone", "0987654321"),
    ]


def test_kinds_can_be_chosen() -> None:
    text = "mail a@b.vn or call 0987654321"
    assert redact(text, kinds=["email"]).text == "mail [EMAIL] or call 0987654321"
    with pytest.raises(ValueError, match="unknown PII kinds"):
        redact(text, kinds=["shoe_size"])


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
