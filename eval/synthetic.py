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
