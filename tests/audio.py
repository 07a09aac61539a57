"""Speech made on the spot with espeak-ng, for the transcription tests, the browser test
and the benchmark: a scripted dialogue in two voices, with the truth about who spoke when."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAMPLE_RATE = 16_000
# Two voices that differ as two people do: a low British male and a high American female
# voice (of the pairs measured, resemblyzer tells these apart with the widest margin).
VOICES = {"therapist": ("en-gb-x-rp+m7", 20), "patient": ("en-us+f5", 90)}
PAUSE_SECONDS = 0.7

DIALOGUE = [
    ("therapist", "Good afternoon. How have you been sleeping since our last session?"),
    ("patient", "Not very well. I wake up at three in the morning and my mind starts racing."),
    ("therapist", "What do you notice yourself thinking about when that happens?"),
    ("patient", "Mostly work. My manager changed the deadlines again and I feel behind."),
    ("therapist", "That sounds exhausting. Did the breathing exercise help at all?"),
    ("patient", "A little. On Tuesday I did it twice and I fell asleep again quickly."),
    ("therapist", "That is real progress. Let us keep the exercise and add a short walk."),
    ("patient", "I can try walking after lunch. It might clear my head before meetings."),
]


@dataclass(frozen=True)
class Turn:
    speaker: str
    text: str
    start: float
    end: float


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None and shutil.which("sox") is not None


def speak(text: str, voice: str, pitch: int, out: Path, *, words_per_minute: int = 150) -> None:
    """One utterance as 16 kHz mono 16-bit WAV."""
    raw = out.with_suffix(".raw.wav")
    subprocess.run(
        ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(words_per_minute), "-w", raw, text],
        check=True,
        capture_output=True,
    )
    subprocess.run(["sox", raw, "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", out], check=True)
    raw.unlink()


def wav_bytes(samples: Any) -> bytes:
    """Float samples at SAMPLE_RATE as 16-bit mono WAV bytes (a piece of a recording)."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def dialogue_wav(
    folder: Path,
    *,
    lines: list[tuple[str, str]] | None = None,
    repeat: int = 1,
    voices: dict[str, tuple[str, int]] | None = None,
) -> tuple[Path, list[Turn]]:
    """The dialogue spoken turn by turn with a pause between turns; returns the WAV and
    when each turn starts and ends in it."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = (lines or DIALOGUE) * repeat
    parts: list[Path] = []
    turns: list[Turn] = []
    silence = folder / "pause.wav"
    subprocess.run(
        [
            "sox",
            "-n",
            "-r",
            str(SAMPLE_RATE),
            "-c",
            "1",
            "-b",
            "16",
            silence,
            "trim",
            "0",
            str(PAUSE_SECONDS),
        ],
        check=True,
    )
    at = 0.0
    for i, (speaker, text) in enumerate(lines):
        voice, pitch = (voices or VOICES)[speaker]
        part = folder / f"turn-{i:03d}.wav"
        speak(text, voice, pitch, part)
        seconds = wav_seconds(part)
        turns.append(Turn(speaker, text, at, at + seconds))
        parts.extend([part, silence])
        at += seconds + PAUSE_SECONDS
    out = folder / "dialogue.wav"
    subprocess.run(["sox", *parts, out], check=True)
    return out, turns


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("’", "'"))


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over words, divided by the reference's length."""
    ref, hyp = words(reference), words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / max(len(ref), 1)


@dataclass(frozen=True)
class LabelScore:
    """How well speaker labels match the script, sampled every 10 ms of the true turns,
    under the mapping of cluster numbers to speakers that gets the most right."""

    right: float  # share of the turns' time labelled right; a moment between two segments
    #               (a pause between words) takes the label of the nearest segment
    covered: float  # share of the turns' time inside some labelled segment
    right_where_covered: float  # share of the covered time labelled right
    clusters: int


def label_score(turns: Sequence[Turn], labelled: Sequence[Any], step: float = 0.01) -> LabelScore:
    """`labelled`: segments with start, end and speaker (tera.speakers.LabelledSegment)."""
    import numpy as np

    if not labelled:
        return LabelScore(0.0, 0.0, 0.0, 0)
    times = [np.arange(turn.start, turn.end, step) for turn in turns]
    truth = np.array([turn.speaker for turn, ts in zip(turns, times, strict=True) for _ in ts])
    at = np.concatenate(times)
    starts = np.array([s.start for s in labelled])
    ends = np.array([s.end for s in labelled])
    numbers = np.array([s.speaker for s in labelled])
    # Distance from each moment to each segment (0 inside it): the nearest one labels it.
    distance = np.maximum(np.maximum(starts[None, :] - at[:, None], at[:, None] - ends[None, :]), 0)
    heard = numbers[distance.argmin(axis=1)]
    inside = distance.min(axis=1) == 0
    clusters = sorted(set(numbers.tolist()))
    voices = sorted(set(truth.tolist()))
    best_right = best_inside = 0
    for mapping in itertools.permutations(voices + [None] * len(clusters), len(clusters)):
        named = np.array(
            [dict(zip(clusters, mapping, strict=True))[n] for n in heard], dtype=object
        )
        correct = named == truth
        if correct.sum() > best_right:
            best_right, best_inside = int(correct.sum()), int((correct & inside).sum())
    covered = int(inside.sum())
    return LabelScore(
        right=best_right / len(truth),
        covered=covered / len(truth),
        right_where_covered=best_inside / covered if covered else 0.0,
        clusters=len(clusters),
    )
