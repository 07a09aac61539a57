from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from therapies.models import TherapyType
from therapies.schema import validate_schema


def test_demo_practice_offers_the_three_starter_therapies(db):
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())

    therapy_types = list(TherapyType.objects.order_by("default_duration", "name"))
    assert len(therapy_types) == 3
    assert [t.default_duration for t in therapy_types] == [60, 60, 90]
    for therapy_type in therapy_types:
        assert validate_schema(therapy_type.custom_fields) == therapy_type.custom_fields
        assert therapy_type.currency == "BRL" and therapy_type.price > 0
    keys = {f["key"] for t in therapy_types for f in t.custom_fields}
    assert {"chakras", "energy_before", "theme", "representatives", "bars"} <= keys
