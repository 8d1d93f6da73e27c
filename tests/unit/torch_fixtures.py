"""A tiny random BERT and an XLM-R style tokenizer, written with ``save_pretrained``.

Built from our own tokenizer builder (nlp.encoders.e5_tokenizer) over a small vocabulary,
so the loading code the service uses runs unchanged on a model of a few kB.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nlp.encoders.e5_format import E5Vocab

WORDS = (
    "query : giao hàng chậm quá shop ơi delivery was late great product love it "
    "sản phẩm tốt tệ bad good refund hoàn tiền app crash nhân viên staff rude"
).split()


def tiny_vocab() -> E5Vocab:
    """Specials, single characters and a few whole words (with SentencePiece-like scores)."""
    pieces = ["<s>", "<pad>", "</s>", "<unk>"]
    scores = [0.0, 0.0, 0.0, 0.0]
    chars = sorted({c for w in WORDS for c in w} | set("abcdefghijklmnopqrstuvwxyz.,!?:"))
    for c in chars:
        pieces += [c, "\u2581" + c]
        scores += [-8.0, -7.5]
    for w in dict.fromkeys(WORDS):
        if "\u2581" + w not in pieces:
            pieces.append("\u2581" + w)
            scores.append(-3.0 - 0.01 * len(pieces))
    pieces.append("\u2581")
    scores.append(-9.0)
    pieces.append("<mask>")
    scores.append(0.0)
    return E5Vocab(
        pieces=pieces,
        scores=np.array(scores, dtype=np.float32),
        bos=0,
        eos=2,
        pad=1,
        unk=3,
        norm_map={0x9: (0x20,), 0xA: (0x20,), 0x7: (), 0xFF21: (0x41,)},
    )


def write_tiny_model(folder: Path, max_positions: int = 64, meta: bool = True) -> Path:
    """A random 2-layer BERT (hidden 32) and its tokenizer in ``folder``."""
    import torch
    from transformers import BertConfig, BertModel

    from nlp.encoders.e5_tokenizer import save_tokenizer

    vocab = tiny_vocab()
    folder.mkdir(parents=True, exist_ok=True)
    save_tokenizer(vocab, folder, max_positions)
    config = BertConfig(
        vocab_size=len(vocab.pieces),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_positions,
        pad_token_id=vocab.pad,
    )
    torch.manual_seed(0)
    BertModel(config, add_pooling_layer=False).save_pretrained(str(folder))
    if meta:
        (folder / "langnghe.json").write_text(
            json.dumps({"name": "tiny-bert", "query_prefix": "query: "}), encoding="utf-8"
        )
    return folder
