"""PDF documents (receipts, exported session records) drawn by WeasyPrint from templates.

A PDF never fetches anything: its stylesheet is read from static/ here and every URL in
the document is refused, so nothing in a record can make the server reach out."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers
from weasyprint import CSS, HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

STYLESHEET = "css/print.css"


class _NothingFetched(URLFetcher):
    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        raise ValueError(f"PDFs load no resources: {url}")


@cache
def _stylesheet() -> CSS:
    path = finders.find(STYLESHEET)
    if not isinstance(path, str):
        raise FileNotFoundError(STYLESHEET)
    return CSS(string=Path(path).read_text(encoding="utf-8"))


def render_pdf(template_name: str, context: dict[str, Any]) -> bytes:
    html = render_to_string(template_name, context)
    pdf: bytes = HTML(string=html, url_fetcher=_NothingFetched()).write_pdf(
        stylesheets=[_stylesheet()]
    )
    return pdf


def pdf_response(template_name: str, context: dict[str, Any], *, filename: str) -> HttpResponse:
    """A PDF download. Never cached: receipts and records name patients."""
    response = HttpResponse(render_pdf(template_name, context), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    add_never_cache_headers(response)
    return response
