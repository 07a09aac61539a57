from django.contrib import admin

from patients.models import ConsentEvent, Patient


class ConsentEventInline(admin.TabularInline):
    model = ConsentEvent
    extra = 0
    can_delete = False
    fields = ("consent", "given", "at", "recorded_by")
    readonly_fields = fields

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    # Assign therapists in the app (patients.services), where it is granted and audited.
    list_display = ("full_name", "practice", "email", "phone", "archived_at", "created_at")
    list_filter = ("practice",)
    search_fields = ("full_name", "preferred_name", "email", "phone")
    readonly_fields = (
        "archived_at",
        "archived_by",
        "audio_consent_at",
        "audio_consent_by",
        "created_at",
        "updated_at",
    )
    inlines = (ConsentEventInline,)

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False
