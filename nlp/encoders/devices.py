"""Which device and dtype a torch model runs on; a pure function, so tests cover CUDA paths.

``auto`` takes CUDA when torch sees a GPU, else the CPU. On CUDA the dtype is
bfloat16 where the GPU supports it (Ampere and later: fp32's range, no overflow
in long sums) and float16 otherwise; on the CPU float32, since half precision
there is slower than float32 on most CPUs and loses accuracy for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DeviceSetting = Literal["auto", "cpu", "cuda"]
DtypeSetting = Literal["auto", "float32", "float16", "bfloat16"]


@dataclass(frozen=True)
class Placement:
    """Where a model runs: ``device`` (``cpu`` or ``cuda``) and ``dtype`` (a torch dtype name)."""

    device: str
    dtype: str


def choose_placement(
    device: DeviceSetting,
    dtype: DtypeSetting,
    cuda_available: bool,
    bf16_supported: bool,
) -> Placement:
    """The placement for these settings on a machine with or without CUDA."""
    if device == "cuda" and not cuda_available:
        raise RuntimeError("LANGNGHE_DEVICE=cuda but torch sees no CUDA device")
    target = "cuda" if device == "cuda" or (device == "auto" and cuda_available) else "cpu"
    if dtype == "auto":
        if target == "cpu":
            return Placement("cpu", "float32")
        return Placement("cuda", "bfloat16" if bf16_supported else "float16")
    if target == "cpu" and dtype == "float16":
        raise ValueError("float16 on the CPU is unsupported for inference here; use float32")
    if target == "cuda" and dtype == "bfloat16" and not bf16_supported:
        raise ValueError("this GPU does not support bfloat16; use float16 or auto")
    return Placement(target, dtype)


def detect_placement(device: DeviceSetting = "auto", dtype: DtypeSetting = "auto") -> Placement:
    """:func:`choose_placement` for the machine this runs on (imports torch)."""
    import torch

    cuda = torch.cuda.is_available()
    bf16 = bool(cuda and torch.cuda.is_bf16_supported())
    return choose_placement(device, dtype, cuda, bf16)
