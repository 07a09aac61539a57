"""A recording says when its transcript was deleted under the retention policy."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('therapy_sessions', '0007_encrypted_clinical_text'),
    ]

    operations = [
        migrations.AddField(
            model_name='recording',
            name='transcript_expired_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='recording',
            name='transcript_retention_days',
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
    ]
