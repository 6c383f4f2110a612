"""The live room beside the video, in Chromium: a guide and two guests in one live tour.

Real parts throughout: uvicorn with the signalling consumer and the room (chat/), PostgreSQL,
Chromium with its fake camera (fixtures.py). Where a test needs a network that misbehaves (an
ack lost with the socket, a guest offline for a while) Playwright's WebSocket routing sits between
the page and the real server and drops or closes the connection; the server is never faked.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chat.models import BlockedWord, ChatMessage, Question
from chat.rules import clean_text
from tests.e2e.test_accessibility import _problems_on
from tests.e2e.test_live_pages import broadcast_url, open_session, wait_for_playing_video, watch_url

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
ROOM_TIMEOUT_MS = 20_000


def _make(factory_name: str, **fields: Any) -> Any:
    from tests import factories

    return getattr(factories, factory_name)(**fields)


def booked_guest(session: Any, **fields: Any) -> Any:
    guest = _make("UserFactory", **fields)
    _make("BookingFactory", user=guest, slot=session.slot)
    return guest


# --- Page helpers ---------------------------------------------------------------------------------


def wait_joined(page: Any) -> None:
    """The room's snapshot arrived on this page's current connection."""
    page.wait_for_selector("#room[data-state='joined']", state="attached", timeout=ROOM_TIMEOUT_MS)


def watch_joined(session: Any, *pages: Any) -> None:
    """Each page opens the session's watch page; then every one of them has joined the room."""
    for page in pages:
        page.goto(watch_url(session))
    for page in pages:
        wait_joined(page)


def send_chat(page: Any, text: str) -> None:
    page.locator("#room-tab-chat").click()
    page.locator("#room-chat-input").fill(text)
    page.locator("#room-chat-input").press("Enter")


def chat_texts(page: Any) -> list[str]:
    """The texts of the numbered (stored) messages, top to bottom."""
    texts: list[str] = page.evaluate(
        "() => [...document.querySelectorAll('#room-chat-list > li[data-seq] .room-message__text')]"
        ".map((node) => node.textContent)"
    )
    return texts


def wait_for_chat(page: Any, text: str) -> None:
    page.wait_for_function(
        "(text) => [...document.querySelectorAll('#room-chat-list > li[data-seq] .room-message__text')]"
        ".some((node) => node.textContent === text)",
        arg=text,
        timeout=ROOM_TIMEOUT_MS,
    )


def message_item(page: Any, text: str) -> Any:
    return page.locator("#room-chat-list > li[data-seq]").filter(
        has=page.locator(".room-message__text", has_text=re.compile(f"^{re.escape(text)}$"))
    )


def question_item(page: Any, text: str) -> Any:
    return page.locator("#room-question-list > li").filter(
        has=page.locator(".room-question__text", has_text=re.compile(f"^{re.escape(text)}$"))
    )


def ask(page: Any, text: str, *, private: bool = False) -> None:
    page.locator("#room-tab-questions").click()
    page.locator("#room-question-input").fill(text)
    page.locator("#room-question-private").set_checked(private)
    page.locator("#room-question-ask").click()


def clock_text(moment: datetime, zone: str) -> str:
    """How en-US shows hour and minute ("01:34 PM"), computed here rather than by the page."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%I:%M %p")


def drop_connection(sides: tuple[Any, Any]) -> None:
    """The network drops the page's socket (routed through Playwright): both ends close."""
    page_side, server_side = sides
    server_side.close()
    page_side.close(code=1006, reason="network lost")


def record_dialog(dialogs: list[str], dialog: Any) -> None:
    """An alert/confirm/prompt opened: an injected script ran. Remembered, then dismissed."""
    dialogs.append(dialog.message)
    dialog.dismiss()


def csp_violations(page: Any) -> list[Any]:
    violations: list[Any] = page.evaluate("() => window.__cspViolations")
    return violations


# --- Tests ------------------------------------------------------------------------------------------------


def test_guide_and_two_guests_chat_react_ask_and_moderate_and_everyone_sees_it(new_page: Any) -> None:
    session = open_session()
    guide_name = session.slot.guide.display_name
    anna = booked_guest(session, name="Anna", timezone="", country="Italy")
    ben = booked_guest(session, name="Ben", timezone="America/New_York")
    guide_page = new_page(user=session.slot.guide.user)
    guide_page.goto(broadcast_url(session))
    wait_for_playing_video(guide_page, "#live-preview")
    guide_page.locator("#live-go").click(timeout=15_000)
    # Anna's browser is in Kolkata and asks for less motion; Ben's profile says New York, his phone UTC.
    anna_page = new_page(user=anna, timezone_id="Asia/Kolkata", reduced_motion="reduce")
    ben_page = new_page(user=ben, timezone_id="UTC", **PHONE)
    watch_joined(session, anna_page, ben_page)
    wait_joined(guide_page)

    # Presence: everyone sees two guests; the guide sees who they are.
    anna_page.wait_for_function("() => document.querySelector('#room-viewers').textContent === '2'")
    guide_page.locator("#room-tab-people").click()
    for guest in (anna, ben):
        guide_page.wait_for_selector(f"#room-people-list li[data-user-id='{guest.pk}'][data-status=connected]")
    people = guide_page.locator("#room-people-list").inner_text()
    assert "Anna" in people
    assert "Ben" in people
    assert "Italy" in people
    assert anna_page.locator("#room-tab-people").is_hidden()  # guests get no participant list

    # Typing, then a message: seen by the others, acked for the sender, times in each reader's zone.
    anna_page.locator("#room-chat-input").fill("Buongiorno")
    ben_page.wait_for_function("() => document.querySelector('#room-typing').textContent === 'Anna is typing…'")
    send_chat(anna_page, "Buongiorno from Kolkata!")
    for page in (guide_page, ben_page, anna_page):
        wait_for_chat(page, "Buongiorno from Kolkata!")
    anna_page.wait_for_selector("#room-chat-list > li[data-seq]:not([data-state='pending'])")
    assert anna_page.locator("#room-chat-list > li[data-state='pending']").count() == 0
    stored = ChatMessage.objects.get(session=session, text="Buongiorno from Kolkata!")
    assert message_item(anna_page, "Buongiorno from Kolkata!").locator("time").inner_text() == clock_text(
        stored.created_at, "Asia/Kolkata"
    )
    assert message_item(ben_page, "Buongiorno from Kolkata!").locator("time").inner_text() == clock_text(
        stored.created_at, "America/New_York"
    )
    ben_page.wait_for_function("() => document.querySelector('#room-typing').textContent === ''", timeout=10_000)
    send_chat(guide_page, "Welcome to the Pantheon!")
    wait_for_chat(anna_page, "Welcome to the Pantheon!")
    meta = message_item(anna_page, "Welcome to the Pantheon!").locator(".room-message__meta")
    assert meta.locator(".room-message__author").inner_text() == guide_name
    assert meta.locator(".room-badge").inner_text() == "Guide"

    # A reaction floats over the others' video (still for Anna, who asked for less motion) and counts.
    ben_page.locator("#room-reactions button[data-emoji='❤️']").click()
    guide_float = guide_page.wait_for_selector(".live__stage .room-float__item", state="attached")
    assert guide_float.text_content() == "❤️"
    assert guide_float.evaluate("(node) => getComputedStyle(node).animationName") == "room-float-up"
    anna_float = anna_page.wait_for_selector("#live-stage .room-float__item", state="attached")
    assert anna_float.evaluate("(node) => node.classList.contains('room-float__item--still')")
    assert anna_float.evaluate("(node) => getComputedStyle(node).animationName") == "none"
    anna_page.wait_for_function(
        "() => document.querySelector(\"button[data-emoji='❤️'] .room-reaction__count\").textContent === '1'"
    )
    # Positions are set through the CSSOM: the strict CSP allows that, and nothing was blocked.
    for page in (guide_page, anna_page, ben_page):
        assert csp_violations(page) == []

    # Q&A: a public and a private question; Ben upvotes the public one; the guide answers and pins it.
    ask(anna_page, "Is the dome really unreinforced concrete?")
    ask(anna_page, "Could you say hello to my mother?", private=True)
    ask(ben_page, "Where do we go next?")
    guide_page.locator("#room-tab-questions").click()
    guide_page.wait_for_function("() => document.querySelectorAll('#room-question-list > li').length === 3")
    question_item(ben_page, "Is the dome really unreinforced concrete?").wait_for()
    question_item(ben_page, "Where do we go next?").wait_for()
    assert question_item(ben_page, "Could you say hello to my mother?").count() == 0  # private to the guide
    assert question_item(guide_page, "Could you say hello to my mother?").get_attribute("data-private") == "true"
    question_item(ben_page, "Is the dome really unreinforced concrete?").locator("[data-action=upvote]").click()
    guide_page.wait_for_function(
        "() => document.querySelector('#room-question-list > li').dataset.votes === '1'"
    )  # sorted by votes: the upvoted one is first
    first = guide_page.locator("#room-question-list > li").first
    assert first.locator(".room-question__text").inner_text() == "Is the dome really unreinforced concrete?"
    assert (
        question_item(ben_page, "Is the dome really unreinforced concrete?")
        .locator("[data-action=upvote]")
        .get_attribute("aria-pressed")
        == "true"
    )
    first.locator("[data-action=answer]").click()
    guide_page.locator("#room-question-list > li").filter(has_text="unreinforced").locator("[data-action=pin]").click()
    for page in (anna_page, ben_page):
        question_item(page, "Is the dome really unreinforced concrete?").and_(
            page.locator("[data-answered='true']")
        ).wait_for()
        page.wait_for_function(
            "() => !document.querySelector('#room-pinned').hidden && "
            "document.querySelector('#room-pinned-body').textContent.includes('unreinforced')"
        )
    assert Question.objects.get(text="Is the dome really unreinforced concrete?").votes == 1

    # Every control of the room has an accessible name, on the guide's page and a guest's.
    for page in (guide_page, anna_page):
        assert _problems_on(page) == {}

    # Keyboard: the tabs follow the arrow keys.
    anna_page.locator("#room-tab-chat").focus()
    anna_page.keyboard.press("ArrowRight")
    assert anna_page.evaluate("() => document.activeElement.id") == "room-tab-questions"
    assert anna_page.locator("#room-panel-questions").is_visible()

    # Moderation: the guide deletes Ben's message, then bans Ben, who is removed at once.
    send_chat(ben_page, "buy cheap tickets here")
    guide_page.locator("#room-tab-chat").click()
    wait_for_chat(guide_page, "buy cheap tickets here")
    wait_for_chat(anna_page, "buy cheap tickets here")
    message_item(guide_page, "buy cheap tickets here").locator("[data-action=delete]").click()
    anna_page.wait_for_function(
        "() => ![...document.querySelectorAll('.room-message__text')]"
        ".some((n) => n.textContent === 'buy cheap tickets here')"
    )
    assert ChatMessage.objects.get(text="buy cheap tickets here").status == ChatMessage.Status.DELETED
    send_chat(ben_page, "one more")
    wait_for_chat(guide_page, "one more")
    message_item(guide_page, "one more").locator("[data-action=moderate]").click()
    dialog = guide_page.locator("#room-person-dialog")
    assert dialog.is_visible()
    assert guide_page.locator("#room-person-title").inner_text() == "Moderate Ben"
    guide_page.locator("#room-ban-go").click()
    assert "Ban Ben from this tour?" in guide_page.locator("#room-ban-question").inner_text()
    guide_page.locator("#room-ban-yes").click()
    ben_page.wait_for_function(
        "() => document.querySelector('#live-error').textContent === 'You have been removed from this live tour.'",
        timeout=ROOM_TIMEOUT_MS,
    )
    assert ben_page.locator("#room-chat-input").is_disabled()
    assert ben_page.locator("#room[data-state='closed']").count() == 1
    assert ben_page.locator("#room-transcript").is_hidden()
    anna_page.wait_for_function(
        "() => document.querySelector('#room-viewers').textContent === '1'", timeout=ROOM_TIMEOUT_MS
    )
    guide_page.locator("#room-tab-people").click()
    guide_page.wait_for_selector(
        f"#room-people-list li[data-user-id='{ben.pk}']:not([data-status=connected])", timeout=ROOM_TIMEOUT_MS
    )
    assert session.bans.filter(user=ben).exists()
    # The others' rooms go on.
    send_chat(anna_page, "Still here!")
    wait_for_chat(guide_page, "Still here!")
    assert chat_texts(anna_page) == ["Buongiorno from Kolkata!", "Welcome to the Pantheon!", "one more", "Still here!"]

    # The end: the room stays readable, nothing more can be written, the transcript is linked.
    guide_page.once("dialog", lambda dialog: dialog.accept())
    guide_page.locator("#live-end").click()
    anna_page.wait_for_selector("#room[data-state='closed']", state="attached", timeout=ROOM_TIMEOUT_MS)
    assert anna_page.locator("#room-readonly-notice").inner_text() == "This live tour is over: the chat is read-only."
    assert anna_page.locator("#room-chat-input").is_disabled()
    assert anna_page.locator("#room-transcript a").get_attribute("href") == f"/live/{session.pk}/transcript/"
    assert chat_texts(anna_page)[-1] == "Still here!"


def test_held_messages_slow_mode_and_a_time_out_reach_the_guide_and_the_guests(new_page: Any) -> None:
    session = open_session()
    staff = _make("UserFactory", name="Stefania", is_staff=True, is_superuser=True)
    gina = booked_guest(session, name="Gina")
    oscar = booked_guest(session, name="Oscar")
    # Staff keep the blocked-word list in Django admin (the server process then forgets its cache).
    word = f"scam{session.pk}"
    staff_page = new_page(user=staff)
    staff_page.goto("/admin/chat/blockedword/add/")
    staff_page.locator("#id_word").fill(word)
    staff_page.locator("input[name=_save]").click()
    staff_page.wait_for_url(re.compile(r"/admin/chat/blockedword/$"))
    assert BlockedWord.objects.filter(word=word).exists()
    guide_page = new_page(user=session.slot.guide.user)
    gina_page = new_page(user=gina)
    oscar_page = new_page(user=oscar)
    guide_page.goto(broadcast_url(session))
    watch_joined(session, gina_page, oscar_page)
    wait_joined(guide_page)

    # Two messages with the blocked word wait for the guide: Gina sees them held, Oscar nothing.
    send_chat(gina_page, f"a {word} offer")
    send_chat(gina_page, f"another {word} here")
    gina_page.wait_for_function(
        "() => document.querySelectorAll(\"#room-chat-list > li[data-state='held']\").length === 2"
    )
    assert gina_page.locator("li[data-state='held'] .room-message__state").first.inner_text() == (
        "Held for review by the guide"
    )
    guide_page.wait_for_function(
        "() => document.querySelector('#room-tab-moderation .room-tab__badge').textContent === '2'"
    )
    guide_page.locator("#room-tab-moderation").click()
    held = guide_page.locator("#room-held-list > li")
    assert held.count() == 2
    held.filter(has_text=f"a {word} offer").locator("[data-action=approve]").click()
    held.filter(has_text=f"another {word} here").locator("[data-action=reject]").click()
    guide_page.wait_for_function("() => document.querySelectorAll('#room-held-list > li').length === 0")
    wait_for_chat(oscar_page, f"a {word} offer")
    wait_for_chat(gina_page, f"a {word} offer")  # the approved one is an ordinary message now
    assert chat_texts(oscar_page) == [f"a {word} offer"]
    assert ChatMessage.objects.get(text=f"another {word} here").status == ChatMessage.Status.REJECTED

    # Slow mode: the guests are told; a second message waits and then goes by itself.
    guide_page.locator("#room-slow-mode").select_option("10")
    gina_page.wait_for_function(
        "() => document.querySelector('#room-slow-notice').textContent === 'Slow mode: one message every 10 seconds.'"
    )
    assert oscar_page.locator("#room-slow-notice").is_visible()
    send_chat(oscar_page, "first in slow mode")
    wait_for_chat(oscar_page, "first in slow mode")
    send_chat(oscar_page, "second in slow mode")
    oscar_page.wait_for_selector("#room-chat-list > li[data-state='waiting']")
    wait_for_chat(gina_page, "second in slow mode")  # the outbox sent it again when allowed
    assert chat_texts(gina_page)[-2:] == ["first in slow mode", "second in slow mode"]
    assert ChatMessage.objects.filter(text="second in slow mode").count() == 1

    # A time-out: Gina is told until when, and cannot send; the guide is told too.
    guide_page.locator("#room-tab-people").click()
    guide_page.locator(f"#room-people-list li[data-user-id='{gina.pk}'] [data-action=moderate]").click()
    guide_page.locator("#room-timeout-seconds").select_option("60")
    guide_page.locator("#room-timeout-go").click()
    gina_page.wait_for_function(
        "() => !document.querySelector('#room-timeout-notice').hidden && "
        "document.querySelector('#room-timeout-notice').textContent.startsWith('You can write again at ')"
    )
    assert gina_page.locator("#room-chat-send").is_disabled()
    assert gina_page.locator("#room-chat-input").get_attribute("readonly") is not None
    guide_page.wait_for_function("() => document.querySelector('#room-status').textContent.startsWith('Gina')")


XSS_CORPUS = (
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 1">',
    '"><svg/onload=window.__pwned=1>',
    '<a href="javascript:window.__pwned=1">click me</a>',
    "javascript:window.__pwned=1 JaVaScRiPt:alert(1)",
    "<iframe src=javascript:alert(1)></iframe><style>body{display:none}</style>",
    "https://evil.example/login?next=<b>x</b>",
    "Hello \u202egnp.exe\u202c and zero\u200bwidth\u200djoined\ufeff end",
    "{{ 7*7 }} ${7*7} <%= 7*7 %> &lt;b&gt;entity&lt;/b&gt;",
)
# The name and country others read, written in a profile by an attacker.
HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">\u202eNimda'
HOSTILE_COUNTRY = "<svg onload=alert(1)>"


def test_an_xss_corpus_in_chat_questions_and_names_renders_as_inert_text(new_page: Any) -> None:
    session = open_session()
    attacker = booked_guest(session, name=HOSTILE_NAME, country=HOSTILE_COUNTRY)
    reader = booked_guest(session, name="Reader")
    guide_page = new_page(user=session.slot.guide.user)
    reader_page = new_page(user=reader)
    attacker_page = new_page(user=attacker)
    dialogs: list[str] = []
    for page in (guide_page, reader_page, attacker_page):
        page.on("dialog", lambda dialog: record_dialog(dialogs, dialog))
    guide_page.goto(broadcast_url(session))
    watch_joined(session, reader_page, attacker_page)
    wait_joined(guide_page)

    same_site = f"{guide_page.evaluate('() => location.origin')}/tours/"
    chats = [" | ".join(XSS_CORPUS[i : i + 2]) for i in range(0, len(XSS_CORPUS), 2)] + [f"see {same_site} now"]
    # Guests may send 5 messages in 10 s: six go through the outbox, which waits when told to.
    for text in chats:
        send_chat(attacker_page, text)
    questions = [" ".join(XSS_CORPUS[0:3]), " ".join(XSS_CORPUS[3:6]), " ".join(XSS_CORPUS[6:9])]
    for text in questions:
        ask(attacker_page, text[:300])

    expected_chats = [clean_text(text, max_chars=500) for text in chats]
    expected_questions = sorted(clean_text(text[:300], max_chars=300) for text in questions)
    for page in (reader_page, guide_page):
        page.locator("#room-tab-chat").click()
        page.wait_for_function(
            "(n) => document.querySelectorAll('#room-chat-list > li[data-seq]').length === n",
            arg=len(chats),
            timeout=40_000,
        )
        # Shown literally: exactly what the server stored (it drops bidi overrides and zero-width spaces).
        assert chat_texts(page) == expected_chats
        page.locator("#room-tab-questions").click()
        page.wait_for_function(
            "(n) => document.querySelectorAll('#room-question-list > li').length === n", arg=len(questions)
        )
        shown = page.evaluate(
            "() => [...document.querySelectorAll('#room-question-list .room-question__text')].map((n) => n.textContent)"
        )
        assert sorted(shown) == expected_questions
        authors = page.evaluate(
            "() => [...document.querySelectorAll('.room-message__author, .room-question__author')]"
            ".map((n) => [n.tagName, n.textContent])"
        )
        hostile = [author for author in authors if author[1] != "Reader"]
        assert hostile
        assert all(author == ["BDI", HOSTILE_NAME] for author in hostile)
    guide_page.locator("#room-tab-people").click()
    guide_page.wait_for_function(
        "(country) => document.querySelector('#room-people-list').textContent.includes(country)", arg=HOSTILE_COUNTRY
    )

    for page in (guide_page, reader_page, attacker_page):
        assert page.evaluate("() => window.__pwned") is None
        injected = page.evaluate(
            """() => {
              const room = document.querySelector('#room');
              const elements = [...room.querySelectorAll('script, img, svg, iframe, style, object, embed, b')];
              const handlers = [...room.querySelectorAll('*')].filter(
                (node) => [...node.attributes].some((attribute) => attribute.name.startsWith('on')));
              return elements.length + handlers.length;
            }"""
        )
        assert injected == 0
        links = page.evaluate(
            "() => [...document.querySelectorAll("
            "'#room-chat-list a, #room-question-list a, #room-pinned a, #room-people-list a, #room-held-list a')]"
            ".map((a) => [a.protocol, a.origin, a.href, a.textContent])"
        )
        origin = page.evaluate("() => location.origin")
        # Only the link to this site is clickable, and its href is the parsed URL; the rest is text.
        assert links == [["http:", origin, same_site, same_site]]
        assert csp_violations(page) == []
    assert dialogs == []


def test_room_events_that_arrive_as_one_array_frame_each_show_in_order(new_page: Any) -> None:
    """A busy room writes the events of one moment as one frame, a JSON array (docs/events.md,
    "Batches"). Between the page and the real server, the route collects three chat messages and
    hands them to the page as one such frame: the page shows all three, in order."""
    session = open_session()
    reader = booked_guest(session, name="Bea")
    writer = booked_guest(session, name="Carlo")
    reader_page = new_page(user=reader)
    writer_page = new_page(user=writer, **PHONE)
    state: dict[str, Any] = {"batching": False, "held": [], "batches": []}

    def route(page_side: Any) -> None:
        server_side = page_side.connect_to_server()
        page_side.on_message(server_side.send)

        def to_page(message: str | bytes) -> None:
            if not (state["batching"] and isinstance(message, str) and '"chat.message"' in message):
                page_side.send(message)
                return
            parsed = json.loads(message)
            state["held"].extend(parsed if isinstance(parsed, list) else [parsed])
            if sum(event["type"] == "chat.message" for event in state["held"]) == 3:
                frame = json.dumps(state["held"])
                state["held"] = []
                state["batches"].append(frame)
                page_side.send(frame)

        server_side.on_message(to_page)

    reader_page.route_web_socket(re.compile(r"/ws/live/"), route)
    watch_joined(session, reader_page, writer_page)
    send_chat(writer_page, "prima")
    wait_for_chat(reader_page, "prima")

    state["batching"] = True
    for text in ("uno", "due", "tre"):
        send_chat(writer_page, text)
        wait_for_chat(writer_page, text)
    wait_for_chat(reader_page, "tre")
    assert len(state["batches"]) == 1
    assert state["batches"][0].startswith("[")
    assert chat_texts(reader_page) == ["prima", "uno", "due", "tre"]
    assert chat_texts(writer_page) == chat_texts(reader_page)


def test_a_lost_ack_and_a_guest_offline_for_a_while_lose_nothing_and_duplicate_nothing(new_page: Any) -> None:
    session = open_session()
    sender = booked_guest(session, name="Sara")
    away = booked_guest(session, name="Tom")
    sender_page = new_page(user=sender)
    away_page = new_page(user=away, **PHONE)

    # Between each page and the real server: frames pass through unless a test step says otherwise.
    lock = threading.Lock()
    state: dict[str, Any] = {
        "drop_to_sender": False,
        "drop_to_server": False,
        "away_blocked": False,
        "sent": [],
        "joins": [],
    }
    sockets: dict[str, Any] = {}

    def route(name: str) -> Any:
        def handler(page_side: Any) -> None:
            if name == "away" and state["away_blocked"]:
                page_side.close(code=1001, reason="offline")  # the network is still down: no connection
                return
            server_side = page_side.connect_to_server()
            sockets[name] = (page_side, server_side)

            def to_server(message: str | bytes) -> None:
                with lock:
                    state["sent"].append((name, message))
                    if name == "away" and isinstance(message, str) and '"room.join"' in message:
                        state["joins"].append(message)
                if name == "sender" and state["drop_to_server"] and '"chat.send"' in str(message):
                    return  # lost on the way up: the server never sees it
                server_side.send(message)

            def to_page(message: str | bytes) -> None:
                lost = '"chat.ack"' in message or '"chat.message"' in message if isinstance(message, str) else False
                if name == "sender" and state["drop_to_sender"] and lost:
                    return  # lost on the way: the message is stored, the sender never hears so
                page_side.send(message)

            page_side.on_message(to_server)
            server_side.on_message(to_page)

        return handler

    sender_page.route_web_socket(re.compile(r"/ws/live/"), route("sender"))
    away_page.route_web_socket(re.compile(r"/ws/live/"), route("away"))
    watch_joined(session, sender_page, away_page)
    send_chat(sender_page, "before the tunnel")
    wait_for_chat(away_page, "before the tunnel")

    # 1. The ack and the echo are lost, then the socket drops: the snapshot after the reconnect
    #    shows the message stored, so the sender marks it sent (and does not post it again).
    state["drop_to_sender"] = True
    send_chat(sender_page, "sent into the void")
    wait_for_chat(away_page, "sent into the void")  # stored and delivered to the others
    assert sender_page.locator("#room-chat-list > li[data-state='pending']").count() == 1
    state["drop_to_sender"] = False
    drop_connection(sockets["sender"])
    wait_for_chat(sender_page, "sent into the void")
    sender_page.wait_for_selector("#room-chat-list > li[data-state='pending']", state="detached")
    assert ChatMessage.objects.filter(session=session, text="sent into the void").count() == 1

    # 2. This time the message itself is lost on the way up: after the reconnect the outbox sends
    #    it again with the same client id, and it is stored once.
    state["drop_to_server"] = True
    send_chat(sender_page, "lost on the way up")
    sender_page.wait_for_function("() => document.querySelector(\"#room-chat-list > li[data-state='pending']\")")
    state["drop_to_server"] = False
    drop_connection(sockets["sender"])
    wait_for_chat(away_page, "lost on the way up")
    wait_for_chat(sender_page, "lost on the way up")
    sender_page.wait_for_selector("#room-chat-list > li[data-state='pending']", state="detached")
    stored = ChatMessage.objects.get(session=session, text="lost on the way up")
    sends = [m for n, m in state["sent"] if n == "sender" and isinstance(m, str) and stored.client_id in m]
    assert len(sends) == 2  # the lost one and the retry, with the same client id
    assert ChatMessage.objects.filter(session=session, client_id=stored.client_id).count() == 1
    assert chat_texts(sender_page) == ["before the tunnel", "sent into the void", "lost on the way up"]

    # 2. Tom is offline while Sara chats, and writes one himself meanwhile; then he comes back.
    state["away_blocked"] = True
    drop_connection(sockets["away"])
    away_page.wait_for_selector("#room[data-state='offline'], #room[data-state='joining']", state="attached")
    for text in ("one", "two", "three"):
        send_chat(sender_page, text)
        wait_for_chat(sender_page, text)
    send_chat(away_page, "typed in the tunnel")
    assert away_page.locator("#room-chat-list > li[data-state='pending']").count() == 1
    state["joins"].clear()
    state["away_blocked"] = False
    wait_for_chat(away_page, "three")
    wait_for_chat(away_page, "typed in the tunnel")
    wait_for_chat(sender_page, "typed in the tunnel")
    assert chat_texts(away_page) == [
        "before the tunnel",
        "sent into the void",
        "lost on the way up",
        "one",
        "two",
        "three",
        "typed in the tunnel",
    ]
    assert chat_texts(sender_page) == chat_texts(away_page)
    before = ChatMessage.objects.get(session=session, text="lost on the way up").seq
    assert f'"after_seq":{before}' in state["joins"][0].replace(" ", "")
    assert ChatMessage.objects.filter(session=session, text="typed in the tunnel").count() == 1
    # Back from the Q&A tab, the chat shows its newest message (a hidden log forgets its scroll).
    away_page.locator("#room-tab-questions").click()
    send_chat(sender_page, "while you were reading the questions")
    wait_for_chat(away_page, "while you were reading the questions")
    away_page.locator("#room-tab-chat").click()
    scroll = away_page.evaluate(
        "() => { const log = document.querySelector('#room-chat-log');"
        " return {overflows: log.scrollHeight > log.clientHeight + 50,"
        " atEnd: log.scrollTop + log.clientHeight >= log.scrollHeight - 2}; }"
    )
    assert scroll == {"overflows": True, "atEnd": True}
    # 500 characters at most: the counter says so and Send stays off until the text fits.
    away_page.locator("#room-chat-input").fill("é" * 501)
    assert away_page.locator("#room-chat-count").inner_text() == "501 / 500 characters"
    assert away_page.locator("#room-chat-input").get_attribute("aria-invalid") == "true"
    assert away_page.locator("#room-chat-send").is_disabled()
    away_page.locator("#room-chat-input").press("Backspace")
    assert away_page.locator("#room-chat-send").is_enabled()
    away_page.locator("#room-chat-input").fill("")
    # Long words wrap on a phone: nothing is wider than the screen.
    send_chat(sender_page, "x" * 300)
    wait_for_chat(away_page, "x" * 300)
    assert away_page.evaluate("() => document.documentElement.scrollWidth") <= 390
    away_page.evaluate("() => window.scrollTo(0, 0)")
    away_page.locator("#room-tab-chat").focus()
    away_page.locator("#room-chat-input").focus()
    away_page.wait_for_timeout(400)
    box = away_page.locator("#room-chat-send").bounding_box()
    assert box is not None
    assert box["y"] + box["height"] <= 844
