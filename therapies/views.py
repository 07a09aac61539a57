"""Therapy types and their custom fields: the Owner's settings pages.

Every field operation answers an htmx request with the fields card and, out of band, the
preview of the form a therapist will see; without htmx it redirects back to the type's
page (or re-renders it with the errors, status 422). Views with an object id look it up
in scope before checking the method, so another practice's id answers 404 for any method.
"""

from __future__ import annotations

import copy
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from practice.http import PracticeRequest
from practice.permissions import owner_objects, owner_required
from therapies import schema, services
from therapies.formbuilder import CustomFieldsForm
from therapies.forms import TherapyTypeForm
from therapies.models import TherapyType
from therapies.schema import Field, FieldDefinitionForm, Kind
from therapies.starters import STARTERS, starter

EDIT_TEMPLATE = "therapies/edit.html"
# Offered in turn to new types, so the calendar's colours differ without any effort.
PALETTE = ["#2f6f62", "#7b5ea7", "#c2185b", "#e07a1f", "#1f78b4", "#8d6e63", "#558b2f", "#00838f"]


def _therapy_type(request: PracticeRequest, pk: int) -> TherapyType:
    return get_object_or_404(TherapyType.objects.for_practice(request.practice), pk=pk)


def _field(therapy_type: TherapyType, key: str) -> Field:
    field = therapy_type.field(key)
    if field is None:
        raise Http404
    return field


def _with_kind_labels(fields: list[Field]) -> list[Field]:
    kinds = dict(Kind.choices)
    return [{**f, "kind_label": kinds.get(f["kind"], f["kind"])} for f in fields]


def _edit_context(
    request: PracticeRequest,
    therapy_type: TherapyType,
    *,
    details_form: TherapyTypeForm | None = None,
    new_field_form: FieldDefinitionForm | None = None,
    editing: str = "",
    edit_form: FieldDefinitionForm | None = None,
) -> dict[str, Any]:
    return {
        "therapy_type": therapy_type,
        "details_form": details_form
        or TherapyTypeForm(instance=therapy_type, practice=request.practice),
        "fields": _with_kind_labels(therapy_type.custom_fields),
        "new_field_form": new_field_form or FieldDefinitionForm(prefix="new"),
        "editing": editing,
        "edit_form": edit_form,
        "preview_form": CustomFieldsForm(therapy_type.custom_fields, prefix="preview"),
        "max_fields": schema.MAX_FIELDS,
    }


def _fields_changed(
    request: PracticeRequest, therapy_type: TherapyType, *, status: int = 200, **context: Any
) -> HttpResponse:
    """The answer to a field operation: the fields card (+ preview) for htmx; otherwise the
    page again with the errors, or a redirect to it after a success."""
    if request.htmx:
        return render(
            request,
            f"{EDIT_TEMPLATE}#fields-update",
            _edit_context(request, therapy_type, **context),
            status=status,
        )
    if status == 200 and not context.get("editing"):
        return redirect(reverse("therapies:edit", args=[therapy_type.pk]) + "#fields-card")
    return render(
        request, EDIT_TEMPLATE, _edit_context(request, therapy_type, **context), status=status
    )


@owner_required
def index(request: PracticeRequest) -> HttpResponse:
    therapy_types = TherapyType.objects.for_practice(request.practice).order_by(
        "-is_active", "name"
    )
    return render(request, "therapies/index.html", {"therapy_types": therapy_types})


@owner_required
def create(request: PracticeRequest) -> HttpResponse:
    """A new type, blank or from a starter template (`?starter=reiki`)."""
    chosen = starter(request.POST.get("starter") or request.GET.get("starter"))
    with translation.override(request.practice.language):
        details = chosen.build() if chosen else {"custom_fields": []}
    form = TherapyTypeForm(request.POST or None, practice=request.practice)
    if request.method == "POST" and form.is_valid():
        therapy_type = services.therapy_type_create(
            practice=request.practice,
            actor=request.user,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            default_duration=form.cleaned_data["default_duration"],
            price=form.cleaned_data["price"],
            colour=form.cleaned_data["colour"],
            is_active=form.cleaned_data["is_active"],
            custom_fields=details["custom_fields"],
        )
        messages.success(request, _("“%(name)s” created.") % {"name": therapy_type.name})
        return redirect("therapies:edit", pk=therapy_type.pk)
    if request.method == "GET":
        used = set(
            TherapyType.objects.for_practice(request.practice).values_list("colour", flat=True)
        )
        form = TherapyTypeForm(
            practice=request.practice,
            initial={
                "name": details.get("name", ""),
                "description": details.get("description", ""),
                "default_duration": details.get("default_duration", 60),
                # No price to keep unnoticed: the Owner sets what the practice charges.
                "price": None,
                "colour": next((c for c in PALETTE if c not in used), PALETTE[0]),
                "is_active": True,
            },
        )
    return render(
        request,
        "therapies/create.html",
        {
            "form": form,
            "starters": STARTERS,
            "chosen": chosen,
            "starter_fields": _with_kind_labels(details["custom_fields"]),
        },
        status=422 if request.method == "POST" else 200,
    )


@owner_objects
def edit(request: PracticeRequest, pk: int) -> HttpResponse:
    therapy_type = _therapy_type(request, pk)
    if request.method != "POST":
        return render(request, EDIT_TEMPLATE, _edit_context(request, therapy_type))
    # The form writes into its instance while validating; keep the page's own copy clean.
    form = TherapyTypeForm(
        request.POST, instance=copy.copy(therapy_type), practice=request.practice
    )
    if not form.is_valid():
        return render(
            request,
            EDIT_TEMPLATE,
            _edit_context(request, therapy_type, details_form=form),
            status=422,
        )
    if form.changed_data:
        services.therapy_type_update(
            practice=request.practice,
            actor=request.user,
            therapy_type=therapy_type,
            changes={name: form.cleaned_data[name] for name in form.changed_data},
        )
    messages.success(request, _("“%(name)s” saved.") % {"name": therapy_type.name})
    return redirect("therapies:edit", pk=therapy_type.pk)


@owner_objects
def field_add(request: PracticeRequest, pk: int) -> HttpResponse:
    therapy_type = _therapy_type(request, pk)
    if request.method != "POST":
        return redirect(reverse("therapies:edit", args=[pk]) + "#fields-card")
    form = FieldDefinitionForm(request.POST, prefix="new")
    if form.is_valid():
        definition = form.new_definition(therapy_type.custom_fields, therapy_type.removed_keys)
        if definition is not None:
            try:
                therapy_type = services.therapy_field_add(
                    practice=request.practice,
                    actor=request.user,
                    therapy_type=therapy_type,
                    definition=definition,
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("Field “%(label)s” added.") % definition)
                return _fields_changed(request, therapy_type)
    return _fields_changed(request, therapy_type, new_field_form=form, status=422)


@owner_objects
def field_edit(request: PracticeRequest, pk: int, key: str) -> HttpResponse:
    """GET opens the field's editor in the fields card; POST saves it."""
    therapy_type = _therapy_type(request, pk)
    field = _field(therapy_type, key)
    form = FieldDefinitionForm(
        request.POST if request.method == "POST" else None,
        prefix="edit",
        initial=FieldDefinitionForm.initial_for(field),
        key_locked=True,
    )
    if request.method != "POST":
        return _fields_changed(request, therapy_type, editing=key, edit_form=form)
    if form.is_valid():
        try:
            therapy_type = services.therapy_field_update(
                practice=request.practice,
                actor=request.user,
                therapy_type=therapy_type,
                key=key,
                definition=form.definition(key=key, order=field["order"]),
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Field “%(label)s” saved.") % form.cleaned_data)
            return _fields_changed(request, therapy_type)
    return _fields_changed(request, therapy_type, editing=key, edit_form=form, status=422)


@owner_objects
def field_move(request: PracticeRequest, pk: int, key: str) -> HttpResponse:
    """Move a field one place up or down: the keyboard's way to reorder."""
    therapy_type = _therapy_type(request, pk)
    _field(therapy_type, key)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    delta = {"up": -1, "down": 1}.get(request.POST.get("direction", ""))
    if delta is None:
        return HttpResponse(_("Move a field up or down."), status=400)
    return _reorder(
        request,
        therapy_type,
        [f["key"] for f in schema.move_field(therapy_type.custom_fields, key, delta)],
    )


@owner_objects
def fields_reorder(request: PracticeRequest, pk: int) -> HttpResponse:
    """The whole order at once, as sent by dragging (static/js/holos.js)."""
    therapy_type = _therapy_type(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    return _reorder(request, therapy_type, request.POST.getlist("keys"))


def _reorder(request: PracticeRequest, therapy_type: TherapyType, keys: list[str]) -> HttpResponse:
    try:
        therapy_type = services.therapy_fields_reorder(
            practice=request.practice, actor=request.user, therapy_type=therapy_type, keys=keys
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return _fields_changed(request, therapy_type, status=422)
    messages.success(request, _("Order saved."))
    return _fields_changed(request, therapy_type)


@owner_objects
def field_remove(request: PracticeRequest, pk: int, key: str) -> HttpResponse:
    """GET asks for confirmation; POST removes the field from the form. Values already
    recorded under it stay stored and are shown as "(field removed)"."""
    therapy_type = _therapy_type(request, pk)
    field = _field(therapy_type, key)
    if request.method != "POST":
        return render(
            request, "therapies/field_remove.html", {"therapy_type": therapy_type, "field": field}
        )
    try:
        therapy_type = services.therapy_field_remove(
            practice=request.practice, actor=request.user, therapy_type=therapy_type, key=key
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return _fields_changed(request, therapy_type, status=422)
    messages.success(request, _("Field “%(label)s” removed.") % field)
    return _fields_changed(request, therapy_type)


@owner_objects
def field_preview(request: PracticeRequest, pk: int) -> HttpResponse:
    """Live preview of the field being added or edited, before it is saved."""
    therapy_type = _therapy_type(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    key = request.POST.get("editing", "")
    field = therapy_type.field(key) if key else None
    form = FieldDefinitionForm(
        request.POST,
        prefix="edit" if field else "new",
        initial=FieldDefinitionForm.initial_for(field) if field else None,
        key_locked=field is not None,
    )
    context: dict[str, Any]
    if form.is_valid():
        context = {
            "draft": CustomFieldsForm([form.definition(key="draft", order=0)], prefix="draft")
        }
    else:
        context = {
            "no_label": "label" in form.errors,
            "problems": [
                f"{form.fields[name].label}: {message}" if name in form.fields else message
                for name, messages_ in form.errors.items()
                for message in messages_
            ],
        }
    return render(request, f"{EDIT_TEMPLATE}#draft-preview", context)
