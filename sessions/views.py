from django.http import HttpResponse
from django.shortcuts import render

from practice.http import PracticeRequest
from practice.permissions import practice_required


@practice_required
def calendar(request: PracticeRequest) -> HttpResponse:
    return render(request, "sessions/calendar.html")
