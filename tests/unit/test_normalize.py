"""Channel normalisation: emails, call transcripts, social posts, teencode."""

from __future__ import annotations

import pytest

from nlp.components.normalize import CUSTOMER_WEIGHT, expand_teencode, normalize, unstretch


def test_email_drops_quoted_reply_and_signature() -> None:
    email = (
        "The parcel never came.\nPlease help.\n\nBest regards,\nJohn Smith\n\n"
        "On Mon, Jan 1, 2024 Support <s@x.com> wrote:\n> We shipped it yesterday"
    )
    assert normalize(email, "email", "en").text == "The parcel never came.\nPlease help."


def test_vietnamese_email_reply_header() -> None:
    email = "Tôi chưa nhận được hoàn tiền.\nTrân trọng,\nLan\nVào 10/5 CSKH đã viết:\n> Đã xử lý"
    assert normalize(email, "email", "vi").text == "Tôi chưa nhận được hoàn tiền."


def test_transcript_weights_customer_turns() -> None:
    transcript = (
        "Agent: Hello, how can I help?\nCustomer: My order is late again.\n"
        "I am angry.\nAgent: Sorry about that"
    )
    result = normalize(transcript, "call_transcript", "en")
    assert result.text == "My order is late again. I am angry."
    assert [s.weight for s in result.segments] == pytest.approx(
        [CUSTOMER_WEIGHT, 1 - CUSTOMER_WEIGHT]
    )
    assert result.segments[1].text == "Hello, how can I help? Sorry about that"


def test_transcript_without_speakers_is_kept_whole() -> None:
    result = normalize("just one line from a voicemail", "call_transcript", "en")
    assert result.text == "just one line from a voicemail"


def test_social_mentions_links_and_hashtags() -> None:
    post = "@ShopX #GiaoHangCham lần thứ 3 rồi 😡 https://t.co/abc"
    assert normalize(post, "social", "vi").text == "Giao Hang Cham lần thứ 3 rồi 😡"


def test_teencode_only_for_vietnamese() -> None:
    assert expand_teencode("sp ko dc như hình") == "sản phẩm không được như hình"
    assert normalize("k thanks, r u ok", "review", "en").text == "k thanks, r u ok"


def test_unstretch_keeps_numbers_and_real_doubles() -> None:
    assert unstretch("tệ quáaaa") == "tệ quá"
    assert unstretch("sooo good") == "so good"
    assert unstretch("giá 1000000đ, see you") == "giá 1000000đ, see you"
