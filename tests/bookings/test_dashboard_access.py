import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from bookings import services
from bookings.models import Tour
from tests.factories import GuideFactory, GuideProfileFactory, LanguageFactory, TourFactory, UserFactory

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("bookings:dashboard")
CREATE = reverse("bookings:tour_create")


def edit_url(tour) -> str:
    return reverse("bookings:tour_edit", kwargs={"slug": tour.slug})


def valid_data(**overrides):
    LanguageFactory()
    data = {
        "title": "Hijacked",
        "city": "Rome",
        "category": "walking",
        "languages": ["en"],
        "duration_minutes": 60,
        "price": "10.00",
        "currency": "EUR",
        "max_group_size": 5,
        "timezone": "Europe/Rome",
        "status": "published",
    }
    return data | overrides


@pytest.mark.parametrize("page", ["dashboard", "create", "edit"])
def test_anonymous_visitors_are_sent_to_log_in(client, page):
    url = {"dashboard": DASHBOARD, "create": CREATE, "edit": edit_url(TourFactory())}[page]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={url}"


@pytest.mark.parametrize("page", ["dashboard", "create", "edit"])
def test_customers_get_403(client, page):
    tour = TourFactory()
    client.force_login(UserFactory(role="customer"))
    url = {"dashboard": DASHBOARD, "create": CREATE, "edit": edit_url(tour)}[page]
    assert client.get(url).status_code == 403


def test_a_customer_cannot_create_a_tour_by_posting(client):
    client.force_login(UserFactory(role="customer"))
    assert client.post(CREATE, valid_data()).status_code == 403
    assert not Tour.objects.exists()


def test_a_guide_without_a_profile_gets_403(client):
    client.force_login(GuideFactory())
    assert client.get(DASHBOARD).status_code == 403
    assert client.get(CREATE).status_code == 403


def test_staff_who_are_not_guides_get_403_on_the_dashboard(client):
    client.force_login(UserFactory(role="staff", is_staff=True))
    assert client.get(DASHBOARD).status_code == 403


def test_a_guide_editing_another_guides_tour_gets_403_and_nothing_changes(client):
    tour = TourFactory(title="Giulia's tour")
    client.force_login(GuideProfileFactory().user)

    assert client.get(edit_url(tour)).status_code == 403
    assert client.post(edit_url(tour), valid_data()).status_code == 403

    assert Tour.objects.get(pk=tour.pk).title == "Giulia's tour"


def test_editing_an_unknown_tour_is_404_for_a_guide(client):
    client.force_login(GuideProfileFactory().user)
    assert client.get(reverse("bookings:tour_edit", kwargs={"slug": "nope"})).status_code == 404


def test_the_service_refuses_another_guides_edit_even_when_called_directly():
    tour = TourFactory.create(title="Mine")
    intruder = GuideProfileFactory.create().user
    data = valid_data(languages=list(tour.languages.all()))
    with pytest.raises(PermissionDenied):
        services.update_tour(tour=tour, by=intruder, data=data)
    assert Tour.objects.get(pk=tour.pk).title == "Mine"


def test_the_service_refuses_a_guide_turned_customer():
    tour = TourFactory.create(title="Mine")
    owner = tour.guide.user
    owner.role = "customer"
    owner.save()
    with pytest.raises(PermissionDenied):
        services.update_tour(tour=tour, by=owner, data=valid_data(languages=list(tour.languages.all())))


def test_dashboard_lists_all_of_the_guides_own_tours_and_no_one_elses(client):
    guide = GuideProfileFactory()
    published = TourFactory(guide=guide, title="Published one")
    draft = TourFactory(guide=guide, title="Draft one", status="draft")
    cancelled = TourFactory(guide=guide, title="Cancelled one", status="cancelled")
    TourFactory(title="Someone else's")
    client.force_login(guide.user)

    response = client.get(DASHBOARD)

    assert response.status_code == 200
    assert [tour.title for tour in response.context["tours"]] == ["Cancelled one", "Draft one", "Published one"]
    content = response.content.decode()
    assert "Someone else" not in content
    for tour in (published, draft, cancelled):
        assert edit_url(tour) in content
    assert CREATE in content
