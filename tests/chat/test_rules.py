"""The room's pure rules: text cleaning, blocked words, windows, slow mode, aggregation, presence."""

from datetime import UTC, datetime, timedelta

import pytest

from chat import rules
from chat.rules import PresenceStatus, Rate, RuleViolation

NOW = datetime(2026, 12, 10, 9, 0, 7, tzinfo=UTC)


def test_text_is_trimmed_and_control_and_format_characters_are_removed():
    assert rules.clean_text("  ciao\u0000 a\u202etutti\u200b \r\n\r\n\r\n\r\nbye\t! ", max_chars=500) == (
        "ciao atutti \n\nbye !"
    )


def test_emoji_sequences_keep_their_joiners():
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467 ❤️"
    assert rules.clean_text(family, max_chars=500) == family


@pytest.mark.parametrize("text", ["", "   ", "\u200b\u200b", "\n\n"])
def test_nothing_left_after_cleaning_is_empty(text):
    with pytest.raises(RuleViolation) as refused:
        rules.clean_text(text, max_chars=500)
    assert refused.value.code == "empty"


def test_length_is_counted_in_characters_after_trimming():
    assert len(rules.clean_text("  " + "è" * 500 + "  ", max_chars=500)) == 500
    with pytest.raises(RuleViolation) as refused:
        rules.clean_text("😊" * 501, max_chars=500)
    assert refused.value.code == "too_long"


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("this is BAD", "bad"),
        ("\uff42\uff41\uff44 news", "bad"),  # full-width letters, NFKC
        ("b\u200bad idea", "bad"),  # a zero-width space hidden inside
        ("Straße", "strasse"),  # casefold: ß -> ss
        ("what a   rotten  egg", "rotten egg"),  # a phrase, any spacing
        ("badminton is fun", None),  # whole words only
        ("notbad", None),
        ("bad_guy", None),  # _ is a word character
        ("(bad)", "bad"),
    ],
)
def test_blocked_words_match_whole_words_after_normalisation(text, hit):
    found = rules.find_blocked(text, ["bad", "STRASSE", "rotten egg"])
    assert (" ".join(found.split()) if found else None) == hit


def test_an_empty_list_blocks_nothing():
    assert rules.find_blocked("anything", []) is None


def test_the_rate_window_says_how_long_until_it_ends():
    index, retry_after = rules.rate_window(NOW, Rate(limit=5, window_seconds=10))
    assert index == int(NOW.timestamp()) // 10
    assert retry_after == 3  # 09:00:07 -> the window ends at 09:00:10


def test_slow_mode_wait():
    assert rules.slow_mode_wait(last_sent_at=None, now=NOW, seconds=30) == 0
    assert rules.slow_mode_wait(last_sent_at=NOW - timedelta(seconds=10), now=NOW, seconds=0) == 0
    assert rules.slow_mode_wait(last_sent_at=NOW - timedelta(seconds=10), now=NOW, seconds=30) == 20
    assert rules.slow_mode_wait(last_sent_at=NOW - timedelta(seconds=29.5), now=NOW, seconds=30) == 1
    assert rules.slow_mode_wait(last_sent_at=NOW - timedelta(seconds=30), now=NOW, seconds=30) == 0


def test_reaction_deltas_are_what_changed_since_the_last_batch():
    assert rules.reaction_deltas({"👍": 10, "🎉": 2}, {"👍": 7, "🎉": 2}) == {"👍": 3}
    assert rules.reaction_deltas({"👍": 4}, {}) == {"👍": 4}
    assert rules.reaction_deltas({"👍": 4}, {"👍": 9}) == {"👍": 4}  # the store was reset


def test_participant_status():
    assert rules.participant_status(connected=True, last_seen_at=NOW - timedelta(hours=1), now=NOW) == (
        PresenceStatus.CONNECTED
    )
    assert rules.participant_status(connected=False, last_seen_at=NOW - timedelta(seconds=20), now=NOW) == (
        PresenceStatus.RECONNECTING
    )
    assert rules.participant_status(connected=False, last_seen_at=NOW - timedelta(seconds=61), now=NOW) == (
        PresenceStatus.LEFT
    )
