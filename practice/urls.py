from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from practice import views

accounts = (
    [
        path("login/", views.LoginView.as_view(), name="login"),
        path("logout/", auth_views.LogoutView.as_view(), name="logout"),
        path("signup/", views.signup, name="signup"),
        path("account/", views.account, name="account"),
        path("two-factor/", views.two_factor, name="two_factor"),
        path("two-factor/setup/", views.two_factor_setup, name="two_factor_setup"),
        path("invitations/<str:token>/", views.invitation, name="invitation"),
        path("password/reset/", views.password_reset, name="password_reset"),
        path(
            "password/reset/sent/",
            auth_views.PasswordResetDoneView.as_view(),
            name="password_reset_done",
        ),
        path(
            "password/reset/<uidb64>/<token>/",
            views.password_reset_confirm,
            name="password_reset_confirm",
        ),
        path(
            "password/reset/done/",
            auth_views.PasswordResetCompleteView.as_view(),
            name="password_reset_complete",
        ),
        path("password/change/", views.password_change, name="password_change"),
        path(
            "password/change/done/",
            auth_views.PasswordChangeDoneView.as_view(),
            name="password_change_done",
        ),
    ],
    "accounts",
)

practice = (
    [
        path("new/", views.practice_new, name="new"),
        path("<int:pk>/switch/", views.practice_switch, name="switch"),
        path("settings/", views.practice_settings, name="settings"),
        path("settings/plan/", views.practice_plan, name="plan"),
        path("settings/retention/", views.practice_retention, name="retention"),
        path("members/", views.members, name="members"),
        path("members/invite/", views.member_invite, name="member_invite"),
        path("members/<int:pk>/role/", views.member_role, name="member_role"),
        path("members/<int:pk>/active/", views.member_active, name="member_active"),
        path("invitations/<int:pk>/revoke/", views.invitation_revoke, name="invitation_revoke"),
        path("audit/", views.audit, name="audit"),
        path("audit/export.csv", views.audit_export, name="audit_export"),
    ],
    "practice",
)

urlpatterns = [
    path("", views.home, name="home"),
    path("welcome/", views.no_practice, name="no_practice"),
    path("accounts/", include(accounts)),
    path("practice/", include(practice)),
    path("practice/therapies/", include("therapies.urls")),
    # The calendar under calendar/, session records under sessions/.
    path("", include("sessions.urls")),
    path("patients/", include("patients.urls")),
    path("payments/", include("payments.urls")),
    path("tera/", include("tera.urls")),
    path("admin/", admin.site.urls),
]
