"""Restoring the marks of Vietnamese typed without them: the counts, the Viterbi choice in
context, what is left alone, the component and the training that reads through it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from models import load_manifest
from nlp.components.base import Context, Doc
from nlp.components.marks import MarkModel, MarksStep, restore_marks, typed_without_marks
from nlp.components.normalize import normalize
from nlp.pipeline import prepare
from nlp.text import strip_diacritics
from nlp.training.corpora import in_dev_split
from nlp.training.marks import accented, fit_marks, main
from nlp.types import FeedbackText

# "ban" is "bạn" (friend, you) after "nhân viên" or before "bè", and "bàn" (table) after
# "đặt" or before "ăn": only the neighbouring word tells them apart.
ACCENTED = [
    "Nhân viên bạn rất thân thiện.",
    "Bạn bè giới thiệu quán này.",
    "Mình đặt bàn trước, bàn ăn sạch sẽ.",
    "Đặt bàn qua điện thoại rất nhanh.",
    "Giao hàng chậm, nhân viên không trả lời.",
    "Giao hàng nhanh, đóng gói cẩn thận.",
] * 2


@pytest.fixture(scope="module")
def model() -> MarkModel:
    return fit_marks(ACCENTED, "marks-test")


def test_counts_spellings_and_adjacent_pairs(model: MarkModel) -> None:
    assert "bạn" in model.forms and "bàn" in model.forms
    ids = {f: i for i, f in enumerate(model.forms)}
    assert model.counts[ids["bàn"]] == 6
    size = len(model.forms)
    assert model.pairs[ids["đặt"] * size + ids["bàn"]] == 4
    # Punctuation ends a run: "nhanh," and "đóng" are not a pair.
    assert ids["nhanh"] * size + ids["đóng"] not in model.pairs


def test_context_picks_the_spelling(model: MarkModel) -> None:
    assert model.restore("dat ban truoc") == "đặt bàn trước"
    assert model.restore("nhan vien ban than thien") == "nhân viên bạn thân thiện"
    assert model.restore("giao hang cham") == "giao hàng chậm"


def test_keeps_case_punctuation_digits_and_unknown_words(model: MarkModel) -> None:
    assert model.restore("Giao Hang CHAM, order 2 lan!") == "Giao Hàng CHẬM, order 2 lan!"
    assert model.restore("") == ""
    assert model.restore("... 123 ...") == "... 123 ..."


def test_marked_words_are_kept_as_written(model: MarkModel) -> None:
    # A word typed with marks is the customer's own spelling, even where the model prefers another.
    assert model.restore("đặt bạn truoc") == "đặt bạn trước"


def test_save_and_load_give_the_same_model(model: MarkModel, tmp_path: Path) -> None:
    model.save(tmp_path / "marks.npz")
    loaded = MarkModel.load(tmp_path / "marks.npz")
    assert loaded.forms == model.forms and loaded.version == "marks-test"
    assert np.array_equal(loaded.counts, model.counts) and loaded.pairs == model.pairs
    assert loaded.restore("dat ban an") == model.restore("dat ban an")


def test_linear_time_on_long_adversarial_text(model: MarkModel) -> None:
    def seconds(text: str) -> float:
        best = float("inf")
        for _ in range(3):  # the fastest of three: other work on the machine only adds time
            start = time.perf_counter()
            model.restore(text)
            best = min(best, time.perf_counter() - start)
        return best

    # One run of known ambiguous words with no punctuation, and a run of unknown ones.
    small, large = "ban dat " * 2_000, "ban dat " * 16_000
    ratio = seconds(large) / max(seconds(small), 1e-4)
    assert ratio < 16, f"8x the text took {ratio:.1f}x the time"
    assert seconds("x" * 200_000 + " ban") < 1.0


def test_only_unaccented_vietnamese_segments_change(model: MarkModel) -> None:
    assert typed_without_marks("giao hang cham") and not typed_without_marks("giao hàng chậm")
    assert not typed_without_marks("123 !!!")
    plain = normalize("giao hang cham", "review", "vi")
    restored = restore_marks(plain, "vi", model)
    assert restored.segments[0].text == "giao hàng chậm"
    assert restored.text == "giao hang cham"  # what is stored stays as typed
    # An accented text keeps its unmarked words ("ban" here is the customer's choice).
    written = normalize("Giao hàng chậm, ban đầu tốt", "review", "vi")
    assert restore_marks(written, "vi", model) == written
    english = normalize("dat ban", "review", "en")
    assert restore_marks(english, "en", model) == english


def test_component_restores_with_a_model_and_is_a_no_op_without(
    model: MarkModel, tmp_path: Path
) -> None:
    model.save(tmp_path / "marks" / "marks.npz")
    entry = {"version": model.version, "path": "marks/marks.npz"}

    def run(manifest: dict[str, object]) -> tuple[str, str | None]:
        step = MarksStep(Context(encoder=None, manifest=manifest, models_root=tmp_path))  # type: ignore[arg-type]
        doc = Doc(FeedbackText("dat ban truoc"), language="vi")
        doc.text = normalize(doc.item.text, "review", "vi")
        step([doc])
        return doc.text.segments[0].text, step.version

    assert run({"marks": entry}) == ("đặt bàn trước", "marks-test")
    assert run({}) == ("dat ban truoc", None)


def test_prepare_restores_only_when_given_a_model(model: MarkModel) -> None:
    item = FeedbackText("giao hang cham", language_hint="vi")
    assert prepare(item)[1].segments[0].text == "giao hang cham"
    assert prepare(item, model)[1].segments[0].text == "giao hàng chậm"


def test_training_reads_only_accented_rows_and_names_the_model(tmp_path: Path) -> None:
    rows = [
        {"id": f"r{i}", "text": text, "lang": "vi", "sentiment": "positive"}
        for i, text in enumerate([*ACCENTED, "giao hang cham qua"])
    ]
    data = tmp_path / "data" / "tiny-vi"
    data.mkdir(parents=True)
    (data / "train.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    (data / "dev.jsonl").write_text(json.dumps(rows[0], ensure_ascii=False))
    out = tmp_path / "models"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"schema": 1, "encoder": "x", "heads": {}}))
    assert main(["--data", str(tmp_path / "data"), "--out", str(out)]) == 0
    entry = load_manifest(out)["marks"]
    assert entry["path"] == "marks/marks.npz" and entry["version"].startswith("marks-")
    loaded = MarkModel.load(out / entry["path"])
    # The unaccented row was not counted: "cham" is only ever "chậm".
    assert "cham" not in loaded.forms and "chậm" in loaded.forms
    # Rows r0 and r6, the only ones with "thiện", fall in the hashed dev split: never counted.
    assert in_dev_split("r0") and in_dev_split("r6") and "thiện" not in loaded.forms
    assert accented(ACCENTED[0]) and not accented(strip_diacritics(ACCENTED[0]))


def test_training_needs_a_manifest(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path), "--out", str(tmp_path)])


def test_trained_heads_name_the_mark_model_they_read_through(trained_dir: Path) -> None:
    entry = load_manifest(trained_dir)["marks"]
    assert entry == load_manifest()["marks"]
    assert (trained_dir / entry["path"]).is_file()
