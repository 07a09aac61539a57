from __future__ import annotations

from django.test import RequestFactory
from django.urls import reverse
from django.views.defaults import server_error


def test_server_error_page_renders_without_a_request_context():
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()


def test_not_found_page_is_friendly_and_in_the_users_language(client_for, therapist):
    therapist.language = "pt-br"
    therapist.save(update_fields=["language"])
    response = client_for(therapist).get("/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert 'class="error-page"' in html and reverse("home") in html
    assert 'lang="pt-br"' in html
