"""Issue 6's review journey in a real browser: a guest who attended writes a review, staff approve it
in the admin, and it appears on the tour page with the new average. Before approval, nobody else
sees it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from reviews.models import Review
from tests.reviews.helpers import make_review, make_tour, make_user, past_tour

pytestmark = pytest.mark.browser

TEXT = "Giulia made the Pantheon feel like our own living room. Unforgettable!"


def test_attendee_reviews_staff_approve_and_the_tour_page_shows_it_with_the_average(new_page, browser_problems):
    tour = past_tour(tour=make_tour(title="Pantheon at noon"), guests=2)
    earlier = make_review(tour.bookings[1], rating=3, status="approved")
    ada = tour.guest
    ada.name = "Ada Lovelace"
    ada.save()
    staff = make_user(role="staff", is_superuser=True, email="moderator@example.com")
    tour_url = tour.tour.get_absolute_url()

    # --- The guest, from her booking, rates the tour.
    guest = new_page(user=ada)
    guest.goto(tour.booking.get_absolute_url())
    guest.get_by_role("link", name="Rate this tour").click()
    expect(guest.locator("h1")).to_have_text("How was “Pantheon at noon”?")
    guest.get_by_role("button", name="Send my review").click()  # no stars chosen yet
    expect(guest.get_by_text("Choose between 1 and 5 stars.").first).to_be_visible()
    browser_problems.expect(r"status of 400")  # the form came back with its error, as intended
    guest.get_by_label("5 stars: excellent").check()
    guest.get_by_label("Your review (optional)").fill(TEXT)
    guest.get_by_role("button", name="Send my review").click()
    expect(guest.get_by_text("Thank you! Your review will be published once our team has read it.")).to_be_visible()
    expect(guest.locator("[data-moderation-notice]")).to_contain_text("Waiting for moderation")
    review = Review.objects.get(booking=tour.booking)

    # --- A visitor does not see it yet: one review, average 3.0.
    visitor = new_page()
    visitor.goto(tour_url)
    expect(visitor.locator("[data-review-average]")).to_have_text("3.0")
    expect(visitor.locator("[data-review-count]")).to_have_text("1 review")
    expect(visitor.get_by_text(TEXT)).to_have_count(0)

    # --- Staff approve it from the moderation queue, where it comes first.
    admin = new_page(user=staff)
    admin.goto("/admin/reviews/review/")
    first_row = admin.locator("#result_list tbody tr").first
    expect(first_row).to_contain_text("Waiting for moderation")
    expect(first_row).to_contain_text("Giulia made the Pantheon")
    first_row.get_by_role("link", name=re.compile("Giulia made the Pantheon")).click()
    expect(admin).to_have_url(re.compile(rf"/admin/reviews/review/{review.pk}/change/"))
    admin.get_by_role("button", name="Approve and publish").click()
    expect(admin.locator(".messagelist")).to_contain_text("Review approved and published; the author has been told.")

    # --- The tour page now shows it, with the new average and count.
    visitor.reload()
    expect(visitor.locator("[data-review-average]")).to_have_text("4.0")
    expect(visitor.locator("[data-review-count]")).to_have_text("2 reviews")
    published = visitor.locator(f'[data-review="{review.pk}"]')
    expect(published).to_contain_text(TEXT)
    expect(published).to_contain_text("Ada L.")
    expect(published.get_by_role("img", name="5 out of 5 stars")).to_be_visible()
    expect(visitor.locator(f'[data-review="{earlier.pk}"]')).to_be_visible()

    # --- And the guest was told, in her feed.
    guest.goto("/notifications/")
    expect(guest.get_by_text("Your review of Pantheon at noon is published")).to_be_visible()
