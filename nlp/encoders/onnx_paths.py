"""Where an exported ONNX graph lives inside a checkpoint folder (no onnxruntime needed)."""

from __future__ import annotations

from pathlib import Path

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"


def fp32_graph(model: Path) -> Path:
    """The float32 graph of ``model``."""
    return model / ONNX_DIR / FP32_FILE


def int8_graph(model: Path) -> Path:
    """The int8-weight graph of ``model``."""
    return model / ONNX_DIR / INT8_FILE
