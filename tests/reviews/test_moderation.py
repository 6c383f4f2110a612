"""Moderation in Django admin: a queue (waiting first), approve or reject with a reason, in bulk
too, with hints for staff; the author is told either way (e-mail and in-app)."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from notifications.models import Notification, OutboundEmail
from reviews import services
from reviews.models import Review
from reviews.selectors import ReviewError, ReviewNotAllowed
from tests.reviews.helpers import LONG_ENOUGH, make_review, make_user, past_tour

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:reviews_review_changelist")


@pytest.fixture
def staff():
    return make_user(role="staff", is_superuser=True, email="moderator@example.com")


@pytest.fixture
def admin_client(staff):
    client = Client()
    client.force_login(staff)
    return client


def change_url(review):
    return reverse("admin:reviews_review_change", args=[review.pk])


def pending_review(**fields):
    tour = past_tour()
    return make_review(tour.booking, **{"rating": 4, "text": LONG_ENOUGH, **fields})


def emails_to(user):
    return list(OutboundEmail.objects.filter(to=[user.email]).order_by("pk"))


def changelist_row(html, pk):
    start = html.index(f'name="_selected_action" value="{pk}"')
    return html[start:].split("</tr>", 1)[0]


def test_the_queue_lists_waiting_reviews_first_oldest_first(admin_client):
    tour = past_tour(guests=3)
    approved = make_review(tour.bookings[0], status="approved")
    older = make_review(tour.bookings[1])
    newer = make_review(tour.bookings[2])

    html = admin_client.get(CHANGELIST).content.decode()
    rows = [int(pk) for pk in re.findall(r'name="_selected_action" value="(\d+)"', html)]
    assert rows == [older.pk, newer.pk, approved.pk]


def test_links_and_blocked_words_are_flagged_for_staff(admin_client):
    flagged = pending_review(text="What a scam! Book cheaper at www.other-tours.example instead.")
    clean = pending_review(text=LONG_ENOUGH)

    html = admin_client.get(CHANGELIST).content.decode()
    assert 'alt="True"' in changelist_row(html, flagged.pk)
    assert "scam" in changelist_row(html, flagged.pk)
    assert 'alt="False"' in changelist_row(html, clean.pk)
    detail = admin_client.get(change_url(flagged)).content.decode()
    assert "Contains a link or an e-mail address." in detail
    assert "Blocked words: scam." in detail


def test_the_hints_use_the_blocked_words_staff_keep_for_the_chat(admin_client):
    from chat.models import BlockedWord

    BlockedWord.objects.create(word="cheapskate")
    review = pending_review(text="Our guide was a total cheapskate with the gelato stops.")

    html = admin_client.get(change_url(review)).content.decode()
    assert "Blocked words: cheapskate." in html


def test_approving_publishes_and_tells_the_author_and_the_guide(admin_client, staff):
    review = pending_review()

    response = admin_client.post(change_url(review), {"rejection_reason": "", "guide_reply": "", "_approve": "1"})

    assert response.status_code == 302
    review.refresh_from_db()
    assert (review.status, review.moderated_by) == ("approved", staff)
    (email,) = emails_to(review.author)
    assert email.subject == f"Your review of {review.tour.title} is published"
    assert review.get_absolute_url() in email.body_text
    assert Notification.objects.filter(user=review.author, kind="review_approved").count() == 1
    assert Notification.objects.filter(user=review.guide.user, kind="review_published_guide").count() == 1


def test_rejecting_needs_a_reason_that_the_author_receives(admin_client):
    review = pending_review()

    refused = admin_client.post(change_url(review), {"rejection_reason": " ", "guide_reply": "", "_reject": "1"})
    assert refused.status_code == 200
    assert "Give the author a reason for the rejection." in refused.content.decode()
    assert Review.objects.get(pk=review.pk).status == "pending"
    assert not emails_to(review.author)

    admin_client.post(
        change_url(review),
        {"rejection_reason": "Please keep personal contact details out of reviews.", "guide_reply": "", "_reject": "1"},
    )
    review.refresh_from_db()
    assert (review.status, review.rejection_reason) == (
        "rejected",
        "Please keep personal contact details out of reviews.",
    )
    (email,) = emails_to(review.author)
    assert email.subject == f"Your review of {review.tour.title} was not published"
    assert "The reason: Please keep personal contact details out of reviews." in email.body_text
    notice = Notification.objects.get(user=review.author, kind="review_rejected")
    assert notice.url == review.get_absolute_url()


def test_bulk_approve_tells_each_author_once(admin_client):
    reviews = [pending_review() for _ in range(3)]
    already = pending_review(status="approved")

    response = admin_client.post(
        CHANGELIST,
        {"action": "approve_selected", "_selected_action": [review.pk for review in [*reviews, already]]},
        follow=True,
    )

    assert "3 reviews approved." in response.content.decode()
    assert set(Review.objects.values_list("status", flat=True)) == {"approved"}
    for review in reviews:
        assert len(emails_to(review.author)) == 1
    assert not emails_to(already.author)  # its decision did not change: nothing new to say


def test_bulk_reject_asks_for_one_reason_then_applies_it(admin_client):
    reviews = [pending_review() for _ in range(2)]
    selected = [review.pk for review in reviews]

    ask = admin_client.post(CHANGELIST, {"action": "reject_selected", "_selected_action": selected})
    assert ask.status_code == 200
    assert "These 2 reviews will be rejected" in ask.content.decode()
    assert set(Review.objects.values_list("status", flat=True)) == {"pending"}

    missing = admin_client.post(
        CHANGELIST, {"action": "reject_selected", "_selected_action": selected, "apply": "1", "reason": ""}
    )
    assert "Give the author a reason for the rejection." in missing.content.decode()

    done = admin_client.post(
        CHANGELIST,
        {"action": "reject_selected", "_selected_action": selected, "apply": "1", "reason": "Not about the tour."},
        follow=True,
    )
    assert "2 reviews rejected." in done.content.decode()
    for review in reviews:
        review.refresh_from_db()
        assert (review.status, review.rejection_reason) == ("rejected", "Not about the tour.")
        assert "Not about the tour." in emails_to(review.author)[0].body_text


def test_a_double_click_tells_the_author_once(staff):
    review = pending_review()
    assert services.approve_review(review_id=review.pk, by=staff) is not None
    assert services.approve_review(review_id=review.pk, by=staff) is None
    assert len(emails_to(review.author)) == 1


def test_a_published_review_can_be_taken_down_with_a_reason(staff):
    review = pending_review(status="approved")
    services.reject_review(review_id=review.pk, by=staff, reason="Reported as abusive.")
    assert Review.objects.get(pk=review.pk).status == "rejected"
    assert "Reported as abusive." in emails_to(review.author)[0].body_text


def test_only_staff_with_the_permission_moderate():
    review = pending_review()
    for person in (review.author, review.guide.user, make_user(is_staff=True)):
        with pytest.raises(ReviewNotAllowed):
            services.approve_review(review_id=review.pk, by=person)
    with pytest.raises(ReviewError):
        services.reject_review(review_id=review.pk, by=make_user(role="staff", is_superuser=True), reason="  ")
    assert Review.objects.get(pk=review.pk).status == "pending"
    client = Client()
    client.force_login(review.author)
    assert client.get(CHANGELIST).status_code == 302  # to the admin's log-in page


def test_staff_cannot_invent_a_reply_but_may_remove_one(admin_client):
    review = pending_review(status="approved")
    invented = admin_client.post(
        change_url(review), {"rejection_reason": "", "guide_reply": "From staff", "_continue": "1"}
    )
    assert "Only the guide writes a reply" in invented.content.decode()

    services.reply_to_review(by=review.guide.user, review_id=review.pk, text="Call me on +39 333 1234567")
    admin_client.post(change_url(review), {"rejection_reason": "", "guide_reply": "", "_continue": "1"})
    review.refresh_from_db()
    assert (review.guide_reply, review.replied_at) == ("", None)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_eager")
def test_the_outcome_reaches_the_author_through_a_real_smtp_server(smtp_transport):
    staff = make_user(role="staff", is_superuser=True)
    review = pending_review()

    services.reject_review(review_id=review.pk, by=staff, reason="Off topic.")

    (message,) = smtp_transport.wait_for(1)
    assert message.envelope_to == (review.author.email,)
    assert message["Subject"] == f"Your review of {review.tour.title} was not published"
    assert "The reason: Off topic." in message.message.get_content()
