"""The whole allauth chain through our templates: sign up, confirm by e-mail, log in, reset."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.accounts.conftest import assert_accessible_form_page, link_in, parse_page
from tests.factories import DEMO_PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-42"


def _sign_up(client, email="ada@example.com", password=DEMO_PASSWORD):
    return client.post(reverse("account_signup"), {"email": email, "password1": password, "password2": password})


def _log_in(client, email, password):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def _is_logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_signup_creates_an_unverified_customer_and_mails_a_confirmation_link(client):
    response = _sign_up(client)

    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")
    user = get_user_model().objects.get(email="ada@example.com")
    assert user.role == "customer"
    assert not EmailAddress.objects.get(user=user).verified
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ada@example.com"]
    assert mail.outbox[0].subject == "[Italy From Couch] Confirm your e-mail address"
    assert "/accounts/confirm-email/" in mail.outbox[0].body


def test_confirmation_link_shows_a_confirm_page_and_post_confirms_so_the_user_can_log_in(client):
    _sign_up(client)
    confirm_path = link_in(mail.outbox[0], "/accounts/confirm-email/")

    page = client.get(confirm_path)
    assert page.status_code == 200
    assert "ada@example.com" in page.content.decode()
    assert parse_page(page).h1_count == 1
    # A GET must not confirm by itself (mail scanners follow links).
    assert not EmailAddress.objects.get(email="ada@example.com").verified

    confirmed = client.post(confirm_path)
    assert confirmed.status_code == 302
    assert EmailAddress.objects.get(email="ada@example.com").verified

    browser = Client()
    logged_in = _log_in(browser, "ada@example.com", DEMO_PASSWORD)
    assert logged_in.status_code == 302
    assert logged_in.url == reverse("bookings:home")
    assert _is_logged_in(browser)


def test_unverified_user_cannot_log_in(client):
    _sign_up(client)

    browser = Client()
    response = _log_in(browser, "ada@example.com", DEMO_PASSWORD)

    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")
    assert not _is_logged_in(browser)
    assert not _is_logged_in(client)  # signing up does not log in either


def test_an_invalid_confirmation_link_says_so_instead_of_failing(client):
    response = client.get(reverse("account_confirm_email", kwargs={"key": "not-a-real-key"}))

    assert response.status_code == 200
    assert "expired or is not valid" in response.content.decode()
    assert parse_page(response).h1_count == 1


def test_wrong_password_is_a_form_error_and_does_not_log_in(client, verified_user):
    response = _log_in(client, verified_user.email, "wrong-password")

    assert response.status_code == 200
    assert not _is_logged_in(client)
    html = response.content.decode()
    assert 'role="alert"' in html
    assert "not correct" in html
    assert_accessible_form_page(response)


def test_signup_errors_are_tied_to_their_fields(client):
    response = client.post(reverse("account_signup"), {"email": "not-an-email", "password1": "x", "password2": "y"})

    assert response.status_code == 200
    assert not get_user_model().objects.exists()
    page = assert_accessible_form_page(response)
    email_input = next(control for control in page.inputs if control.get("name") == "email")
    assert email_input.get("aria-invalid") == "true"
    assert "id_email_error" in (email_input.get("aria-describedby") or "")


def test_detected_time_zone_and_language_become_the_new_profile_defaults(client):
    client.post(reverse("accounts:detect_preferences"), {"timezone": "America/New_York", "language": "it-IT"})

    _sign_up(client)

    user = get_user_model().objects.get(email="ada@example.com")
    assert (user.timezone, user.language) == ("America/New_York", "it")


def test_password_reset_link_sets_a_new_password_and_the_old_one_stops_working(client, verified_user):
    requested = client.post(reverse("account_reset_password"), {"email": verified_user.email})
    assert requested.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "[Italy From Couch] Choose a new password"
    reset_path = link_in(mail.outbox[0], "/accounts/password/reset/key/")

    # allauth swaps the key in the URL for a session entry, so the key never leaks via Referer.
    form_page = client.get(reset_path, follow=True)
    assert form_page.status_code == 200
    assert_accessible_form_page(form_page)
    action = form_page.redirect_chain[-1][0]
    changed = client.post(action, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert changed.status_code == 302

    old = Client()
    assert _log_in(old, verified_user.email, DEMO_PASSWORD).status_code == 200  # form shown again
    assert not _is_logged_in(old)
    new = Client()
    assert _log_in(new, verified_user.email, NEW_PASSWORD).status_code == 302
    assert _is_logged_in(new)


def test_a_used_password_reset_link_is_refused(client, verified_user):
    client.post(reverse("account_reset_password"), {"email": verified_user.email})
    reset_path = link_in(mail.outbox[0], "/accounts/password/reset/key/")
    action = client.get(reset_path, follow=True).redirect_chain[-1][0]
    client.post(action, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    again = Client().get(reset_path)

    assert again.status_code == 200
    assert "is not valid" in again.content.decode()


@pytest.mark.parametrize(
    "url_name",
    ["account_login", "account_signup", "account_reset_password"],
)
def test_entrance_pages_render_in_the_site_layout_with_labelled_fields(client, url_name):
    response = client.get(reverse(url_name))

    assert response.status_code == 200
    assert 'id="main"' in response.content.decode()  # the site's base.html, not allauth's layout
    assert_accessible_form_page(response)


@pytest.mark.parametrize("url_name", ["account_email", "account_change_password", "account_logout"])
def test_account_management_pages_render_in_the_site_layout(client, verified_user, url_name):
    client.force_login(verified_user)

    response = client.get(reverse(url_name))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="main"' in html
    assert parse_page(response).h1_count == 1
    if url_name == "account_email":
        assert verified_user.email in html


def test_logging_out_takes_a_post(client, verified_user):
    client.force_login(verified_user)

    client.post(reverse("account_logout"))

    assert not _is_logged_in(client)


def test_adding_an_address_on_the_email_page_mails_a_confirmation_link(client, verified_user):
    client.force_login(verified_user)

    response = client.post(reverse("account_email"), {"email": "second@example.com", "action_add": ""})

    assert response.status_code == 302
    assert EmailAddress.objects.filter(user=verified_user, email="second@example.com", verified=False).exists()
    assert mail.outbox[-1].to == ["second@example.com"]
    assert "/accounts/confirm-email/" in mail.outbox[-1].body


def test_single_address_mode_page_renders_without_inline_styles(rf, verified_user):
    # allauth picks email_change.html at import time when ACCOUNT_CHANGE_EMAIL is on, so render
    # the template directly with the context its view gives it.
    from allauth.account.forms import AddEmailForm
    from django.template.loader import render_to_string

    request = rf.get("/accounts/email/")
    request.user = verified_user
    pending = EmailAddress(user=verified_user, email="new@example.com", verified=False)
    context = {
        "form": AddEmailForm(user=verified_user, data={"email": "bad"}),
        "current_emailaddress": EmailAddress.objects.get(user=verified_user),
        "new_emailaddress": pending,
        "emailaddresses": [],
    }

    html = render_to_string("account/email_change.html", context, request=request)

    assert "Change your e-mail address" in html
    assert "new@example.com" in html
    assert "style=" not in html
    assert 'aria-invalid="true"' in html
    assert html.count("<h1") == 1
