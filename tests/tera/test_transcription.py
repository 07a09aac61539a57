"""Speech to text and speaker labels with the shipped models, on a dialogue spoken by
espeak-ng in two voices (tests/audio.py): the words must come back (WER <= 15 %) and the
speakers must be told apart for >= 90 % of the speech."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tera import speakers, speech
from tests.audio import label_score, word_error_rate

pytestmark = pytest.mark.slow

MAX_WER = 0.15
MIN_SPEAKER_ACCURACY = 0.90


@pytest.fixture(scope="module")
def heard(dialogue):
    wav, turns = dialogue
    audio = speech.decode(wav.read_bytes())
    result = speech.transcribe(audio, language="en")
    return audio, turns, result


def test_the_base_model_transcribes_the_dialogue(heard):
    _audio, turns, result = heard
    script = " ".join(t.text for t in turns)
    said = " ".join(s.text for s in result.segments)
    wer = word_error_rate(script, said)
    print(f"WER {wer:.1%} over {len(script.split())} words")
    assert wer <= MAX_WER
    assert result.language == "en"
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts) and result.segments[-1].end <= result.seconds + 0.5


def test_the_speakers_are_told_apart(heard):
    audio, turns, result = heard
    labelled = speakers.label(audio, result.segments, expected=2)
    score = label_score(turns, labelled)
    print(f"speaker labels right for {score.right:.1%} of the speech ({score})")
    assert score.right >= MIN_SPEAKER_ACCURACY
    assert score.right_where_covered >= MIN_SPEAKER_ACCURACY
    assert {s.speaker for s in labelled} == {0, 1}
    assert labelled[0].speaker == 0  # numbered by first appearance


def test_one_voice_expected_gives_one_speaker(heard):
    audio, _turns, result = heard
    assert {s.speaker for s in speakers.label(audio, result.segments, expected=1)} == {0}


def test_silence_gives_an_empty_transcript():
    silence = np.zeros(speech.SAMPLE_RATE * 3, dtype=np.float32)
    result = speech.transcribe(silence, language="en")
    assert result.segments == []
    assert speakers.label(silence, result.segments) == []


def test_the_model_is_joined_once_from_its_two_packages(settings, tmp_path):
    settings.TRANSCRIBE_MODEL_DIR = tmp_path / "whisper-base"
    folder = speech.shipped_base_model_dir()
    joined = (folder / "model.bin").stat()
    assert joined.st_size == 94_371_840 + 50_845_767
    assert {p.name for p in folder.iterdir()} == {
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.json",
    }
    assert speech.shipped_base_model_dir() == folder
    assert (folder / "model.bin").stat().st_mtime_ns == joined.st_mtime_ns  # not joined again
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".whisper-base-")]
    shutil.rmtree(folder)


def test_bytes_that_are_not_audio_are_refused():
    with pytest.raises(speech.NotAudio):
        speech.decode(b"this is a text file, not audio" * 10)
