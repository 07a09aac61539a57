"""`manage.py check --deploy`: production refuses to start without its encryption keys,
rather than failing at the first note or recording."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

from practice import crypto

KEYS: list[tuple[str, Callable[[], object]]] = [
    ("practice.E001", crypto.master_key),  # AUDIO_ENCRYPTION_KEY
    ("practice.E002", crypto.field_cipher),  # FIELD_ENCRYPTION_KEYS
]


@register(Tags.security, deploy=True)
def encryption_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for check_id, load in KEYS:
        try:
            load()
        except ImproperlyConfigured as error:
            errors.append(Error(str(error), hint="See the README's configuration.", id=check_id))
    return errors
