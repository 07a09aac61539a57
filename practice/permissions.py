"""Access helpers: who may reach a view. Which rows they see is the querysets' job."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from practice.models import Role

View = TypeVar("View", bound=Callable[..., HttpResponse])


def practice_required(view: View) -> View:
    """Signed in and an active member of the current practice; else sign in or pick one."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if getattr(request, "membership", None) is None:
            return redirect("no_practice")
        return view(request, *args, **kwargs)

    return cast(View, wrapped)


def role_required(*roles: Role, hide: bool = False) -> Callable[[View], View]:
    """Only members with one of `roles`; others get 403, or 404 when `hide` is set.

    Use `hide=True` where even knowing the page exists says too much (Tera for assistants).
    """

    def decorator(view: View) -> View:
        @practice_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.membership.role not in roles:  # type: ignore[attr-defined]
                if hide:
                    raise Http404
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return cast(View, wrapped)

    return decorator


owner_required = role_required(Role.OWNER)
# An object's page answers 404 to other roles, as it would for another practice's object.
owner_objects = role_required(Role.OWNER, hide=True)
