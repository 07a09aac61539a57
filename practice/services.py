"""Writes that span models or have side effects. Each writes its audit row in the same
transaction and leaves e-mail to a task enqueued on commit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from practice.models import (
    AuditEvent,
    Invitation,
    Language,
    Membership,
    Practice,
    Role,
    User,
)


def audit_record(
    *,
    practice: Practice,
    actor: User | None,
    action: str,
    target: models.Model | None = None,
    data: dict[str, Any] | None = None,
    patient_id: int | None = None,
    session_id: int | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Append one audit row. Carries ids and field names only, never clinical text.

    `patient_id` and `session_id` let Owners find everything done to one patient's
    records; `ip` is the client's address (`practice.http.client_ip`)."""
    return AuditEvent.objects.create(
        practice=practice,
        actor=actor,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        patient_id=patient_id,
        session_id=session_id,
        ip=ip,
        data=data or {},
    )


def _unique_slug(name: str) -> str:
    base = slugify(name)[:60] or "practice"
    slug, n = base, 1
    while Practice.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def practice_create(
    *,
    name: str,
    owner: User,
    time_zone: str = "America/Sao_Paulo",
    language: str = Language.PORTUGUESE_BRAZIL,
    currency: str = "BRL",
) -> Practice:
    """Create a practice with `owner` as its first Owner."""
    practice = Practice.objects.create(
        name=name,
        slug=_unique_slug(name),
        time_zone=time_zone,
        language=language,
        currency=currency,
    )
    membership = Membership.objects.create(practice=practice, user=owner, role=Role.OWNER)
    audit_record(practice=practice, actor=owner, action="practice.create", target=practice)
    audit_record(
        practice=practice,
        actor=owner,
        action="membership.create",
        target=membership,
        data={"role": Role.OWNER},
    )
    return practice


@transaction.atomic
def user_sign_up(
    *,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    language: str,
    practice_name: str,
    time_zone: str,
) -> tuple[User, Practice]:
    """A new person and their new practice, in which they are the Owner."""
    user = User.objects.create_user(
        email=email,
        password=password,
        first_name=first_name,
        last_name=last_name,
        language=language,
    )
    practice = practice_create(
        name=practice_name, owner=user, time_zone=time_zone, language=language
    )
    return user, practice


@transaction.atomic
def invitation_create(*, practice: Practice, actor: User, email: str, role: str) -> Invitation:
    """Invite `email` with `role`; an earlier pending invitation to the same address is
    replaced so only the newest link works."""
    from practice.tasks import invitation_send

    email = email.strip().lower()
    Invitation.objects.for_practice(practice).pending().filter(email__iexact=email).delete()
    invitation = Invitation.objects.create(
        practice=practice,
        email=email,
        role=role,
        invited_by=actor,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_VALID_DAYS),
    )
    audit_record(
        practice=practice,
        actor=actor,
        action="invitation.create",
        target=invitation,
        data={"role": role},
    )
    transaction.on_commit(lambda: invitation_send.delay(invitation.pk))
    return invitation


@transaction.atomic
def invitation_revoke(*, practice: Practice, actor: User, invitation: Invitation) -> None:
    audit_record(practice=practice, actor=actor, action="invitation.revoke", target=invitation)
    invitation.delete()


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """Join the invitation's practice. A former member comes back with the invited role."""
    if invitation.accepted_at is not None or invitation.expires_at <= timezone.now():
        raise ValidationError(_("This invitation has expired or was already used."))
    if user.email.lower() != invitation.email.lower():
        raise ValidationError(_("This invitation was sent to another email address."))
    membership, created = Membership.objects.select_for_update().get_or_create(
        practice=invitation.practice,
        user=user,
        defaults={"role": invitation.role},
    )
    if not created:
        if membership.is_active:
            raise ValidationError(_("You are already a member of this practice."))
        membership.role = invitation.role
        membership.is_active = True
        membership.save(update_fields=["role", "is_active"])
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    audit_record(
        practice=invitation.practice,
        actor=user,
        action="invitation.accept",
        target=membership,
        data={"role": invitation.role, "invitation": invitation.pk},
    )
    return membership


def _ensure_an_owner_remains(practice: Practice, changing: Membership) -> None:
    others = (
        Membership.objects.for_practice(practice)
        .active()
        .filter(role=Role.OWNER)
        .exclude(pk=changing.pk)
        .select_for_update()
    )
    if changing.is_owner and changing.is_active and not others.exists():
        raise ValidationError(
            _("A practice needs at least one active Owner. Make someone else Owner first.")
        )


@transaction.atomic
def membership_change_role(
    *, practice: Practice, actor: User, membership: Membership, role: str
) -> Membership:
    """Give a member another role; effective on their next request."""
    if role == membership.role:
        return membership
    if role != Role.OWNER:
        _ensure_an_owner_remains(practice, membership)
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        practice=practice,
        actor=actor,
        action="membership.role_change",
        target=membership,
        data={"from": old, "to": role},
    )
    return membership


@transaction.atomic
def membership_set_active(
    *, practice: Practice, actor: User, membership: Membership, active: bool
) -> Membership:
    """Deactivate (or reactivate) a member; they lose (or regain) access on their next
    request. Deactivating ends every session they have open."""
    if membership.is_active == active:
        return membership
    if not active:
        _ensure_an_owner_remains(practice, membership)
    membership.is_active = active
    membership.save(update_fields=["is_active"])
    if not active:  # and their open sessions end on their next request
        User.objects.filter(pk=membership.user_id).update(sessions_valid_after=timezone.now())
    audit_record(
        practice=practice,
        actor=actor,
        action="membership.activate" if active else "membership.deactivate",
        target=membership,
    )
    return membership


def practice_set_transcript_retention(*, practice: Practice, actor: User, days: int | None) -> bool:
    """Set how long the practice keeps transcripts (None: the plan's default; 0: for good).
    The next daily run of `transcripts_expire` applies it. Returns whether it changed."""
    return _practice_set(practice, actor, "transcript_retention_days", days, "practice.retention")


def practice_change_plan(*, practice: Practice, actor: User, plan: str) -> bool:
    """Switch the practice's plan (no billing yet). Nothing is deleted either way: a
    practice back on Free keeps its notes and Tera's index, and Tera's pages say how to
    turn it on again. Returns whether the plan changed."""
    return _practice_set(practice, actor, "plan", plan, "practice.plan")


@transaction.atomic
def _practice_set(practice: Practice, actor: User, field: str, value: Any, action: str) -> bool:
    """One setting of the practice changed, audited with its value before and after."""
    before = getattr(practice, field)
    if value == before:
        return False
    Practice.objects.filter(pk=practice.pk).update(**{field: value})
    setattr(practice, field, value)
    audit_record(
        practice=practice,
        actor=actor,
        action=action,
        target=practice,
        data={"before": before, "after": value},
    )
    return True
