from django.urls import path

from sessions import feeds
from sessions.views import appointments as views
from sessions.views import note_templates, notes, recordings, records

app_name = "sessions"
urlpatterns = [
    path("calendar/", views.calendar, name="calendar"),
    path("calendar/appointments/new/", views.appointment_new, name="appointment_new"),
    path("calendar/appointments/patients/", views.patient_options, name="patient_options"),
    path("calendar/feed/", feeds.calendar_feed, name="calendar_feed"),
    path("calendar/feed/<str:token>.ics", feeds.calendar_feed_ics, name="calendar_feed_ics"),
    path("calendar/appointments/<int:pk>/", views.appointment_edit, name="appointment_edit"),
    path(
        "calendar/appointments/<int:pk>/cancel/",
        views.appointment_cancel,
        name="appointment_cancel",
    ),
    path(
        "calendar/appointments/<int:pk>/status/",
        views.appointment_status,
        name="appointment_status",
    ),
    path("calendar/appointments/<int:pk>/move/", views.appointment_move, name="appointment_move"),
    path("calendar/appointments/<int:pk>/record/", records.record, name="record"),
    path("sessions/new/", records.walk_in, name="walk_in"),
    path("sessions/<int:pk>/", records.detail, name="detail"),
    path("sessions/<int:pk>/edit/", records.edit, name="edit"),
    path("sessions/<int:pk>/sign/", records.sign, name="sign"),
    path("sessions/<int:pk>/amend/", records.amend, name="amend"),
    path("sessions/<int:pk>/export.pdf", records.export, name="export"),
    path(
        "calendar/appointments/<int:pk>/recordings/",
        recordings.appointment_recordings,
        name="recordings",
    ),
    path(
        "calendar/appointments/<int:pk>/recordings/start/",
        recordings.recording_start,
        name="recording_start",
    ),
    path(
        "calendar/appointments/<int:pk>/recordings/upload/",
        recordings.recording_upload,
        name="recording_upload",
    ),
    path("recordings/<int:pk>/", recordings.recording_detail, name="recording"),
    path(
        "recordings/<int:pk>/chunks/<int:seq>/",
        recordings.recording_chunk,
        name="recording_chunk",
    ),
    path("recordings/<int:pk>/stop/", recordings.recording_stop, name="recording_stop"),
    path("recordings/<int:pk>/cancel/", recordings.recording_cancel, name="recording_cancel"),
    path("recordings/<int:pk>/retry/", recordings.recording_retry, name="recording_retry"),
    path("recordings/<int:pk>/speakers/", recordings.recording_speakers, name="recording_speakers"),
    path(
        "recordings/<int:pk>/segments/<int:segment>/",
        recordings.segment_edit,
        name="segment_edit",
    ),
    path("calendar/appointments/<int:pk>/notes/", notes.appointment_notes, name="notes"),
    path("notes/<int:pk>/", notes.note_detail, name="note"),
    path("notes/<int:pk>/regenerate/", notes.note_regenerate, name="note_regenerate"),
    path("notes/<int:pk>/assist/", notes.note_assist, name="note_assist"),
    path(
        "notes/<int:pk>/proposals/<int:proposal>/",
        notes.note_proposal,
        name="note_proposal",
    ),
    path("notes/<int:pk>/sections/<slug:key>/", notes.note_section, name="note_section"),
    path("notes/<int:pk>/fields/<slug:key>/", notes.note_suggestion, name="note_suggestion"),
    path("notes/<int:pk>/export.pdf", notes.note_export_pdf, name="note_export_pdf"),
    path("notes/<int:pk>/export.docx", notes.note_export_docx, name="note_export_docx"),
    path("notes/<int:pk>/export.txt", notes.note_export_text, name="note_export_text"),
    path("note-templates/", note_templates.template_list, name="note_templates"),
    path("note-templates/new/", note_templates.template_new, name="note_template_new"),
    path("note-templates/<int:pk>/", note_templates.template_edit, name="note_template_edit"),
    path(
        "note-templates/<int:pk>/archive/",
        note_templates.template_archive,
        name="note_template_archive",
    ),
]
