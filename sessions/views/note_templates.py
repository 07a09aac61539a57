"""The Owner's note templates: the built-ins to read and start from, and the practice's
own to create, edit, archive and restore.

Only Owners use these pages; Therapists and Assistants get 403. A template is looked up
in the practice's scope before the role is checked, so another practice's id (or a
missing one) answers 404 to every member, for any method.

The editor works without JavaScript: "Add a section", the arrows and "Show this
therapy's fields" post the form back and get the page again with what was typed (status
200, nothing saved); with htmx, choosing a therapy swaps in its fields alone. Saving with
bad input answers 422 with the messages in place.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models.functions import Lower
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from practice.http import PracticeRequest, wants_fragment
from practice.permissions import owner_required, practice_required
from sessions.models import NoteTemplate
from sessions.note_template_forms import BaseSectionFormSet, NoteTemplateForm, SectionFormSet
from sessions.note_templates import BUILTINS, MAX_SECTIONS, BuiltinTemplate
from sessions.services import note_templates as services
from sessions.views.common import acting

FORM_TEMPLATE = "sessions/note_template_form.html"
# Buttons that post the editor back to show it again, changed, without saving.
REARRANGE = ("add_section", "move", "pick_therapy")


def _template(request: PracticeRequest, pk: int) -> NoteTemplate:
    """A template of this practice for its Owners: 404 if it is none of this practice's,
    403 for a member who is not an Owner."""
    template = get_object_or_404(
        NoteTemplate.objects.for_practice(request.practice).select_related("therapy_type"),
        pk=pk,
    )
    if not request.membership.is_owner:
        raise PermissionDenied
    return template


@owner_required
def template_list(request: PracticeRequest) -> HttpResponse:
    templates = list(
        NoteTemplate.objects.for_practice(request.practice)
        .select_related("therapy_type")
        .order_by(Lower("name"), "pk")
    )
    return render(
        request,
        "sessions/note_templates.html",
        {
            "active_templates": [t for t in templates if t.is_active],
            "archived_templates": [t for t in templates if not t.is_active],
            "builtins": list(BUILTINS.values()),
        },
    )


def _starter(request: PracticeRequest) -> BuiltinTemplate | None:
    return BUILTINS.get(request.POST.get("from") or request.GET.get("from") or "")


@owner_required
def template_new(request: PracticeRequest) -> HttpResponse:
    """A new template, blank or from a built-in (`?from=soap` copies its sections)."""
    starter = _starter(request)
    initial: dict[str, Any] = {}
    rows: list[dict[str, str]] = []
    if starter is not None:
        # Stored text, read by every therapist of the practice: in the practice's language.
        with translation.override(request.practice.language):
            initial = {
                "name": _("%(name)s (copy)") % {"name": starter.name},
                "description": str(starter.description),
            }
            rows = starter.section_dicts()
    return _editor(request, None, initial=initial, rows=rows, starter=starter)


@practice_required  # the role is checked by _template(), after the scoped lookup
def template_edit(request: PracticeRequest, pk: int) -> HttpResponse:
    template = _template(request, pk)
    initial = {
        "name": template.name,
        "description": template.description,
        "therapy_type": template.therapy_type_id,
        "field_keys": list(template.field_keys),
    }
    return _editor(request, template, initial=initial, rows=list(template.sections))


def _editor(
    request: PracticeRequest,
    template: NoteTemplate | None,
    *,
    initial: dict[str, Any],
    rows: list[dict[str, str]],
    starter: BuiltinTemplate | None = None,
) -> HttpResponse:
    context: dict[str, Any] = {"template": template, "starter": starter}
    if request.method != "POST":
        form = NoteTemplateForm(initial=initial, practice=request.practice, template=template)
        # A blank template starts with one empty row to fill in.
        formset = SectionFormSet(initial=rows, extra=0 if rows else 1)
        return _render(request, form, formset, context)

    form = NoteTemplateForm(request.POST, practice=request.practice, template=template)
    formset = SectionFormSet(request.POST)
    if any(name in request.POST for name in REARRANGE):
        return _rearranged(request, form, formset, context)

    if all([form.is_valid(), formset.is_valid()]):
        fields = {
            "name": form.cleaned_data["name"],
            "description": form.cleaned_data["description"],
            "sections": formset.sections(),
            "therapy_type": form.cleaned_data["therapy_type"],
            "field_keys": form.cleaned_data["field_keys"],
        }
        try:
            if template is None:
                template = services.note_template_create(**acting(request), **fields)
                done = _("Note template “%(name)s” created.")
            else:
                template = services.note_template_update(
                    **acting(request), template=template, **fields
                )
                done = _("Note template “%(name)s” saved.")
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, done % {"name": template.name})
            return redirect("sessions:note_templates")
    return _render(request, form, formset, context, status=422)


def _rearranged(
    request: PracticeRequest,
    form: NoteTemplateForm,
    formset: BaseSectionFormSet,
    context: dict[str, Any],
) -> HttpResponse:
    """The editor again with what was posted, a row added or moved, or the fields of the
    therapy just chosen; unbound, so that nothing unfinished is shown as an error."""
    rows = formset.raw_rows()
    focus: int | None = None
    added = False
    if "add_section" in request.POST and len(rows) < MAX_SECTIONS:
        rows.append({"key": "", "title": "", "instruction": ""})
        focus, added = len(rows) - 1, True
    elif "move" in request.POST:
        index, _sep, direction = request.POST["move"].partition(":")
        try:
            i = int(index)
        except ValueError:
            i = -1
        j = i + (-1 if direction == "up" else 1)
        if 0 <= i < len(rows) and 0 <= j < len(rows):
            rows[i], rows[j] = rows[j], rows[i]
            focus = j
            context["moved"] = direction
    form = NoteTemplateForm(
        initial=form.raw_values(), practice=request.practice, template=context["template"]
    )
    formset = SectionFormSet(initial=rows)
    context["focus"] = focus
    if added:
        # Straight into the new row's title; the browser scrolls to it.
        formset.forms[-1].fields["title"].widget.attrs["autofocus"] = True
    if "pick_therapy" in request.POST and wants_fragment(request):
        return render(request, f"{FORM_TEMPLATE}#ai-fields", {"form": form})
    return _render(request, form, formset, context)


def _render(
    request: PracticeRequest,
    form: NoteTemplateForm,
    formset: BaseSectionFormSet,
    context: dict[str, Any],
    *,
    status: int = 200,
) -> HttpResponse:
    template = context["template"]
    action = (
        reverse("sessions:note_template_edit", args=[template.pk])
        if template
        else reverse("sessions:note_template_new")
    )
    # With JavaScript, choosing a therapy swaps in its fields at once (no JS: a button).
    form.fields["therapy_type"].widget.attrs.update(
        {
            "hx-post": action,
            "hx-trigger": "change",
            "hx-target": "#ai-fields",
            "hx-swap": "outerHTML",
            "hx-vals": '{"pick_therapy": "1"}',
        }
    )
    return render(
        request,
        FORM_TEMPLATE,
        {
            **context,
            "form": form,
            "formset": formset,
            "action": action,
            "builtins": list(BUILTINS.values()),
            "max_sections": MAX_SECTIONS,
            "can_add": formset.total_form_count() < MAX_SECTIONS,
            "has_errors": status == 422,
        },
        status=status,
    )


@practice_required  # the role is checked by _template(), after the scoped lookup
def template_archive(request: PracticeRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST archives the template, or restores it with
    `restore=1`. Notes drafted from it keep their sections either way."""
    template = _template(request, pk)
    if request.method != "POST":
        return render(request, "sessions/note_template_archive.html", {"template": template})
    restore = request.POST.get("restore") == "1"
    template = services.note_template_archive(
        **acting(request), template=template, archived=not restore
    )
    if restore:
        messages.success(request, _("Note template “%(name)s” restored.") % {"name": template.name})
    else:
        messages.success(
            request,
            _("Note template “%(name)s” archived. It is no longer offered for new notes.")
            % {"name": template.name},
        )
    return redirect("sessions:note_templates")
