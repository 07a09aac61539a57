"""Who spoke when: resemblyzer's bundled voice encoder (a GE2E d-vector model, CPU torch)
embeds short stretches of speech, and agglomerative clustering groups them by voice.

The stretches are runs of words with no pause between them longer than `PAUSE`, cut at
Whisper's segment ends, so a turn change at a pause starts a new stretch; each word then
carries its stretch's speaker, and consecutive words of one speaker make a segment.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tera.speech import SAMPLE_RATE, Segment, Word

if TYPE_CHECKING:
    from resemblyzer import VoiceEncoder

PAUSE = 0.3  # seconds of silence between words that may be a change of speaker
# Clusters whose voices are closer than this (cosine distance, average linkage) are one
# person: a session expected to have two speakers may have had one.
SAME_VOICE = 0.2
MIN_SECONDS = 0.5  # shorter stretches are too short to tell; they take a neighbour's voice


@dataclass(frozen=True)
class LabelledSegment:
    start: float
    end: float
    text: str
    speaker: int  # 0, 1, ... in order of first appearance


@functools.cache
def voice_encoder() -> VoiceEncoder:
    import torch
    from resemblyzer import VoiceEncoder

    from tera.speech import cpu_threads, yield_cpu

    yield_cpu()
    torch.set_num_threads(cpu_threads())
    return VoiceEncoder(device="cpu", verbose=False)


def stretches(segments: Sequence[Segment]) -> list[list[Word]]:
    runs: list[list[Word]] = []
    for segment in segments:
        words = list(segment.words) or [Word(segment.start, segment.end, segment.text)]
        run: list[Word] = []
        for word in words:
            if run and word.start - run[-1].end > PAUSE:
                runs.append(run)
                run = []
            run.append(word)
        if run:
            runs.append(run)
    return runs


def _embed(audio: np.ndarray, start: float, end: float) -> np.ndarray:
    piece = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
    return voice_encoder().embed_utterance(piece.astype(np.float32))


def cluster(embeddings: np.ndarray, *, expected: int) -> list[int]:
    """Speaker numbers for L2-normalised embeddings, numbered by first appearance: at most
    `expected` voices, fewer when the voices left apart would be closer than SAME_VOICE."""
    if len(embeddings) == 1 or expected <= 1:
        return [0] * len(embeddings)
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(embeddings, method="average", metric="cosine")
    by_count = fcluster(tree, t=expected, criterion="maxclust")
    by_distance = fcluster(tree, t=SAME_VOICE, criterion="distance")
    raw = by_count if by_count.max() <= by_distance.max() else by_distance
    order: dict[int, int] = {}
    return [order.setdefault(int(label), len(order)) for label in raw]


def label(
    audio: np.ndarray, segments: Sequence[Segment], *, expected: int = 2
) -> list[LabelledSegment]:
    """Speaker-homogeneous segments of the transcript, with at most `expected` voices."""
    runs = stretches(segments)
    if not runs:
        return []
    long_enough = [i for i, run in enumerate(runs) if run[-1].end - run[0].start >= MIN_SECONDS]
    if not long_enough:
        long_enough = list(range(len(runs)))
    embeddings = np.stack([_embed(audio, runs[i][0].start, runs[i][-1].end) for i in long_enough])
    numbers = dict(zip(long_enough, cluster(embeddings, expected=expected), strict=True))
    speakers = [numbers.get(i, -1) for i in range(len(runs))]
    # A short stretch takes the voice of the nearest long stretch in time.
    for i, speaker in enumerate(speakers):
        if speaker == -1:
            middle = (runs[i][0].start + runs[i][-1].end) / 2
            nearest = min(
                long_enough,
                key=lambda j: min(abs(runs[j][0].start - middle), abs(runs[j][-1].end - middle)),
            )
            speakers[i] = numbers[nearest]

    labelled: list[LabelledSegment] = []
    for run, speaker in zip(runs, speakers, strict=True):
        text = _join(run)
        previous = labelled[-1] if labelled else None
        joins = previous and previous.speaker == speaker and run[0].start - previous.end <= 1.0
        if previous and joins and not previous.text.endswith((".", "?", "!")):
            labelled[-1] = LabelledSegment(
                previous.start, run[-1].end, f"{previous.text} {text}", speaker
            )
        else:
            labelled.append(LabelledSegment(run[0].start, run[-1].end, text, speaker))
    return labelled


def _join(words: Sequence[Word]) -> str:
    return " ".join(w.text for w in words if w.text).strip()
