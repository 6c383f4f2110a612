"""reviews.rules: pure functions, no database."""

from datetime import UTC, datetime, timedelta

import pytest

from reviews import rules


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", None),
        ("x" * 19, "too_short"),
        ("x" * 20, None),
        ("x" * 2000, None),
        ("x" * 2001, "too_long"),
    ],
)
def test_text_is_optional_but_when_given_between_20_and_2000_characters(text, problem):
    assert rules.text_problem(text) == problem


@pytest.mark.parametrize(
    "text",
    [
        "Book directly at https://cheap-tours.example/rome instead",
        "see www.example.org for more",
        "my site: romewalks.com",
        "write me at marco@example.it",
    ],
)
def test_links_domains_and_addresses_are_flagged(text):
    assert rules.contains_link(text)


@pytest.mark.parametrize(
    "text", ["A wonderful morning. The guide was great.", "5.0 stars... really!", "Ate 3.5 kg of pasta"]
)
def test_ordinary_sentences_are_not_links(text):
    assert not rules.contains_link(text)


def test_blocked_words_match_whole_words_whatever_case_or_accents():
    words = ("scam", "truffa")
    assert rules.blocked_words_in("What a SCAM. Una TRUFFÀ!", words) == ("scam", "truffa")
    assert rules.blocked_words_in("Scampi were delicious", words) == ()


def test_moderation_hints_combine_both_checks():
    hints = rules.moderation_hints("Total scam, go to www.other.example", ("scam",))
    assert hints.has_link
    assert hints.blocked_words == ("scam",)
    assert hints.any
    assert not rules.moderation_hints("Lovely tour, thank you so much!", ("scam",)).any


def test_rating_summary_average_count_and_distribution():
    summary = rules.rating_summary({5: 3, 4: 1, 1: 1})
    assert summary.count == 5
    assert summary.average == pytest.approx(4.0)
    assert summary.distribution == ((5, 3, 60), (4, 1, 20), (3, 0, 0), (2, 0, 0), (1, 1, 20))


def test_rating_summary_of_nothing_has_no_average():
    summary = rules.rating_summary({})
    assert (summary.count, summary.average) == (0, None)
    assert [count for _stars, count, _percent in summary.distribution] == [0] * 5


def test_request_two_hours_after_the_end_and_reminder_three_days_after_the_request():
    ended = datetime(2026, 12, 10, 10, 35, tzinfo=UTC)
    assert rules.request_due_at(ended) == ended + timedelta(hours=2)
    assert rules.reminder_due_at(ended) == ended + timedelta(days=3)


@pytest.mark.parametrize(
    ("name", "shown"), [("Ada Lovelace", "Ada L."), ("Ada", "Ada"), ("  ", ""), ("Maria de la Cruz", "Maria C.")]
)
def test_reviewers_are_shown_by_first_name_and_initial(name, shown):
    assert rules.public_name(name) == shown
