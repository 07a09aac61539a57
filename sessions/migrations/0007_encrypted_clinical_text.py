"""Clinical text encrypted at rest (practice.fields): notes, amendments, custom-field
values, transcripts, AI notes and their history. The GIN index on custom values goes: the
database can no longer read them."""

from django.db import migrations

import practice.fields
from practice.fields import encrypt_existing


class Migration(migrations.Migration):
    dependencies = [
        ("therapy_sessions", "0006_clinical_notes"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="sessionnote",
            name="session_note_values_gin",
        ),
        migrations.AlterField(
            model_name="clinicalnote",
            name="quick_notes",
            field=practice.fields.EncryptedTextField(
                blank=True, max_length=5000, verbose_name="your quick notes"
            ),
        ),
        migrations.AlterField(
            model_name="clinicalnote",
            name="stream_text",
            field=practice.fields.EncryptedTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="clinicalnoteversion",
            name="content",
            field=practice.fields.EncryptedJSONField(default=dict),
        ),
        migrations.AlterField(
            model_name="clinicalnoteversion",
            name="instruction",
            field=practice.fields.EncryptedTextField(blank=True, max_length=500),
        ),
        migrations.AlterField(
            model_name="clinicalnoteversion",
            name="suggestions",
            field=practice.fields.EncryptedJSONField(blank=True, default=list),
        ),
        migrations.AlterField(
            model_name="livetext",
            name="text",
            field=practice.fields.EncryptedTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="noteproposal",
            name="instruction",
            field=practice.fields.EncryptedTextField(max_length=500, verbose_name="instruction"),
        ),
        migrations.AlterField(
            model_name="noteproposal",
            name="sections",
            field=practice.fields.EncryptedJSONField(blank=True, default=list),
        ),
        migrations.AlterField(
            model_name="noteproposal",
            name="stream_text",
            field=practice.fields.EncryptedTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="sessionamendment",
            name="text",
            field=practice.fields.EncryptedTextField(max_length=10000, verbose_name="amendment"),
        ),
        migrations.AlterField(
            model_name="sessionnote",
            name="custom_values",
            field=practice.fields.EncryptedJSONField(
                blank=True, default=dict, verbose_name="custom fields"
            ),
        ),
        migrations.AlterField(
            model_name="sessionnote",
            name="text",
            field=practice.fields.EncryptedTextField(
                blank=True, max_length=50000, verbose_name="session notes"
            ),
        ),
        migrations.AlterField(
            model_name="sessionnoterevision",
            name="changes",
            field=practice.fields.EncryptedJSONField(default=dict),
        ),
        migrations.AlterField(
            model_name="transcriptsegment",
            name="text",
            field=practice.fields.EncryptedTextField(max_length=50000, verbose_name="text"),
        ),
        migrations.AlterField(
            model_name="transcriptsegmentrevision",
            name="text_after",
            field=practice.fields.EncryptedTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="transcriptsegmentrevision",
            name="text_before",
            field=practice.fields.EncryptedTextField(blank=True),
        ),
        migrations.RunPython(
            *encrypt_existing(
                {
                    "therapy_sessions.SessionNote": ["text", "custom_values"],
                    "therapy_sessions.SessionNoteRevision": ["changes"],
                    "therapy_sessions.SessionAmendment": ["text"],
                    "therapy_sessions.LiveText": ["text"],
                    "therapy_sessions.TranscriptSegment": ["text"],
                    "therapy_sessions.TranscriptSegmentRevision": ["text_before", "text_after"],
                    "therapy_sessions.ClinicalNote": ["quick_notes", "stream_text"],
                    "therapy_sessions.ClinicalNoteVersion": [
                        "instruction",
                        "content",
                        "suggestions",
                    ],
                    "therapy_sessions.NoteProposal": ["instruction", "sections", "stream_text"],
                }
            )
        ),
    ]
