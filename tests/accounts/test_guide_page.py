"""/guides/<slug>/: the public page of a guide with their published tours."""

import pytest
from django.urls import reverse

from tests.accounts.conftest import parse_page
from tests.factories import GuideProfileFactory, LanguageFactory, TourFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def guide():
    profile = GuideProfileFactory(display_name="Giulia Romano", city="Florence", bio="Uffizi nerd.\n\nAlso gelato.")
    profile.languages.set([LanguageFactory(code="it", name="Italian"), LanguageFactory(code="en", name="English")])
    return profile


def test_url_name(guide):
    assert reverse("accounts:guide_detail", kwargs={"slug": guide.slug}) == "/guides/giulia-romano/"


def test_shows_the_guide_and_only_their_published_tours(client, guide):
    published = TourFactory(guide=guide, title="Uffizi at dawn")
    TourFactory(guide=guide, title="Secret draft tour", status="draft")
    TourFactory(guide=guide, title="Cancelled tour", status="cancelled")
    TourFactory(title="Someone else's tour")

    response = client.get(guide.get_absolute_url())

    assert response.status_code == 200
    html = response.content.decode()
    assert "Giulia Romano" in html
    assert "Florence" in html
    assert "Italian" in html
    assert "English" in html
    assert "<p>Uffizi nerd.</p>" in html
    assert "<p>Also gelato.</p>" in html
    assert "Uffizi at dawn" in html
    assert f'href="{published.get_absolute_url()}"' in html
    assert "Secret draft tour" not in html
    assert "Cancelled tour" not in html
    assert "Someone else" not in html
    assert parse_page(response).h1_count == 1


def test_guide_without_published_tours_says_so(client, guide):
    TourFactory(guide=guide, title="Secret draft tour", status="draft")

    html = client.get(guide.get_absolute_url()).content.decode()

    assert "No tours are open for booking right now" in html


def test_unknown_slug_is_a_404(client):
    assert client.get("/guides/nobody-here/").status_code == 404


def test_a_deactivated_guide_has_no_public_page(client, guide):
    guide.user.is_active = False
    guide.user.save()

    assert client.get(guide.get_absolute_url()).status_code == 404


def test_a_former_guide_has_no_public_page(client, guide):
    guide.user.role = "customer"
    guide.user.save()

    assert client.get(guide.get_absolute_url()).status_code == 404


def test_text_written_by_the_guide_is_escaped(client):
    guide = GuideProfileFactory(display_name="<b>Bold</b>", bio="<script>alert(1)</script>")

    html = client.get(guide.get_absolute_url()).content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>Bold</b>" not in html


def test_photo_is_shown_with_a_text_alternative(client, guide):
    guide.photo = "guides/giulia.jpg"
    guide.save()

    html = client.get(guide.get_absolute_url()).content.decode()

    assert 'src="/media/guides/giulia.jpg"' in html
    assert 'alt="Photo of Giulia Romano"' in html
