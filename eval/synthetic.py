"""A generator of varied, realistic-looking VI/EN feedback for benchmarks (not for accuracy).

Deterministic for a seed. The texts are composed from hand-written fragments, so
they carry no one's personal data and no licence.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

VI_OPENERS = ["", "Shop ơi, ", "Mình thấy ", "Thật sự là ", "Lần đầu mua, ", "Khách quen đây, "]
VI_BODIES = [
    "giao hàng quá chậm, đặt {n} ngày rồi vẫn chưa nhận được",
    "sản phẩm bị lỗi, màn hình có vết xước",
    "nhân viên tư vấn nhiệt tình, rất hài lòng",
    "giá hơi cao so với chất lượng",
    "đóng gói cẩn thận, hàng đẹp như hình",
    "gọi tổng đài {n} lần mà không ai nghe máy",
    "ứng dụng hay bị treo khi thanh toán",
    "đã yêu cầu hoàn tiền {n} tuần mà chưa thấy",
    "sp ok, ship nhanh, sẽ ủng hộ tiếp",
    "ko hài lòng, hàng ko giống mô tả",
    "phòng sạch sẽ, lễ tân thân thiện",
    "món ăn nguội, phục vụ chậm",
]
VI_CLOSERS = ["", ".", "!!!", " :(", " 👍", ", cảm ơn shop.", ", sẽ không mua nữa."]
EN_OPENERS = ["", "Honestly, ", "Second time ordering: ", "FYI, ", "Update: "]
EN_BODIES = [
    "delivery took {n} days longer than promised",
    "the product stopped working after a week",
    "support was quick and friendly, thank you",
    "way too expensive for what you get",
    "packaging was great and everything arrived intact",
    "I called {n} times and nobody picked up",
    "the app crashes every time I try to check out",
    "still waiting on my refund after {n} weeks",
    "great value, will definitely buy again",
    "the item looks nothing like the photos",
    "room was spotless and the staff were lovely",
    "food arrived cold and the order was wrong",
]
EN_CLOSERS = ["", ".", "!", " :(", " 😡", " Thanks.", " I'm cancelling my account."]
CHANNELS = ("review", "email", "social", "call_transcript", "survey")


def _sentence(rng: random.Random, vietnamese: bool) -> str:
    openers, bodies, closers = (
        (VI_OPENERS, VI_BODIES, VI_CLOSERS) if vietnamese else (EN_OPENERS, EN_BODIES, EN_CLOSERS)
    )
    body = rng.choice(bodies).format(n=rng.randint(2, 9))
    return f"{rng.choice(openers)}{body}{rng.choice(closers)}".strip()


def feedback_texts(count: int, sentences: int = 1, seed: int = 0) -> Iterator[str]:
    """``count`` texts of about ``sentences`` sentences each; about half Vietnamese."""
    rng = random.Random(seed)
    for _ in range(count):
        vietnamese = rng.random() < 0.5
        parts = [_sentence(rng, vietnamese) for _ in range(max(1, sentences))]
        text = " ".join(p[0].upper() + p[1:] for p in parts)
        yield text


def feedback_items(count: int, sentences: int = 1, seed: int = 0) -> Iterator[dict[str, object]]:
    """API items (text, channel, external_id) built on :func:`feedback_texts`."""
    rng = random.Random(seed + 1)
    for n, text in enumerate(feedback_texts(count, sentences, seed)):
        yield {"text": text, "channel": rng.choice(CHANNELS), "external_id": f"bench-{seed}-{n}"}


# --------------------------------------------------------------------------- topic benchmark
# Subjects customers write about, each with Vietnamese and English sentence templates.
# Slots ({n}, {p}, {d}) are filled from the lists below, so one template yields many
# distinct sentences; a feedback item strings one to three sentences together.

PRODUCTS_VI = [
    "áo khoác",
    "tai nghe",
    "nồi chiên",
    "điện thoại",
    "giày",
    "kem chống nắng",
    "máy lọc nước",
    "balo",
    "sạc dự phòng",
    "bàn phím",
]
PRODUCTS_EN = [
    "jacket",
    "headphones",
    "air fryer",
    "phone",
    "shoes",
    "sunscreen",
    "water filter",
    "backpack",
    "power bank",
    "keyboard",
]
DAYS_VI = ["hôm qua", "tuần trước", "sáng nay", "hôm thứ hai", "cuối tuần"]
DAYS_EN = ["yesterday", "last week", "this morning", "on Monday", "at the weekend"]

TOPIC_SUBJECTS: dict[str, tuple[list[str], list[str]]] = {
    "late_delivery": (
        [
            "giao hàng chậm quá, đặt {n} ngày rồi chưa nhận được {p}",
            "đơn {p} giao trễ {n} ngày so với hẹn",
            "shipper hẹn {d} mà giờ vẫn chưa giao",
            "vận chuyển quá lâu, {n} ngày mới tới",
        ],
        [
            "my {p} arrived {n} days late",
            "delivery took {n} days longer than promised",
            "the courier said {d} but the {p} never came",
            "shipping is painfully slow, {n} days",
        ],
    ),
    "damaged_parcel": (
        [
            "hộp bị móp, {p} bên trong bị vỡ",
            "nhận {p} thì thấy trầy xước hết",
            "đóng gói sơ sài nên {p} bị hư khi vận chuyển",
        ],
        [
            "the box was crushed and the {p} inside was broken",
            "my {p} arrived scratched",
            "poor packaging, the {p} was damaged in transit",
        ],
    ),
    "refund": (
        [
            "yêu cầu hoàn tiền {n} tuần rồi mà chưa nhận được",
            "trả {p} {d} nhưng chưa được hoàn tiền",
            "tiền hoàn vẫn chưa về tài khoản sau {n} ngày",
        ],
        [
            "still waiting for my refund after {n} weeks",
            "returned the {p} {d}, no refund yet",
            "the refund has not reached my account after {n} days",
        ],
    ),
    "double_charge": (
        [
            "bị trừ tiền {n} lần cho một đơn",
            "thẻ bị trừ tiền hai lần khi mua {p}",
            "thanh toán một lần mà ngân hàng báo trừ {n} lần",
        ],
        [
            "I was charged {n} times for one order",
            "my card was billed twice for the {p}",
            "paid once but the bank shows {n} charges",
        ],
    ),
    "app_crash": (
        [
            "ứng dụng bị văng khi thanh toán",
            "app treo ở bước đặt {p}, thử {n} lần vẫn lỗi",
            "cập nhật app {d} xong là không mở được",
        ],
        [
            "the app crashes at checkout",
            "the app froze while ordering the {p}, tried {n} times",
            "since the update {d} the app will not open",
        ],
    ),
    "login": (
        [
            "không đăng nhập được tài khoản",
            "quên mật khẩu mà không nhận được mã OTP",
            "bị khóa tài khoản sau {n} lần nhập sai",
        ],
        [
            "I cannot log in to my account",
            "the password reset code never arrives",
            "my account got locked after {n} attempts",
        ],
    ),
    "friendly_staff": (
        [
            "nhân viên tư vấn nhiệt tình, dễ thương",
            "bạn nhân viên giải thích kỹ về {p}",
            "nhân viên cửa hàng thân thiện và chu đáo",
        ],
        [
            "the staff were friendly and helpful",
            "the assistant explained the {p} patiently",
            "lovely, attentive shop staff",
        ],
    ),
    "rude_staff": (
        [
            "nhân viên thái độ lồi lõm, nói chuyện cộc cằn",
            "hỏi về {p} mà nhân viên trả lời nhát gừng",
            "bị nhân viên quát {d}, rất bực mình",
        ],
        [
            "the staff member was rude to me",
            "asked about the {p} and got a curt answer",
            "an employee shouted at me {d}",
        ],
    ),
    "hotline": (
        [
            "gọi tổng đài {n} lần không ai nghe máy",
            "chờ tổng đài {n} phút mới gặp được người",
            "nhắn tin cho shop từ {d} mà chưa ai trả lời",
        ],
        [
            "called the hotline {n} times and nobody answered",
            "waited {n} minutes on hold",
            "messaged support {d} and still no reply",
        ],
    ),
    "quality_good": (
        [
            "{p} chất lượng tốt, đáng tiền",
            "dùng {p} được {n} tuần rồi, rất ưng",
            "hàng đẹp như hình, {p} chắc chắn",
        ],
        [
            "the {p} is great quality for the price",
            "been using the {p} for {n} weeks, love it",
            "exactly as pictured, the {p} feels solid",
        ],
    ),
    "quality_bad": (
        [
            "{p} dùng {n} ngày đã hỏng",
            "chất lượng {p} kém, không như quảng cáo",
            "{p} bị lỗi ngay khi mở hộp",
        ],
        [
            "the {p} broke after {n} days",
            "the {p} is cheaply made, not as advertised",
            "the {p} was defective out of the box",
        ],
    ),
    "price": (
        [
            "giá {p} đắt hơn chỗ khác nhiều",
            "{p} tăng giá liên tục, không hợp lý",
            "phí ship cao hơn cả tiền hàng",
        ],
        [
            "the {p} costs far more than elsewhere",
            "prices keep going up, not fair",
            "the shipping fee was higher than the item",
        ],
    ),
    "wrong_item": (
        [
            "đặt {p} màu đen mà giao màu trắng",
            "giao sai {p}, không đúng mẫu đã đặt",
            "thiếu {n} món trong đơn hàng",
        ],
        [
            "ordered a black {p} and got a white one",
            "received the wrong {p} model",
            "{n} items were missing from my order",
        ],
    ),
    "promotion": (
        [
            "mã giảm giá không áp dụng được",
            "chương trình khuyến mãi {d} bị lỗi, không được giảm",
            "voucher {n}% hết hạn mà không báo trước",
        ],
        [
            "the discount code does not work",
            "the sale {d} did not apply at checkout",
            "my {n}% voucher expired without notice",
        ],
    ),
}
SUBJECT_NAMES = tuple(TOPIC_SUBJECTS)


def _fill(template: str, rng: random.Random, vietnamese: bool) -> str:
    products, days = (PRODUCTS_VI, DAYS_VI) if vietnamese else (PRODUCTS_EN, DAYS_EN)
    return template.format(n=rng.randint(2, 9), p=rng.choice(products), d=rng.choice(days))


def topic_sentence_pool(per_template: int = 6, seed: int = 0) -> list[tuple[str, str, str]]:
    """Distinct (sentence, subject, language) triples: every template filled a few ways.

    Vietnamese sentences also appear without diacritics, as people type on phones.
    """
    from nlp.text import strip_diacritics

    rng = random.Random(seed)
    seen: set[str] = set()
    pool: list[tuple[str, str, str]] = []
    for subject, (vi, en) in TOPIC_SUBJECTS.items():
        for vietnamese, templates in ((True, vi), (False, en)):
            for template in templates:
                for k in range(per_template):
                    sentence = _fill(template, rng, vietnamese)
                    if vietnamese and k % 3 == 2:
                        sentence = strip_diacritics(sentence)
                    if sentence not in seen:
                        seen.add(sentence)
                        pool.append((sentence, subject, "vi" if vietnamese else "en"))
    return pool


def topic_documents(
    count: int, pool: list[tuple[str, str, str]], seed: int = 0
) -> Iterator[tuple[list[int], str]]:
    """``count`` feedback items as (indexes of their pool sentences, subject).

    Each item has one to three sentences in one language: mostly about one
    subject, sometimes with a second subject mixed in, as real reviews do.
    """
    rng = random.Random(seed)
    by_key: dict[tuple[str, str], list[int]] = {}
    for index, (_s, subject, language) in enumerate(pool):
        by_key.setdefault((subject, language), []).append(index)
    # Some subjects are far more common than others (Zipf-like), as in real feedback.
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(SUBJECT_NAMES))]
    for _ in range(count):
        language = "vi" if rng.random() < 0.55 else "en"
        subject = rng.choices(SUBJECT_NAMES, weights)[0]
        length = rng.choices([1, 2, 3], [0.45, 0.4, 0.15])[0]
        picks = [rng.choice(by_key[(subject, language)])]
        for _ in range(length - 1):
            other = subject if rng.random() < 0.7 else rng.choices(SUBJECT_NAMES, weights)[0]
            picks.append(rng.choice(by_key[(other, language)]))
        yield picks, subject


def document_text(picks: list[int], pool: list[tuple[str, str, str]]) -> str:
    """The text of an item made of pool sentences."""
    parts = [pool[i][0] for i in picks]
    return ". ".join(p[0].upper() + p[1:] for p in parts) + "."


def topic_feedback_items(count: int, seed: int = 0, weeks: int = 8) -> Iterator[dict[str, object]]:
    """API items from the topic generator, spread over the last ``weeks`` weeks."""
    from datetime import UTC, datetime, timedelta

    pool = topic_sentence_pool(per_template=40, seed=seed)
    rng = random.Random(seed + 2)
    now = datetime.now(UTC)
    for n, (picks, _subject) in enumerate(topic_documents(count, pool, seed)):
        when = now - timedelta(seconds=rng.uniform(0, weeks * 7 * 86400))
        yield {
            "text": document_text(picks, pool),
            "channel": rng.choice(CHANNELS),
            "external_id": f"sample-{seed}-{n}",
            "occurred_at": when.isoformat(),
        }


if __name__ == "__main__":
    # A sample file to try the dashboard with: python -m eval.synthetic 2000 > sample.jsonl
    import json
    import sys

    for item in topic_feedback_items(int(sys.argv[1]) if len(sys.argv) > 1 else 1000):
        print(json.dumps(item, ensure_ascii=False))
