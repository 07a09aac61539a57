"""The staff admin shows that sessions happened, never what was said in them: SessionNote,
its revisions and amendments are deliberately not registered (the note barrier holds
here too; tests/sessions/test_barrier.py checks the registry)."""

from django.contrib import admin

from sessions.models import Session


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    # Read-only: sessions are recorded and changed in the app, where it is audited.
    list_display = ("starts_at", "practice", "therapist", "therapy_type", "minutes")
    list_filter = ("practice",)
    fields = (
        "practice",
        "appointment",
        "patient",
        "therapist",
        "therapy_type",
        "starts_at",
        "minutes",
    )
    readonly_fields = fields

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False
