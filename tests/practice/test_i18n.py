"""Internationalisation: the pt-BR catalogue is complete and compiled, pages follow the
user's language (or the browser's, before sign-in), and money and dates follow the locale."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import formats, translation

from practice.models import Role
from practice.templatetags.holos import money

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "pt_BR" / "LC_MESSAGES"
PO_PATH = CATALOGUE / "django.po"
MO_PATH = CATALOGUE / "django.mo"

# printf-style placeholders as Python's % operator reads them: %(name)s, %s, %d, %.2f, %%.
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]")
HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")


@pytest.fixture(autouse=True)
def _restore_language():
    """Requests activate the user's language on the thread; don't let it leak into other tests."""
    with translation.override(settings.LANGUAGE_CODE):
        yield


@pytest.fixture(scope="module")
def po() -> polib.POFile:
    return polib.pofile(str(PO_PATH))


def _key(entry: polib.POEntry | polib.MOEntry) -> tuple[str | None, str, str]:
    return (entry.msgctxt, entry.msgid, entry.msgid_plural or "")


def _translations(entry: polib.POEntry | polib.MOEntry) -> tuple[str, ...]:
    if entry.msgid_plural:
        return tuple(entry.msgstr_plural[i] for i in sorted(entry.msgstr_plural))
    return (entry.msgstr,)


# --- The catalogue ----------------------------------------------------------------------


def test_po_header_declares_brazilian_portuguese_in_utf8(po):
    assert po.metadata["Language"] == "pt_BR"
    assert "charset=UTF-8" in po.metadata["Content-Type"]
    assert po.metadata["Plural-Forms"].replace(" ", "") == "nplurals=2;plural=(n>1);"
    assert not po.metadata_is_fuzzy


def test_po_is_fully_translated_without_fuzzy_entries(po):
    assert len(po) > 0
    assert po.fuzzy_entries() == []
    assert po.untranslated_entries() == []
    assert po.percent_translated() == 100


def test_every_translation_keeps_the_placeholders_and_tags_of_its_source(po):
    problems = []
    for entry in po:
        for pattern in (PLACEHOLDER, HTML_TAG):
            if not entry.msgid_plural:
                if Counter(pattern.findall(entry.msgstr)) != Counter(pattern.findall(entry.msgid)):
                    problems.append((entry.msgid, entry.msgstr))
                continue
            # The last form ("other") mirrors msgid_plural; the singular form may drop the
            # count ("um paciente") but no form may bring in a placeholder or tag of its own.
            allowed = set(pattern.findall(entry.msgid) + pattern.findall(entry.msgid_plural))
            forms = _translations(entry)
            if Counter(pattern.findall(forms[-1])) != Counter(
                pattern.findall(entry.msgid_plural)
            ) or any(not set(pattern.findall(form)) <= allowed for form in forms):
                problems.append((entry.msgid, forms))
    assert problems == []


def test_python_format_flag_matches_the_placeholders(po):
    """An entry with placeholders must be flagged python-format, so msgfmt --check sees it."""
    unflagged = [
        entry.msgid
        for entry in po
        if re.search(r"%\([^)]+\)", entry.msgid) and "python-format" not in entry.flags
    ]
    assert unflagged == []


def test_compiled_mo_matches_the_po():
    po = polib.pofile(str(PO_PATH))
    mo = polib.mofile(str(MO_PATH))
    expected = {_key(e): _translations(e) for e in po.translated_entries()}
    compiled = {_key(e): _translations(e) for e in mo if e.msgid}

    assert compiled == expected, "run: manage.py compilemessages -l pt_BR"


# --- Pages follow the language ----------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "present", "absent"),
    [
        ("pt-br", ["Agenda", "Pacientes", "Pagamentos", "Sair", "Novo agendamento"], []),
        ("en", ["Calendar", "Patients", "Payments", "Sign out"], ["Agenda", "Pacientes"]),
    ],
)
def test_signed_in_pages_use_the_users_language(client_for, therapist, language, present, absent):
    therapist.language = language
    therapist.save()

    # The browser asks for the other language: the user's own choice wins.
    browser = "en-US,en;q=0.9" if language == "pt-br" else "pt-BR,pt;q=0.9"
    response = client_for(therapist).get(reverse("sessions:calendar"), HTTP_ACCEPT_LANGUAGE=browser)

    assert response.status_code == 200
    html = response.content.decode()
    assert f'<html lang="{language}">' in html
    for text in present:
        assert text in html
    for text in absent:
        assert text not in html
    if language == "pt-br":
        assert "Calendar" not in html


@pytest.mark.parametrize(
    ("accept_language", "lang", "texts"),
    [
        ("pt-BR", "pt-br", ["Entrar", "Esqueceu sua senha?", "Crie seu consultório"]),
        ("pt-BR,pt;q=0.9,en;q=0.8", "pt-br", ["Entrar"]),
        ("en-US,en;q=0.9", "en", ["Sign in", "Forgot your password?"]),
        ("de-DE", "en", ["Sign in"]),
    ],
)
def test_login_page_follows_the_browser_language(client, db, accept_language, lang, texts):
    response = client.get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE=accept_language)

    assert response.status_code == 200
    html = response.content.decode()
    assert f'<html lang="{lang}">' in html
    for text in texts:
        assert text in html


def test_model_choices_and_messages_are_translated():
    with translation.override("pt-br"):
        assert [str(label) for label in Role.labels] == ["Titular", "Terapeuta", "Assistente"]
        assert (
            translation.gettext("%(name)s is now %(role)s.")
            % {
                "name": "Ana",
                "role": Role.THERAPIST.label,
            }
            == "Ana agora é Terapeuta."
        )


# --- Money and dates follow the locale --------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected"),
    [("pt-br", "R$\xa01.234,50"), ("en", "R$1,234.50")],
)
def test_money_is_formatted_for_the_active_language(language, expected):
    with translation.override(language):
        assert money(Decimal("1234.5"), "BRL") == expected


def test_money_of_nothing_is_empty():
    assert money(None) == ""
    assert money("") == ""


@pytest.mark.parametrize(
    ("language", "expected"),
    [("pt-br", "05/03/2026"), ("en", "03/05/2026")],
)
def test_short_dates_follow_the_active_language(language, expected):
    with translation.override(language):
        assert formats.date_format(date(2026, 3, 5), "SHORT_DATE_FORMAT") == expected
