"""Benchmark of speech to text and speaker labels on the CPU, on synthesised speech.

    .venv/bin/python -m tests.bench.transcription [--minutes 5] [--threads 2] [--portuguese]

1. Synthesises ~--minutes of an English dialogue in two voices with espeak-ng and sox
   (tests/audio.py: the scripted DIALOGUE repeated), with the truth about who spoke when.
2. Loads Whisper base (int8, CTranslate2 limited to --threads through
   TRANSCRIBE_CPU_THREADS) and the voice encoder (torch limited to --threads) and times
   the loading apart: a worker loads them once and keeps them between tasks.
3. The final pass as the worker runs it on an upload (tera/transcription.py without the
   database): `speech.decode`, `speech.transcribe` with word timestamps and the configured
   beam, then `speakers.label`. Prints the wall seconds of each, the real-time factor
   (total / audio seconds) against the issue's target (<= 0.25, stretch <= 0.15), the word
   error rate against the script, and how much of the speech time got the right speaker
   (sampled every 10 ms within the true turns, under the best mapping of the clusters'
   numbers to the two speakers).
4. The live pass: cuts the same audio into 10 s pieces (RECORDING_CHUNK_SECONDS), each
   encoded on its own as WebM/Opus, as a browser's MediaRecorder chunk is (WAV when PyAV
   has no Opus encoder; the output says which), and times `decode` + `transcribe`
   without word timestamps at beam 1 per chunk, as the live task does. Prints p50/p95/max
   of that lag, and the same with the chunks arriving every 10 s at one live worker (time
   spent waiting behind the previous chunk included). Database, queue and encryption
   costs of the real path are left out.
5. With --portuguese, the dialogue translated to Brazilian Portuguese in espeak-ng's pt-br
   voice: the word error rate only (known to be poor).

Figures are printed, never asserted: the exit code is 1 only when the harness broke
(espeak-ng or sox missing, a model that would not load). The CPU is shared with whatever
else runs on the machine (a test suite, a browser); the load average is printed so a
noisy run shows. Touches no database and no Redis: unless DATABASE_URL and REDIS_URL are
set, settings get placeholder addresses so importing them starts no embedded server.

Nothing runs on import; pytest does not collect this module.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import time
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.bench.harness import HarnessError, run_main, step

if TYPE_CHECKING:
    import numpy as np

    from tera.speakers import LabelledSegment
    from tests.audio import Turn

SETTINGS_MODULE = "practice.settings"
SECONDS_PER_REPEAT = 44.0  # the English DIALOGUE spoken once, pauses included
TARGET_RTF = 0.25
STRETCH_RTF = 0.15
OPUS_RATE = 48_000  # what browsers record Opus at
OPUS_BIT_RATE = 32_000
# Settings read on import; placeholders so the speech part starts no embedded server.
PLACEHOLDERS = {
    "DATABASE_URL": "postgres://unused@127.0.0.1:9/unused",
    "REDIS_URL": "redis://127.0.0.1:9/0",
}

PORTUGUESE_VOICES = {"therapist": ("pt-br+m3", 45), "patient": ("pt-br+f4", 70)}
PORTUGUESE_DIALOGUE = [
    ("therapist", "Boa tarde. Como você tem dormido desde a nossa última sessão?"),
    ("patient", "Não muito bem. Acordo às três da manhã e a minha cabeça começa a disparar."),
    ("therapist", "No que você percebe que está pensando quando isso acontece?"),
    (
        "patient",
        "Principalmente no trabalho. Meu gerente mudou os prazos de novo e me sinto atrasada.",
    ),
    ("therapist", "Isso parece exaustivo. O exercício de respiração ajudou em alguma coisa?"),
    ("patient", "Um pouco. Na terça eu fiz duas vezes e voltei a dormir rapidamente."),
    (
        "therapist",
        "Isso é um progresso de verdade. "
        "Vamos manter o exercício e acrescentar uma caminhada curta.",
    ),
    (
        "patient",
        "Posso tentar caminhar depois do almoço. Pode clarear a minha cabeça antes das reuniões.",
    ),
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.transcription", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--minutes", type=float, default=5, help="minutes of English speech (default 5)"
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="CPU threads for CTranslate2 and torch (default 2)"
    )
    parser.add_argument(
        "--portuguese",
        action="store_true",
        help="also measure the word error rate on a Brazilian Portuguese dialogue",
    )
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.threads < 1:
        parser.error("--minutes and --threads must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parse_args(argv), prefix="holos-bench-speech-")


def run(args: argparse.Namespace, tmp: Path) -> None:
    from tests import audio

    if not audio.espeak_available():
        raise HarnessError("espeak-ng and sox are needed to synthesise the speech")
    setup_django(args.threads)
    load_before = os.getloadavg()[0]

    repeat = max(1, round(args.minutes * 60 / SECONDS_PER_REPEAT))
    step(f"synthesising the English dialogue {repeat} times with espeak-ng")
    wav, turns = audio.dialogue_wav(tmp / "english", repeat=repeat)
    models = load_models()
    final = final_pass(wav.read_bytes(), turns, language=None)
    live = live_pass(final.samples, turns)
    portuguese = measure_portuguese(tmp / "portuguese") if args.portuguese else None
    report(args, repeat, turns, models, final, live, portuguese, load_before)


def setup_django(threads: int) -> None:
    """Django with CTranslate2 and torch held to `threads` before any model loads."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    for name, placeholder in PLACEHOLDERS.items():
        os.environ.setdefault(name, placeholder)
    import django

    django.setup()
    import torch
    from django.conf import settings

    settings.TRANSCRIBE_CPU_THREADS = threads
    torch.set_num_threads(threads)
    # faster-whisper logs every file at INFO; webrtcvad (under resemblyzer) warns on import.
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")


# --- Models -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Models:
    whisper_seconds: float
    encoder_seconds: float
    device: str
    compute_type: str
    beam_size: int


def load_models() -> Models:
    from django.conf import settings

    from tera import speakers, speech

    step("loading Whisper base and the voice encoder")
    try:
        began = time.perf_counter()
        speech.whisper_model()
        whisper_seconds = time.perf_counter() - began
        began = time.perf_counter()
        speakers.voice_encoder()
        encoder_seconds = time.perf_counter() - began
    except Exception as error:
        raise HarnessError(f"a model would not load: {error!r}") from error
    on = speech.device()
    return Models(
        whisper_seconds,
        encoder_seconds,
        on,
        settings.TRANSCRIBE_COMPUTE_TYPE if on == "cpu" else "float16",
        settings.TRANSCRIBE_BEAM_SIZE,
    )


# --- The final pass -----------------------------------------------------------------------


@dataclass(frozen=True)
class FinalPass:
    samples: np.ndarray
    audio_seconds: float
    decode_seconds: float
    transcribe_seconds: float
    label_seconds: float
    language: str
    text: str
    labelled: list[LabelledSegment]

    @property
    def total_seconds(self) -> float:
        return self.decode_seconds + self.transcribe_seconds + self.label_seconds


def final_pass(data: bytes, turns: Sequence[Turn], *, language: str | None) -> FinalPass:
    """decode, transcribe with word timestamps, label the speakers: what
    tera.transcription.transcribe_recording does between reading and writing the database."""
    from tera import speakers, speech

    step("final pass: speech to text with word timestamps, then speaker labels")
    began = time.perf_counter()
    samples = speech.decode(data)
    decoded = time.perf_counter()
    result = speech.transcribe(samples, language=language)
    transcribed = time.perf_counter()
    labelled = speakers.label(samples, result.segments, expected=2)
    labelled_at = time.perf_counter()
    return FinalPass(
        samples=samples,
        audio_seconds=result.seconds,
        decode_seconds=decoded - began,
        transcribe_seconds=transcribed - decoded,
        label_seconds=labelled_at - transcribed,
        language=result.language,
        text=" ".join(segment.text for segment in result.segments),
        labelled=labelled,
    )


# --- The live pass ------------------------------------------------------------------------


@dataclass(frozen=True)
class LivePass:
    chunk_format: str
    chunk_seconds: float
    lags: list[float]  # decode + transcribe of each chunk
    queued_lags: list[float]  # the same, chunks arriving every chunk_seconds at one worker
    text: str


def live_pass(samples: np.ndarray, turns: Sequence[Turn]) -> LivePass:
    from django.conf import settings

    from tera import speech
    from tests import audio

    chunk_seconds = float(settings.RECORDING_CHUNK_SECONDS)
    size = int(chunk_seconds * speech.SAMPLE_RATE)
    pieces = [samples[i : i + size] for i in range(0, len(samples), size)]
    chunk_format = "webm" if opus_encoder_available() else "wav"
    step(f"live pass: {len(pieces)} chunks of {chunk_seconds:g} s, each its own {chunk_format}")
    encoded = [webm_opus(p) if chunk_format == "webm" else audio.wav_bytes(p) for p in pieces]

    lags: list[float] = []
    texts: list[str] = []
    language: str | None = None  # the first chunk detects it; later ones keep it
    for data in encoded:
        began = time.perf_counter()
        audio = speech.decode(data)
        result = speech.transcribe(audio, language=language, word_timestamps=False, beam_size=1)
        lags.append(time.perf_counter() - began)
        texts.append(" ".join(segment.text for segment in result.segments))
        language = language or result.language or None

    queued: list[float] = []
    free_at = 0.0
    arrived = 0.0
    for piece, lag in zip(pieces, lags, strict=True):
        arrived += len(piece) / speech.SAMPLE_RATE
        free_at = max(free_at, arrived) + lag
        queued.append(free_at - arrived)
    return LivePass(chunk_format, chunk_seconds, lags, queued, " ".join(texts))


def opus_encoder_available() -> bool:
    import av

    return "libopus" in av.codecs_available and "webm" in av.formats_available


def webm_opus(samples: np.ndarray) -> bytes:
    """One self-contained WebM/Opus file, as MediaRecorder gives for a chunk."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="webm") as container:
        stream: Any = container.add_stream("libopus", rate=OPUS_RATE)
        stream.layout = "mono"
        stream.bit_rate = OPUS_BIT_RATE
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = 16_000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return buffer.getvalue()


# --- Portuguese ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Portuguese:
    audio_seconds: float
    transcribe_seconds: float
    language: str
    word_error_rate: float
    text: str


def measure_portuguese(folder: Path) -> Portuguese:
    from tera import speech
    from tests import audio

    step("synthesising the dialogue in Brazilian Portuguese (espeak-ng pt-br)")
    wav, turns = audio.dialogue_wav(folder, lines=PORTUGUESE_DIALOGUE, voices=PORTUGUESE_VOICES)
    samples = speech.decode(wav.read_bytes())
    began = time.perf_counter()
    result = speech.transcribe(samples, language="pt")
    seconds = time.perf_counter() - began
    text = " ".join(segment.text for segment in result.segments)
    script = " ".join(turn.text for turn in turns)
    # tests.audio.words() keeps only a-z, so fold the accents first ("não" is one word).
    wer = audio.word_error_rate(fold_accents(script), fold_accents(text))
    return Portuguese(result.seconds, seconds, result.language, wer, text)


def fold_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# --- Report -------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    from tests.bench.week_view_load import percentile as nearest_rank

    return nearest_rank(sorted(values), fraction)


def verdict(value: float, limit: float) -> str:
    return "MET" if value <= limit else "NOT MET"


def report(
    args: argparse.Namespace,
    repeat: int,
    turns: Sequence[Turn],
    models: Models,
    final: FinalPass,
    live: LivePass,
    portuguese: Portuguese | None,
    load_before: float,
) -> None:
    from tests import audio
    from tests.bench.week_view_load import cores

    script = " ".join(turn.text for turn in turns)
    score = audio.label_score(turns, final.labelled)
    rtf = final.total_seconds / final.audio_seconds
    rule = "=" * 78
    lines = [
        rule,
        f"Holos transcription benchmark: Whisper base {models.compute_type} on "
        f"{models.device}, {args.threads} threads",
        rule,
        f"machine   {cores()} CPU cores, shared with anything else running (1-min load average"
        f" {load_before:.2f} before, {os.getloadavg()[0]:.2f} after)",
        f"threads   CTranslate2 {args.threads} (TRANSCRIBE_CPU_THREADS), torch {args.threads}",
        f"audio     {final.audio_seconds:.1f} s of synthesised English: the dialogue {repeat}"
        f" times, {len(turns)} turns, 2 espeak-ng voices",
        f"models    loaded in {models.whisper_seconds:.1f} s (Whisper) and"
        f" {models.encoder_seconds:.1f} s (voice encoder), not counted below: a worker keeps"
        " them",
        "",
        f"final pass, as the worker runs it (word timestamps, beam {models.beam_size}, 2 speakers)",
        f"  decode          {final.decode_seconds:7.2f} s",
        f"  speech to text  {final.transcribe_seconds:7.2f} s",
        f"  speaker labels  {final.label_seconds:7.2f} s",
        f"  total           {final.total_seconds:7.2f} s",
        f"  real-time factor {rtf:.3f} (total / audio seconds): target <= {TARGET_RTF}"
        f" {verdict(rtf, TARGET_RTF)}, stretch <= {STRETCH_RTF} {verdict(rtf, STRETCH_RTF)}",
        f"  language        {final.language} (detected)",
        f"  WER             {audio.word_error_rate(script, final.text):.1%} against the script",
        f"  speaker labels  {score.right:.1%} of the speech time right, under the best mapping"
        f" of {score.clusters} cluster(s) to the 2 speakers",
        f"                  (a pause between words takes the nearest segment's label;"
        f" {score.covered:.1%} of the time is inside a segment, {score.right_where_covered:.1%}"
        " of that right)",
        "",
        f"live pass, per {live.chunk_seconds:g} s chunk ({len(live.lags)} chunks, each its own"
        f" {'WebM/Opus' if live.chunk_format == 'webm' else 'WAV'} file; decode + transcribe,"
        " no word timestamps, beam 1)",
        "  lag = time from the chunk's arrival to its text (queue, database and encryption"
        " left out)",
        "  " + lag_line("each chunk alone", live.lags),
        "  " + lag_line(f"one worker, a chunk every {live.chunk_seconds:g} s", live.queued_lags),
        f"  WER             {audio.word_error_rate(script, live.text):.1%} of the live text"
        " against the script",
    ]
    if live.chunk_format != "webm":
        lines.append("  note: WAV chunks, as PyAV here has no Opus encoder")
    if portuguese is not None:
        lines += [
            "",
            f"Portuguese (--portuguese): {portuguese.audio_seconds:.1f} s of espeak-ng pt-br,"
            f" language given as pt (heard as {portuguese.language})",
            f"  WER             {portuguese.word_error_rate:.1%} against the script (accents"
            f" folded on both sides); speech to text {portuguese.transcribe_seconds:.1f} s",
            f"  heard           {portuguese.text[:150]}...",
        ]
    lines.append(rule)
    print("\n".join(lines), flush=True)


def lag_line(label: str, lags: Sequence[float]) -> str:
    return (
        f"{label + ':':<34} p50 {percentile(lags, 0.50):5.2f} s   p95"
        f" {percentile(lags, 0.95):5.2f} s   max {max(lags):5.2f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
