# Assignments made before the direct-foreign-key tables existed live in guardian's generic
# tables; move them, or every therapist would lose their patients on upgrade.

from django.db import migrations


def to_direct(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Patient = apps.get_model("patients", "Patient")
    try:
        patient_type = ContentType.objects.get(app_label="patients", model="patient")
    except ContentType.DoesNotExist:
        return
    moves = (
        ("UserObjectPermission", "PatientUserObjectPermission", "user_id"),
        ("GroupObjectPermission", "PatientGroupObjectPermission", "group_id"),
    )
    existing = set(Patient.objects.values_list("pk", flat=True))
    for generic_name, direct_name, holder in moves:
        Generic = apps.get_model("guardian", generic_name)
        Direct = apps.get_model("patients", direct_name)
        rows = Generic.objects.filter(content_type=patient_type)
        Direct.objects.bulk_create(
            [
                Direct(
                    content_object_id=int(row.object_pk),
                    permission_id=row.permission_id,
                    **{holder: getattr(row, holder)},
                )
                for row in rows
                if row.object_pk.isdigit() and int(row.object_pk) in existing
            ],
            ignore_conflicts=True,
        )
        rows.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("guardian", "0003_remove_groupobjectpermission_guardian_gr_content_ae6aec_idx_and_more"),
        ("patients", "0002_patient_details_consent_direct_permissions"),
    ]

    operations = [migrations.RunPython(to_direct, migrations.RunPython.noop)]
