"""Chunks' text and insights' content encrypted at rest (practice.fields)."""

from django.db import migrations

import practice.fields
from practice.fields import encrypt_existing


class Migration(migrations.Migration):
    dependencies = [
        ("tera", "0002_insights"),
    ]

    operations = [
        migrations.AlterField(
            model_name="chunk",
            name="text",
            field=practice.fields.EncryptedTextField(),
        ),
        migrations.AlterField(
            model_name="insight",
            name="content",
            field=practice.fields.EncryptedJSONField(blank=True, default=dict),
        ),
        migrations.RunPython(
            *encrypt_existing({"tera.Chunk": ["text"], "tera.Insight": ["content"]})
        ),
    ]
