"""Speech made on the spot with espeak-ng, for the transcription tests, the browser test
and the benchmark: a scripted dialogue in two voices, with the truth about who spoke when."""

from __future__ import annotations

import re
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

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
