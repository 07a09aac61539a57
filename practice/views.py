from __future__ import annotations

import csv
import json
from typing import cast

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from practice import services
from practice import two_factor as two_factor_auth
from practice.audit import AuditFilter, audit_rows
from practice.forms import (
    AcceptInvitationForm,
    AccountForm,
    EmailAuthenticationForm,
    InvitationForm,
    MembershipRoleForm,
    PlanForm,
    PracticeSettingsForm,
    SignUpForm,
    TranscriptRetentionForm,
    TwoFactorCodeForm,
    TwoFactorSetupForm,
)
from practice.http import (
    MaybePracticeRequest,
    PracticeRequest,
    client_ip,
    spreadsheet_safe,
    wants_fragment,
)
from practice.middleware import SESSION_KEY
from practice.models import AuditEvent, Invitation, Membership, Plan, Practice, Role, User
from practice.permissions import owner_objects, owner_required, practice_required
from practice.sign_in_audit import TWO_FACTOR_VERIFIED, sign_in_record

# --- Home and practice choice ---------------------------------------------------------


def home(request: MaybePracticeRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    if request.membership is None:
        return redirect("no_practice")
    return redirect("sessions:calendar")


@login_required
def no_practice(request: MaybePracticeRequest) -> HttpResponse:
    if request.membership is not None:
        return redirect("home")
    return render(request, "practice/no_practice.html")


@login_required
def practice_new(request: MaybePracticeRequest) -> HttpResponse:
    """A signed-in person starts another practice of their own."""
    form = PracticeSettingsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        practice = services.practice_create(
            name=form.cleaned_data["name"],
            owner=request.user,  # type: ignore[arg-type]
            time_zone=form.cleaned_data["time_zone"],
            language=form.cleaned_data["language"],
            currency=form.cleaned_data["currency"],
        )
        request.session[SESSION_KEY] = practice.pk
        messages.success(request, _("Practice “%(name)s” created.") % {"name": practice.name})
        return redirect("home")
    if request.method == "GET":
        form = PracticeSettingsForm(initial={"time_zone": "America/Sao_Paulo", "currency": "BRL"})
    return render(request, "practice/practice_new.html", {"form": form})


@practice_required
def practice_switch(request: PracticeRequest, pk: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.of_user(request.user), practice_id=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    request.session[SESSION_KEY] = membership.practice_id
    messages.info(request, _("You are now in %(name)s.") % {"name": membership.practice.name})
    return redirect("home")


# --- Accounts -------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    form_class = EmailAuthenticationForm
    redirect_authenticated_user = True


def _next_or(request: HttpRequest, default: str) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return default


@login_required
@never_cache
def two_factor(request: MaybePracticeRequest) -> HttpResponse:
    """The second step of signing in: the authenticator app's code."""
    user = cast(User, request.user)
    device = two_factor_auth.confirmed_device(user)
    if device is None:
        return redirect(reverse("accounts:two_factor_setup") + _query(request))
    form = TwoFactorCodeForm(request.POST or None, device=device)
    if request.method == "POST" and form.is_valid():
        two_factor_auth.mark_verified(request, device)
        sign_in_record(
            user=user, action=TWO_FACTOR_VERIFIED, request=request, data={"device": device.pk}
        )
        return redirect(_next_or(request, reverse("home")))
    if request.method == "POST":
        two_factor_auth.wrong_code_record(request, form, step="sign_in")
    return render(
        request,
        "registration/two_factor.html",
        {"form": form, "next": _next_or(request, ""), "signing_in": True},
        status=422 if request.method == "POST" else 200,
    )


@login_required
@never_cache
def two_factor_setup(request: MaybePracticeRequest) -> HttpResponse:
    """Set up the authenticator app (required of Owners and Therapists before anything
    else; offered to Assistants on their account page). Replacing an app asks for the
    password again, and must come from a session that passed the current one."""
    user = cast(User, request.user)
    current = two_factor_auth.confirmed_device(user)
    if current is not None and not two_factor_auth.is_verified(request):
        return redirect(reverse("accounts:two_factor") + _query(request))
    device = two_factor_auth.pending_device(user)
    form = TwoFactorSetupForm(
        request.POST or None, device=device, replacing_for=user if current else None
    )
    if request.method == "POST" and form.is_valid():
        two_factor_auth.confirm(request, device)
        messages.success(request, _("Two-factor authentication is on for your account."))
        return redirect(_next_or(request, reverse("accounts:account")))
    if request.method == "POST":
        two_factor_auth.wrong_code_record(request, form, step="setup")
    context = {
        "form": form,
        "next": _next_or(request, ""),
        "replacing": current is not None,
        "qr": two_factor_auth.qr_svg(device),
        "secret": two_factor_auth.secret_for_typing(device),
        "signing_in": not two_factor_auth.is_verified(request),
    }
    status = 422 if request.method == "POST" else 200
    return render(request, "registration/two_factor_setup.html", context, status=status)


def _query(request: HttpRequest) -> str:
    wanted = _next_or(request, "")
    return "?" + urlencode({"next": wanted}) if wanted else ""


def signup(request: MaybePracticeRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user, practice = services.user_sign_up(
            email=data["email"],
            password=data["password1"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            language=data["language"],
            practice_name=data["practice_name"],
            time_zone=data["time_zone"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        request.session[SESSION_KEY] = practice.pk
        messages.success(request, _("Welcome to Holos. Your practice is ready."))
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def account(request: MaybePracticeRequest) -> HttpResponse:
    form = AccountForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your account was updated."))
        return redirect("accounts:account")
    user = cast(User, request.user)
    context = {
        "form": form,
        "two_factor_on": two_factor_auth.confirmed_device(user) is not None,
        "two_factor_required": two_factor_auth.is_required(request.memberships),  # type: ignore[attr-defined]
    }
    return render(request, "registration/account.html", context)


def invitation(request: MaybePracticeRequest, token: str) -> HttpResponse:
    """Accept an invitation. A signed-in person must be the invited address; anyone
    else, like a missing or expired token, gets 404."""
    invitation = get_object_or_404(
        Invitation.objects.pending().select_related("practice"), token=token
    )
    user = request.user
    if user.is_authenticated:
        if user.email.lower() != invitation.email.lower():
            raise Http404
        if request.method == "POST":
            return _accept(request, invitation, user)
        return render(request, "registration/invitation.html", {"invitation": invitation})

    # Users are not practice-owned (one person, many practices); this only asks whether the
    # invited address already has an account, to send them to sign in instead of sign up.
    existing = User.objects.filter(email__iexact=invitation.email).first()
    if existing is not None:
        messages.info(request, _("Sign in as %(email)s to accept.") % {"email": existing.email})
        return redirect(f"{reverse_lazy('accounts:login')}?next={request.path}")
    form = AcceptInvitationForm(
        request.POST or None,
        email=invitation.email,
        initial={"language": invitation.practice.language},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        new_user = User.objects.create_user(
            email=invitation.email,
            password=data["password1"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            language=data["language"],
        )
        login(request, new_user, backend="django.contrib.auth.backends.ModelBackend")
        return _accept(request, invitation, new_user)
    return render(request, "registration/invitation.html", {"invitation": invitation, "form": form})


def _accept(request: HttpRequest, invitation: Invitation, user: User) -> HttpResponse:
    try:
        membership = services.invitation_accept(invitation=invitation, user=user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("home")
    request.session[SESSION_KEY] = membership.practice_id
    messages.success(request, _("You joined %(name)s.") % {"name": invitation.practice.name})
    return redirect("home")


password_reset = auth_views.PasswordResetView.as_view(
    success_url=reverse_lazy("accounts:password_reset_done"),
    subject_template_name="registration/password_reset_subject.txt",
    email_template_name="registration/password_reset_email.txt",
)
password_reset_confirm = auth_views.PasswordResetConfirmView.as_view(
    success_url=reverse_lazy("accounts:password_reset_complete")
)
password_change = auth_views.PasswordChangeView.as_view(
    success_url=reverse_lazy("accounts:password_change_done")
)


# --- Practice settings and members (Owners) -------------------------------------------
# Views with an object id look it up in scope before checking the method, so another
# practice's id answers 404 whatever the method, exactly like a missing one.


@owner_required
def practice_settings(request: PracticeRequest) -> HttpResponse:
    form = PracticeSettingsForm(request.POST or None, instance=request.practice)
    if request.method == "POST" and form.is_valid():
        form.save()
        services.audit_record(
            practice=request.practice,
            actor=request.user,
            action="practice.update",
            target=request.practice,
            data={"fields": form.changed_data},
        )
        messages.success(request, _("Practice settings saved."))
        return redirect("practice:settings")
    return _settings_page(request, form)


def _settings_page(
    request: PracticeRequest,
    form: PracticeSettingsForm | None = None,
    retention_form: TranscriptRetentionForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "form": form or PracticeSettingsForm(instance=request.practice),
        "plan_form": PlanForm(instance=request.practice),
        "retention_form": retention_form or TranscriptRetentionForm(instance=request.practice),
    }
    return render(request, "practice/settings.html", context, status=status)


@require_POST
@owner_required
def practice_retention(request: PracticeRequest) -> HttpResponse:
    """How long transcripts are kept (the card on the Settings page)."""
    # A copy: an invalid value must not reach the practice the page is drawn from.
    form = TranscriptRetentionForm(
        request.POST,
        instance=Practice(
            plan=request.practice.plan,
            transcript_retention_days=request.practice.transcript_retention_days,
        ),
    )
    if not form.is_valid():
        return _settings_page(request, retention_form=form, status=422)
    if services.practice_set_transcript_retention(
        practice=request.practice,
        actor=request.user,
        days=form.cleaned_data["transcript_retention_days"],
    ):
        messages.success(request, _("Transcript retention saved."))
    return redirect(reverse("practice:settings") + "#retention")


@require_POST
@owner_required
def practice_plan(request: PracticeRequest) -> HttpResponse:
    form = PlanForm(request.POST, instance=Practice(plan=request.practice.plan))
    if not form.is_valid():
        messages.error(request, _("Choose Free or Pro."))
        return redirect("practice:settings")
    if services.practice_change_plan(
        practice=request.practice, actor=request.user, plan=form.cleaned_data["plan"]
    ):
        if request.practice.plan == Plan.PRO:
            messages.success(request, _("Your practice is on Pro: Tera’s insights are on."))
        else:
            messages.success(request, _("Your practice is on Free. Nothing was deleted."))
    return redirect(_next_or(request, reverse("practice:settings")))


def _members_context(request: PracticeRequest) -> dict[str, object]:
    members = list(
        Membership.objects.for_practice(request.practice)
        .select_related("user")
        .annotate(
            role_order=Case(
                When(role=Role.OWNER, then=Value(0)),
                When(role=Role.THERAPIST, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
        )
        .order_by("-is_active", "role_order", "user__first_name", "user__email")
    )
    active_owners = [m.pk for m in members if m.is_owner and m.is_active]
    return {
        "members": members,
        "roles": Role.choices,
        # The last active Owner can be neither demoted nor deactivated: don't offer it.
        "sole_owner_id": active_owners[0] if len(active_owners) == 1 else None,
    }


def _invitations_context(
    request: PracticeRequest, form: InvitationForm | None = None
) -> dict[str, object]:
    return {
        "invitations": list(
            Invitation.objects.for_practice(request.practice).pending().select_related("invited_by")
        ),
        "invite_form": form if form is not None else InvitationForm(practice=request.practice),
    }


@owner_required
def members(request: PracticeRequest) -> HttpResponse:
    return render(
        request,
        "practice/members.html",
        {**_members_context(request), **_invitations_context(request)},
    )


@require_POST
@owner_required
def member_invite(request: PracticeRequest) -> HttpResponse:
    form = InvitationForm(request.POST, practice=request.practice)
    if not form.is_valid():
        template = "practice/members.html#invitations" if request.htmx else "practice/members.html"
        context = _invitations_context(request, form)
        if not request.htmx:
            context.update(_members_context(request))
        return render(request, template, context, status=422)
    invitation = services.invitation_create(
        practice=request.practice,
        actor=request.user,
        email=form.cleaned_data["email"],
        role=form.cleaned_data["role"],
    )
    messages.success(request, _("Invitation sent to %(email)s.") % {"email": invitation.email})
    if not request.htmx:
        return redirect("practice:members")
    return render(request, "practice/members.html#invitations", _invitations_context(request))


@owner_objects
def invitation_revoke(request: PracticeRequest, pk: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation.objects.for_practice(request.practice), pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    services.invitation_revoke(practice=request.practice, actor=request.user, invitation=invitation)
    messages.success(request, _("Invitation to %(email)s revoked.") % {"email": invitation.email})
    return redirect("practice:members")


def _member(request: PracticeRequest, pk: int) -> Membership:
    return get_object_or_404(
        Membership.objects.for_practice(request.practice).select_related("user"), pk=pk
    )


@owner_objects
def member_role(request: PracticeRequest, pk: int) -> HttpResponse:
    membership = _member(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = MembershipRoleForm(request.POST, instance=Membership(role=membership.role))
    status = 200
    if form.is_valid():
        try:
            services.membership_change_role(
                practice=request.practice,
                actor=request.user,
                membership=membership,
                role=form.cleaned_data["role"],
            )
            messages.success(
                request,
                _("%(name)s is now %(role)s.")
                % {"name": membership.user.display_name, "role": membership.get_role_display()},
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            status = 422
    else:
        messages.error(request, _("Choose one of the offered roles."))
        status = 422
    if request.htmx:
        return render(
            request, "practice/members.html#members-card", _members_context(request), status=status
        )
    return redirect("practice:members")


@owner_objects
def member_active(request: PracticeRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST deactivates or reactivates the member."""
    membership = _member(request, pk)
    if request.method != "POST":
        return render(request, "practice/member_active.html", {"m": membership})
    activate = not membership.is_active
    try:
        services.membership_set_active(
            practice=request.practice, actor=request.user, membership=membership, active=activate
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("practice:members")
    if activate:
        messages.success(
            request, _("%(name)s has access again.") % {"name": membership.user.display_name}
        )
    else:
        messages.success(
            request,
            _("%(name)s was deactivated and loses access on their next request.")
            % {"name": membership.user.display_name},
        )
    if membership.user_id == request.user.pk and not activate:
        return redirect("home")
    return redirect("practice:members")


# --- Audit log (Owners) ---------------------------------------------------------------

AUDIT_PAGE_SIZE = 50


def _audit_filter(request: PracticeRequest) -> tuple[AuditFilter, QuerySet[AuditEvent]]:
    events = (
        AuditEvent.objects.for_practice(request.practice)
        .select_related("actor")
        .order_by("-created_at", "-pk")
    )
    return AuditFilter(request.GET, queryset=events, practice=request.practice), events


@require_safe
@never_cache
@owner_required
def audit(request: PracticeRequest) -> HttpResponse:
    """The practice's audit events, newest first, filtered. Read only: audit rows cannot be
    changed or deleted (a database trigger refuses it), so nothing here offers to."""
    audit_filter, events = _audit_filter(request)
    page = Paginator(audit_filter.qs, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": audit_filter.form,
        "page": page,
        "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2),
        "rows": audit_rows(request.practice, page.object_list),
        # Only asked when the page is empty: "nothing yet" or "nothing matches"?
        "has_events": page.paginator.count > 0 or events.exists(),
    }
    template = (
        "practice/audit.html#audit-rows" if wants_fragment(request) else "practice/audit.html"
    )
    return render(request, template, context)


AUDIT_EXPORT_BATCH = 500


@require_safe
@owner_required
def audit_export(request: PracticeRequest) -> HttpResponse:
    """The filtered audit log, every page of it, as CSV, with each row's place in the
    practice's hash chain (so a copy kept elsewhere can be checked against the database
    later). The export is itself audited."""
    audit_filter, _events = _audit_filter(request)
    if not audit_filter.is_valid():
        messages.error(request, _("Correct the filters before exporting."))
        return redirect(reverse("practice:audit") + "?" + request.GET.urlencode())
    events = audit_filter.qs
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    day = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="audit-{day}.csv"'
    add_never_cache_headers(response)
    response.write("\ufeff")  # Excel reads the file as UTF-8
    writer = csv.writer(response)
    writer.writerow(
        [
            _("When"),
            _("Member"),
            _("Action"),
            _("Code"),
            _("Object"),
            _("Patient"),
            _("Session"),
            _("IP address"),
            _("Details"),
            _("Number in the chain"),
            _("Hash"),
        ]
    )
    count = 0
    for start in range(0, events.count(), AUDIT_EXPORT_BATCH):
        for row in audit_rows(request.practice, events[start : start + AUDIT_EXPORT_BATCH]):
            event = row.event
            writer.writerow(
                [
                    timezone.localtime(event.created_at).isoformat(timespec="seconds"),
                    spreadsheet_safe(event.actor.email if event.actor else ""),
                    spreadsheet_safe(str(row.label)),
                    event.action,
                    f"{event.target_type}:{event.target_id}" if event.target_type else "",
                    spreadsheet_safe(row.patient_name or ""),
                    event.session_id or "",
                    event.ip or "",
                    spreadsheet_safe(json.dumps(event.data, ensure_ascii=False, sort_keys=True)),
                    event.seq or "",
                    event.chain_hash,
                ]
            )
            count += 1
    services.audit_record(
        practice=request.practice,
        actor=request.user,
        action="audit.export",
        ip=client_ip(request),
        data={"rows": count, "filters": sorted(k for k, v in request.GET.items() if v)},
    )
    return response
