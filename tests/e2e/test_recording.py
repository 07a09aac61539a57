"""Recording a session in a browser: chromium's fake microphone plays a two-voice
dialogue; the therapist starts the recorder, pauses and resumes it, watches the live
transcript arrive piece by piece, stops, and then works on the final transcript: names
a voice, corrects a segment and searches it.

Celery runs eagerly (tests/conftest.py), so each piece is transcribed inside its upload
request and the final pass runs inside the stop request.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Locator, Page, Playwright, expect

from practice.models import Practice, User
from sessions.models import Appointment, Recording, RecordingStatus, SpeakerRole
from tests.audio import dialogue_wav, espeak_available
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, shot, sign_in
from tests.factories import AppointmentFactory, PatientFactory, TherapyTypeFactory

CHUNK_SECONDS = 5
# Words of tests.audio.DIALOGUE's first turns, any of which shows the speech got through;
# the live pass hears pieces cut mid-word, so no single word is certain to come out whole.
EARLY_WORDS = re.compile(r"sleep|afternoon|session|morning|racing|thinking|notice", re.I)
RECORDING_URL = re.compile(r"/recordings/(\d+)/$")


@pytest.fixture
def speech(tmp_path: Path) -> Path:
    if not espeak_available():
        pytest.fail("The recording test needs espeak-ng and sox to make its speech.")
    wav, _turns = dialogue_wav(tmp_path / "speech")
    return wav


@pytest.fixture
def mic_page(playwright: Playwright, live_server, speech: Path) -> Iterator[Page]:
    """A page in a chromium of its own whose microphone plays `speech`, allowed without
    asking (the shared `browser` fixture has no microphone)."""
    if not CHROMIUM.is_file():
        pytest.fail(f"Browser tests need Debian's chromium at {CHROMIUM}.", pytrace=False)
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={speech}",
        ],
    )
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP, locale="en-US")
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()
    browser.close()


@pytest.fixture
def appointment(transactional_db, clinic: Practice, therapist: User, settings) -> Appointment:
    """Theo's appointment that began ten minutes ago, with a patient who consented to
    audio recording, in a practice that works in English."""
    settings.RECORDING_CHUNK_SECONDS = CHUNK_SECONDS  # read per request by the live server
    clinic.language = "en"
    clinic.save(update_fields=["language"])
    patient = PatientFactory(
        practice=clinic,
        therapist=therapist,
        full_name="Marta Lima",
        audio_consent_at=timezone.now(),
        audio_consent_by=therapist,
    )
    starts = timezone.now() - timedelta(minutes=10)
    return AppointmentFactory(
        practice=clinic,
        patient=patient,
        therapist=therapist,
        therapy_type=TherapyTypeFactory(practice=clinic, name="Psychotherapy"),
        starts_at=starts,
        ends_at=starts + timedelta(minutes=50),
    )


def seconds_shown(timer: Locator) -> int:
    minutes, seconds = timer.inner_text().split(":")[-2:]
    return int(minutes) * 60 + int(seconds)


def wait_for_seconds(page: Page, timer: Locator, at_least: int) -> None:
    expect(timer).not_to_have_text("0:00")
    page.wait_for_function(
        """([el, n]) => { const [m, s] = el.textContent.split(":").slice(-2);
                          return Number(m) * 60 + Number(s) >= n; }""",
        arg=[timer.element_handle(), at_least],
        timeout=(at_least + 10) * 1000,
    )


def test_therapist_records_a_session_and_works_on_its_transcript(
    appointment: Appointment, therapist: User, mic_page: Page
) -> None:
    page = mic_page
    sign_in(page, therapist.email)
    expect(page.locator("nav.mainnav")).to_be_visible()
    page.goto(f"/calendar/appointments/{appointment.pk}/recordings/")
    expect(page.locator("#consent-missing")).to_have_count(0)
    options = page.locator("form[action$='/recordings/start/']")
    expect(options.locator("select[name=language]")).to_have_value("en")
    expect(page.locator("#plan-allowance")).to_contain_text("10 recorded sessions left")
    shot(page, "recording_start")
    options.get_by_role("button", name="Start recording", exact=True).click()
    expect(page).to_have_url(RECORDING_URL)
    recording = Recording.objects.get(appointment=appointment)
    assert recording.status == RecordingStatus.RECORDING

    # --- The recorder: start, pause, resume -------------------------------------------
    recorder = page.locator("#recorder")
    status = recorder.locator("[data-recorder-status]")
    timer = recorder.locator("[data-recorder-timer]")
    start = recorder.locator("[data-recorder-start]")
    pause = recorder.locator("[data-recorder-pause]")
    resume = recorder.locator("[data-recorder-resume]")
    live = page.locator("#recording-state [data-live-transcript]")
    msg = {
        name: recorder.get_attribute(f"data-msg-{name}")
        for name in ("ready", "recording", "paused", "stopping", "offline")
    }
    expect(status).to_have_text(msg["ready"])
    expect(timer).to_have_text("0:00")
    expect(pause).to_be_hidden()

    start.click()
    expect(status).to_have_text(msg["recording"])
    expect(start).to_be_hidden()
    expect(pause).to_be_focused()
    page.wait_for_function(
        "el => el.value > 0", arg=recorder.locator("[data-recorder-level]").element_handle()
    )
    wait_for_seconds(page, timer, 2 * CHUNK_SECONDS + 1)  # two whole pieces recorded

    pause.click()
    expect(status).to_have_text(msg["paused"])
    expect(resume).to_be_focused()
    paused_at = seconds_shown(timer)
    page.wait_for_timeout(1_500)
    assert seconds_shown(timer) == paused_at, "the clock runs on while paused"
    # Both pieces, and the short one that Pause closed, reach the server in order.
    deadline = time.monotonic() + 20
    while recording.chunks.count() < 3 and time.monotonic() < deadline:
        time.sleep(0.25)
    seqs = list(recording.chunks.values_list("seq", flat=True))
    assert seqs == [0, 1, 2], seqs
    recording.refresh_from_db()
    assert abs(recording.audio_seconds - paused_at) < 2, (recording.audio_seconds, paused_at)
    expect(recorder.locator("[data-recorder-queue]")).to_be_empty()

    resume.click()
    expect(status).to_have_text(msg["recording"])
    expect(pause).to_be_focused()
    wait_for_seconds(page, timer, paused_at + 2)

    # The live transcript: the 2-second poll shows what each piece said.
    expect(live).to_have_text(EARLY_WORDS, timeout=30_000)
    page.wait_for_function(  # someone is talking in the picture
        "el => el.value > 0.1", arg=recorder.locator("[data-recorder-level]").element_handle()
    )
    shot(page, "recording_live")

    # --- Stop: the last piece is sent, then the final pass runs -----------------------
    # Its first try meets a dropped connection: the recorder keeps it, says so, retries.
    page.route(f"**/recordings/{recording.pk}/chunks/3/", lambda route: route.abort(), times=1)
    recorder.locator("[data-recorder-stop]").click()
    expect(status).to_have_text(msg["stopping"])
    expect(recorder.locator("[data-recorder-queue]")).to_contain_text(msg["offline"])
    expect(page.locator("ol.transcript li").first).to_be_visible(timeout=60_000)
    expect(page.locator("#recorder")).to_have_count(0)
    expect(page.locator("#recording-state .badge")).to_have_text("Done")
    recording.refresh_from_db()
    assert recording.status == RecordingStatus.DONE
    assert not recording.has_audio and not recording.chunks.exists()
    said = " ".join(recording.segments.values_list("text", flat=True)).lower()
    heard = [w for w in ("sleeping", "afternoon", "morning", "racing", "session") if w in said]
    assert len(heard) >= 2, said

    # --- Name the first voice ----------------------------------------------------------
    voice = page.locator("fieldset.speaker-row").filter(has_text="Voice 1")
    voice.locator("select[name$='-role']").select_option(SpeakerRole.THERAPIST)
    page.get_by_role("button", name="Save speakers").click()
    expect(page.locator(".message-success")).to_contain_text("Speakers saved.")
    first = page.locator("ol.transcript li").first
    expect(first.locator(".segment-speaker")).to_have_text("Therapist")

    # --- Correct a segment in place (htmx), then find it ----------------------------------
    word = heard[0]
    segment = next(x for x in recording.segments.all() if word in x.text.lower())
    words = segment.text.strip().rstrip(".?!")
    corrected = f"{words}, Marta{segment.text.strip()[len(words) :]}"  # "…session, Marta?"
    row = page.locator(f"#segment-{segment.pk}")
    row.get_by_role("link", name="Correct").click()
    text = row.locator("textarea[name=text]")
    expect(text).to_have_value(segment.text)
    text.fill(corrected)
    row.get_by_role("button", name="Save").click()
    expect(row.locator(".segment-text")).to_have_text(corrected)
    expect(row.locator(".badge")).to_have_text("edited")
    segment.refresh_from_db()
    assert segment.edited and segment.text == corrected

    page.locator("#transcript-q").fill(word)
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page).to_have_url(re.compile(rf"\?q={word}$"))
    expect(row.locator("mark").first).to_have_text(re.compile(f"^{word}$", re.I))
    expect(row.locator(".segment-text")).to_have_text(corrected)
    shot(page, "recording_transcript")
