"""Two tabs sending the same review at the same instant: one review, the other told it exists."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from reviews import services
from reviews.models import Review
from reviews.selectors import ReviewNotAllowed
from tests.reviews.helpers import LONG_ENOUGH, past_tour

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_tabs_submitting_at_once_leave_one_review():
    tour = past_tour()
    tabs = 4
    gate = threading.Barrier(tabs)

    def submit(index):
        gate.wait(timeout=30)
        try:
            services.submit_review(author=tour.guest, booking_id=tour.booking.pk, rating=1 + index, text=LONG_ENOUGH)
            return "created"
        except ReviewNotAllowed as refusal:
            return refusal.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=tabs) as pool:
        outcomes = sorted(pool.map(submit, range(tabs)))

    assert outcomes == ["already_reviewed"] * (tabs - 1) + ["created"]
    assert Review.objects.filter(booking=tour.booking).count() == 1
