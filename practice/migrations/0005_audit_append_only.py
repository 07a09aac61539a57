from django.db import migrations

# Audit rows are only ever added. The trigger refuses UPDATE and DELETE whoever asks
# (the app, the admin, a shell), so history cannot be rewritten through Django at all.
# TRUNCATE is left to the database owner (the test runner empties tables with it).
FORWARD = """
CREATE FUNCTION practice_auditevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER practice_auditevent_append_only
    BEFORE UPDATE OR DELETE ON practice_auditevent
    FOR EACH ROW EXECUTE FUNCTION practice_auditevent_append_only();
"""
BACKWARD = """
DROP TRIGGER practice_auditevent_append_only ON practice_auditevent;
DROP FUNCTION practice_auditevent_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("practice", "0004_practice_details_audit_ids")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
