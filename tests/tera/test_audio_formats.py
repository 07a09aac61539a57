"""Reading uploads and recorder pieces: every format the upload form names is measured
without decoding a long file whole, and what is not sound is refused."""

from __future__ import annotations

import io

import av
import pytest

from tera import speech

FORMATS = [  # (container, codec, sample rate): what phones and recorders produce
    ("mp3", "libmp3lame", 16_000),
    ("ipod", "aac", 16_000),  # .m4a
    ("ogg", "libopus", 48_000),
    ("webm", "libopus", 48_000),  # a browser's MediaRecorder piece: no stated duration
    ("wav", "pcm_s16le", 16_000),
]


def encode(samples, container: str, codec: str, rate: int) -> bytes:
    import numpy as np

    if rate != speech.SAMPLE_RATE:
        samples = np.repeat(samples, rate // speech.SAMPLE_RATE)
    pcm = (samples * 32767).astype("<i2")
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        size = stream.codec_context.frame_size or 1024
        for start in range(0, len(pcm), size):
            frame = av.AudioFrame.from_ndarray(
                pcm[None, start : start + size], format="s16", layout="mono"
            )
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


@pytest.mark.parametrize(("container", "codec", "rate"), FORMATS)
def test_every_upload_format_is_measured(short_speech, container, codec, rate):
    samples = speech.decode(short_speech)
    data = encode(samples, container, codec, rate)
    truth = len(samples) / speech.SAMPLE_RATE
    assert speech.probe(data) == pytest.approx(truth, abs=0.1)
    assert len(speech.decode(data)) / speech.SAMPLE_RATE == pytest.approx(truth, abs=0.1)


@pytest.mark.parametrize(
    "data",
    [b"plain text, not sound" * 30, b"RIFF\x00\x00\x00\x00WAVEfmt " + b"\x00" * 40, b"\x00"],
)
def test_what_is_not_sound_is_refused(data):
    with pytest.raises(speech.NotAudio):
        speech.probe(data)
