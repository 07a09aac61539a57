"""Writes to therapy types. Every change of the custom fields goes through
`validate_schema()` under a row lock, so an invalid schema is never saved and two Owners
editing at once cannot lose each other's changes."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.db import transaction

from practice.models import Practice, User
from practice.services import audit_record
from therapies import schema
from therapies.models import TherapyType
from therapies.schema import Field

DETAILS = ("name", "description", "default_duration", "price", "colour", "is_active")


@transaction.atomic
def therapy_type_create(
    *,
    practice: Practice,
    actor: User,
    name: str,
    default_duration: int,
    price: Decimal,
    description: str = "",
    colour: str = "#2f6f62",
    is_active: bool = True,
    custom_fields: list[Field] | None = None,
) -> TherapyType:
    """Create a therapy type priced in the practice's currency. Raises ValidationError
    if the custom fields are not a valid schema."""
    therapy_type = TherapyType(
        practice=practice,
        name=name,
        description=description,
        default_duration=default_duration,
        price=price,
        currency=practice.currency,
        colour=colour,
        is_active=is_active,
        custom_fields=schema.validate_schema(custom_fields or []),
    )
    therapy_type.full_clean(exclude=["practice"])
    therapy_type.save()
    audit_record(
        practice=practice,
        actor=actor,
        action="therapy_type.create",
        target=therapy_type,
        data={"keys": [f["key"] for f in therapy_type.custom_fields]},
    )
    return therapy_type


@transaction.atomic
def therapy_type_update(
    *, practice: Practice, actor: User, therapy_type: TherapyType, changes: dict[str, Any]
) -> TherapyType:
    """Change a type's details (not its fields). The price is in the practice's currency."""
    unknown = set(changes) - set(DETAILS)
    if unknown:
        raise ValueError(f"not a therapy type detail: {sorted(unknown)}")
    for name, value in changes.items():
        setattr(therapy_type, name, value)
    therapy_type.currency = practice.currency
    therapy_type.save(update_fields=[*changes, "currency", "updated_at"])
    audit_record(
        practice=practice,
        actor=actor,
        action="therapy_type.update",
        target=therapy_type,
        data={"fields": sorted(changes)},
    )
    return therapy_type


def _change_fields(
    *,
    practice: Practice,
    actor: User,
    therapy_type: TherapyType,
    action: str,
    key: str,
    change: Callable[[list[Field]], tuple[list[Field], Field | None]],
) -> TherapyType:
    """Apply `change` to the freshly locked schema, validate the result and save it.

    `change` returns the new fields and, when it removes one, the removed definition."""
    locked = TherapyType.objects.for_practice(practice).select_for_update().get(pk=therapy_type.pk)
    fields, removed = change(locked.custom_fields)
    removed_fields = [*locked.removed_fields, removed] if removed else locked.removed_fields
    locked.custom_fields = schema.validate_schema(
        fields, removed_keys=[f["key"] for f in removed_fields]
    )
    locked.removed_fields = removed_fields
    locked.save(update_fields=["custom_fields", "removed_fields", "updated_at"])
    audit_record(practice=practice, actor=actor, action=action, target=locked, data={"key": key})
    return locked


@transaction.atomic
def therapy_field_add(
    *, practice: Practice, actor: User, therapy_type: TherapyType, definition: Field
) -> TherapyType:
    """Append a field. Raises ValidationError (nothing saved) if the schema would be invalid."""
    return _change_fields(
        practice=practice,
        actor=actor,
        therapy_type=therapy_type,
        action="therapy_type.field_add",
        key=definition["key"],
        change=lambda fields: (schema.add_field(fields, definition), None),
    )


@transaction.atomic
def therapy_field_update(
    *, practice: Practice, actor: User, therapy_type: TherapyType, key: str, definition: Field
) -> TherapyType:
    """Relabel or otherwise change a field; its key, kind and position stay."""
    return _change_fields(
        practice=practice,
        actor=actor,
        therapy_type=therapy_type,
        action="therapy_type.field_update",
        key=key,
        change=lambda fields: (schema.replace_field(fields, key, definition), None),
    )


@transaction.atomic
def therapy_field_remove(
    *, practice: Practice, actor: User, therapy_type: TherapyType, key: str
) -> TherapyType:
    """Remove a field from the form. Values already stored under its key stay stored and
    its definition is kept in `removed_fields`, so its key is never reused."""
    return _change_fields(
        practice=practice,
        actor=actor,
        therapy_type=therapy_type,
        action="therapy_type.field_remove",
        key=key,
        change=lambda fields: schema.remove_field(fields, key),
    )


@transaction.atomic
def therapy_fields_reorder(
    *, practice: Practice, actor: User, therapy_type: TherapyType, keys: list[str]
) -> TherapyType:
    """Put the fields in the order of `keys`, which must name each current field once."""
    return _change_fields(
        practice=practice,
        actor=actor,
        therapy_type=therapy_type,
        action="therapy_type.fields_reorder",
        key="",
        change=lambda fields: (schema.reorder(fields, keys), None),
    )
