"""Error reports (the e-mails Django sends to ADMINS on a server error, and the debug
page) with no clinical text in them: every form value, every query-string value and every
local variable of the traceback is hidden, whatever the view. What is left (the path, the
exception's type and line numbers, the headers) is enough to find the bug."""

from __future__ import annotations

from collections.abc import ItemsView
from types import FrameType
from typing import Any

from django.http import HttpRequest
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

# Request headers that repeat the query string (ours, the proxy's or the browser's).
URI_HEADERS = ("QUERY_STRING", "RAW_URI", "REQUEST_URI", "HTTP_REFERER", "HTTP_HX_CURRENT_URL")


class NoClinicalTextFilter(SafeExceptionReporterFilter):
    def is_active(self, request: HttpRequest | None) -> bool:
        return True  # in production and with DEBUG on alike

    def get_post_parameters(self, request: HttpRequest | None) -> dict[str, Any]:
        if request is None:
            return {}
        return dict.fromkeys(request.POST, self.cleansed_substitute)

    def get_traceback_frame_variables(
        self, request: HttpRequest | None, tb_frame: FrameType
    ) -> ItemsView[str, Any]:
        return dict.fromkeys(tb_frame.f_locals, self.cleansed_substitute).items()

    def get_safe_request_meta(self, request: HttpRequest) -> dict[str, Any]:
        meta = super().get_safe_request_meta(request)
        for name in URI_HEADERS:
            if name in meta:
                meta[name] = self.cleansed_substitute
        return meta


class NoClinicalTextReporter(ExceptionReporter):
    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        if self.request is not None:
            hidden = self.filter.cleansed_substitute
            data["request_GET_items"] = [(name, hidden) for name in self.request.GET]
            data["request_insecure_uri"] = self.request.path  # without the query string
        return data
