from django.http import HttpResponse
from django.shortcuts import render

from practice.http import PracticeRequest
from practice.permissions import practice_required


@practice_required
def index(request: PracticeRequest) -> HttpResponse:
    return render(request, "payments/index.html")


# The payment pages are being written (issue 5); these names fix the URL contract.
def export_csv(request: PracticeRequest) -> HttpResponse:
    raise NotImplementedError


def detail(request: PracticeRequest, pk: int) -> HttpResponse:
    raise NotImplementedError


def mark_paid(request: PracticeRequest, pk: int) -> HttpResponse:
    raise NotImplementedError


def receipt(request: PracticeRequest, pk: int) -> HttpResponse:
    raise NotImplementedError
