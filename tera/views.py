from django.http import HttpResponse
from django.shortcuts import render

from practice.http import PracticeRequest
from practice.models import Role
from practice.permissions import role_required


@role_required(Role.OWNER, Role.THERAPIST, hide=True)
def index(request: PracticeRequest) -> HttpResponse:
    return render(request, "tera/index.html")
