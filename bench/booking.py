"""Booking benchmark: many customers racing for the seats of a few slots, then the slot feed.

Prints one JSON object on standard output (progress goes to standard error). What it does:

1. Database: creates a dedicated database (default ``postgres:///italycouch_bench``: dropped and
   created with ``dropdb``/``createdb``, then migrated), or with ``--use-existing-db`` seeds into
   an already-migrated one (the smoke test uses the test database this way). It refuses to drop a
   database whose name does not contain "bench".
2. Seed: one guide and a published paid tour with ``--slots`` slots of ``--seats-per-slot`` seats,
   one customer per attempt, each with a signed-in session written straight into the session
   table (no password hashing, no login form in the measurement); a second guide whose tour gets
   a month of slots (2 a day) through the real ``bookings.scheduling.create_rule`` service.
3. Booking (``--mode``):
   - ``http`` (the default while the route ``/slots/<id>/book/`` exists): the web server serving
     ``italycouch.asgi:application`` in ``--server-processes`` subprocesses sharing one listening
     socket on 127.0.0.1, settings of the embedded default but PostgreSQL, DEBUG off, no Redis (so
     the confirmation e-mail is rendered and stored in the request, after commit). Each of the
     ``--clients`` threads keeps one HTTP/1.1 connection, and per attempt GETs the booking page as
     that attempt's customer (CSRF cookie, the form's hidden fields incl. the idempotency key),
     then POSTs the form with one seat. ``book_*`` times the POST; ``page_*`` the GET.
   - ``service``: the same plan through ``bookings.reservations.book_seat`` called directly by
     ``--clients`` threads, each with its own database connection (kept for the whole run).
   ``--order rush`` (default): attempt i books slot ``i * slots // attempts``, so with 1,000
   attempts on 20 slots all 50 clients queue on one slot's row lock at a time (the worst case,
   the race for the last seats). ``--order spread``: attempt i books slot ``i % slots``. Before the
   clock starts, every client books one seat on a separate warm-up slot (imports, templates,
   connections); that slot is not counted.
4. The tour is paid, so a successful attempt ends as a seat held for payment (the booking form
   redirects to the payment page; the guide has a ready test-mode payout account): the race for
   seats is the same, and paying is outside the measurement.
   Truth comes from the database afterwards: ``confirmed`` counts active bookings (confirmed or
   held) on the measured slots, ``oversold`` adds up seats sold beyond each slot's capacity,
   ``counter_mismatch`` counts slots whose ``booked_seats`` differs from their bookings.
   ``confirmed_responses`` is what the clients were told; the two must agree.
5. Feed: ``--feed-requests`` sequential GETs (after ``--feed-warmup``) of
   ``/api/slots/?tour=<slug>&start=<UTC ISO>&end=<UTC ISO>`` for the month, as a signed-in
   customer, through the same server; ``feed_in_process_*`` times the feed's own code
   (``bookings.feed``) without HTTP, which tells the server's share apart. Without the route the
   in-process figures stand in (``feed_via``), without ``bookings.feed`` they are null.

Percentiles are nearest-rank over every attempt. The exit status is 0 when the run was correct
(no oversold seat, no error, database and responses agree), 1 otherwise, 2 when it could not run;
latency targets are reported in ``targets_met``, not in the exit status.

    .venv/bin/python bench/booking.py                       # 50 clients, 1,000 attempts, 200 seats
    .venv/bin/python bench/booking.py --mode service --clients 20 --keep-db
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import uuid
import zoneinfo
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from decimal import Decimal
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from bench.harness import (  # noqa: E402  (after the path set-up above)
    HOST,
    BenchError,
    bench_database,
    bench_environment,
    git_commit,
    log,
    machine,
    percentile,
    running_server,
    set_log_name,
)

BOOK_PATH = "/slots/{slot_id}/book/"
FEED_PATH = "/api/slots/"
TARGETS: dict[str, float] = {"oversold": 0, "book_p99_ms": 250.0, "feed_p95_ms": 50.0}
ROME = zoneinfo.ZoneInfo("Europe/Rome")
SLOT_SPACING = timedelta(hours=2)
SLOT_LENGTH = timedelta(minutes=90)
FEED_RRULE = "FREQ=DAILY;BYHOUR=10,16;BYMINUTE=0"  # two slots a day, 10:00 and 16:00 in Rome
SOLD_OUT_TEXT = re.compile(r"sold[ _-]?out|seat\(s\) left", re.IGNORECASE)
# Where a successful booking form sends the customer: the booking (free tour) or, for a paid tour,
# the payment page of the hold that now keeps the seat.
BOOKING_DETAIL_PATH = re.compile(r"^/(bookings/\d+/|payments/\d+/pay/)")


# --- Arguments ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Concurrent booking and slot-feed benchmark; prints one JSON object.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (threads)")
    parser.add_argument("--attempts", type=int, default=1000, help="booking attempts in total, one seat each")
    parser.add_argument("--slots", type=int, default=20, help="slots the attempts are spread over")
    parser.add_argument("--seats-per-slot", type=int, default=10, help="capacity of each slot")
    parser.add_argument(
        "--mode",
        choices=("auto", "http", "service"),
        default="auto",
        help="http: through the web server and the booking page; service: book_seat() in threads; "
        "auto: http when the booking route exists",
    )
    parser.add_argument(
        "--order",
        choices=("rush", "spread"),
        default="rush",
        help="rush: all clients on one slot at a time (the last-seats race); spread: over every slot at once",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres:///italycouch_bench"),
        help="database to create (name must contain 'bench') or, with --use-existing-db, to seed into",
    )
    parser.add_argument(
        "--use-existing-db",
        action="store_true",
        help="the database exists and is migrated (e.g. the test database): seed only, never create or drop",
    )
    parser.add_argument("--keep-db", action="store_true", help="do not drop the created database at the end")
    parser.add_argument("--server-processes", type=int, default=1, help="server processes sharing the socket")
    parser.add_argument("--feed-days", type=int, default=31, help="days of slots in the feed window")
    parser.add_argument("--feed-requests", type=int, default=200, help="timed feed requests")
    parser.add_argument("--feed-warmup", type=int, default=10, help="untimed feed requests first")
    parser.add_argument("--server-log", type=Path, help="the server's output (default: a temporary file)")
    args = parser.parse_args(argv)
    for name in ("clients", "attempts", "slots", "seats_per_slot", "server_processes", "feed_days", "feed_requests"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.feed_warmup < 0:
        parser.error("--feed-warmup must be at least 0")
    if args.slots > args.attempts:
        parser.error("--slots cannot exceed --attempts (every slot gets at least one attempt)")
    if args.slots * SLOT_SPACING > timedelta(days=80):
        parser.error("too many slots: they must all fit inside the 90-day booking horizon")
    if args.feed_days > 80:
        parser.error("--feed-days must fit inside the 90-day booking horizon")
    return args


# --- Database -----------------------------------------------------------------------------------


def route_exists(path: str) -> bool:
    from django.urls import Resolver404, resolve

    try:
        resolve(path)
    except Resolver404:
        return False
    return True


# --- Seed ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    user_id: int
    session_key: str


@dataclass(frozen=True)
class Seed:
    slot_ids: list[int]
    warmup_slot_id: int
    customers: list[Customer]
    warmup_customers: list[Customer]
    feed_tour_slug: str
    feed_start: datetime
    feed_end: datetime
    feed_slots: int

    def plan(self, order: str) -> list[tuple[int, Customer]]:
        """(slot, customer) per attempt, in the order the clients take them.

        ``rush``: consecutive attempts share a slot, so all clients queue on one slot's row lock
        at a time (the race for the last seats). ``spread``: attempt i books slot i mod slots, so
        the clients are spread over every slot at once.
        """
        slots, attempts = len(self.slot_ids), len(self.customers)
        return [
            (self.slot_ids[index * slots // attempts if order == "rush" else index % slots], customer)
            for index, customer in enumerate(self.customers)
        ]


def seed(args: argparse.Namespace) -> Seed:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.base import VALID_KEY_CHARS
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from accounts.models import GuideProfile, Language, User
    from bookings.models import Slot, Tour
    from bookings.scheduling import create_rule
    from payments.models import GuidePaymentAccount

    started = time.perf_counter()
    token = uuid.uuid4().hex[:8]  # several runs can share an existing database
    now = timezone.now()
    english, _created = Language.objects.get_or_create(code="en", defaults={"name": "English"})

    def guide(label: str) -> GuideProfile:
        user = User.objects.create(
            email=f"bench-{token}-{label}@example.com",
            name=f"Bench guide {label}",
            role=User.Role.GUIDE,
            timezone="Europe/Rome",
            language="en",
            password=make_password(None),
        )
        profile = GuideProfile.objects.create(user=user, display_name=f"Bench {label} {token}", city="Rome")
        # A ready payout account (test-mode provider): paid tours are refused to guides without one.
        GuidePaymentAccount.objects.create(
            guide=profile,
            provider="test",
            account_id=f"acct_test_bench_{token}_{label}",
            charges_enabled=True,
            payouts_enabled=True,
            details_submitted=True,
        )
        return profile

    def tour(owner: GuideProfile, label: str, max_group_size: int) -> Tour:
        created = Tour.objects.create(
            guide=owner,
            title=f"Bench {label} {token}",
            summary="Benchmark data.",
            city="Rome",
            category=Tour.Category.WALKING,
            duration_minutes=int(SLOT_LENGTH.total_seconds() // 60),
            price=Decimal("25.00"),  # paid: the test-mode payment provider is on the path
            max_group_size=max_group_size,
            timezone="Europe/Rome",
        )
        created.languages.set([english])
        return created

    booking_tour = tour(guide("booking"), "booking", max(args.seats_per_slot, args.clients))
    first_start = now.replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    slots = Slot.objects.bulk_create(
        [
            Slot(
                tour=booking_tour,
                guide=booking_tour.guide,
                start=first_start + index * SLOT_SPACING,
                end=first_start + index * SLOT_SPACING + SLOT_LENGTH,
                capacity=args.clients if index == 0 else args.seats_per_slot,
            )
            for index in range(args.slots + 1)
        ]
    )
    slot_ids = [slot.pk for slot in slots]

    feed_guide = guide("feed")
    feed_tour = tour(feed_guide, "feed", 20)
    valid_from = now.astimezone(ROME).date() + timedelta(days=1)
    valid_until = valid_from + timedelta(days=args.feed_days - 1)
    outcome = create_rule(
        user=feed_guide.user, tour=feed_tour, rrule=FEED_RRULE, valid_from=valid_from, valid_until=valid_until
    )

    users = User.objects.bulk_create(
        [
            User(
                email=f"bench-{token}-customer{index}@example.com",
                name=f"Customer {index}",
                timezone="America/New_York",  # the pages convert between two zones, as for most guests
                language="en",
                password=make_password(None),
            )
            for index in range(args.attempts + args.clients)
        ],
        batch_size=500,
    )
    store = SessionStore()
    backend = "django.contrib.auth.backends.ModelBackend"
    sessions = [
        Session(
            session_key=get_random_string(32, VALID_KEY_CHARS),
            session_data=store.encode(
                {
                    SESSION_KEY: str(user.pk),
                    BACKEND_SESSION_KEY: backend,
                    HASH_SESSION_KEY: user.get_session_auth_hash(),
                }
            ),
            expire_date=now + timedelta(days=1),
        )
        for user in users
    ]
    Session.objects.bulk_create(sessions, batch_size=500)
    customers = [
        Customer(user_id=user.pk, session_key=session.session_key)
        for user, session in zip(users, sessions, strict=True)
    ]
    log(
        f"seeded {args.slots} slots x {args.seats_per_slot} seats, {len(customers)} customers, "
        f"{outcome.slots_created} feed slots in {time.perf_counter() - started:.1f} s"
    )
    return Seed(
        slot_ids=slot_ids[1:],
        warmup_slot_id=slot_ids[0],
        customers=customers[: args.attempts],
        warmup_customers=customers[args.attempts :],
        feed_tour_slug=feed_tour.slug,
        feed_start=_midnight_utc(valid_from),
        feed_end=_midnight_utc(valid_until + timedelta(days=1)),
        feed_slots=outcome.slots_created,
    )


def _midnight_utc(day: date) -> datetime:
    return datetime.combine(day, wall_time(0), tzinfo=ROME).astimezone(UTC)


# --- Running clients ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    outcome: str  # confirmed | sold_out | duplicate | rejected | error
    book_ms: float | None  # the booking request itself; None when it was never sent
    page_ms: float | None = None  # http mode: the GET of the booking page
    detail: str = ""


@dataclass
class RunResult:
    attempts: list[Attempt]
    seconds: float
    warmup: list[Attempt] = field(default_factory=list)
    reconnects: int = 0


def run_clients(
    *,
    clients: int,
    plan: Sequence[tuple[int, Customer]],
    warmup: Sequence[tuple[int, Customer]],
    make_client: Callable[[], Any],
    attempt: Callable[[Any, int, Customer], Attempt],
    close_client: Callable[[Any], None],
) -> RunResult:
    """``clients`` threads: each warms up once, then all start together and pull attempts in order."""
    results: list[Attempt | None] = [None] * len(plan)
    warmup_results: list[Attempt | None] = [None] * len(warmup)
    counter = itertools.count()
    counter_lock = threading.Lock()
    start_gate = threading.Barrier(clients + 1)
    reconnects = Counter[str]()

    def guarded(client: Any, slot_id: int, customer: Customer) -> Attempt:
        # A bug in the client must show up as an error in the figures, not as a hung barrier.
        try:
            return attempt(client, slot_id, customer)
        except Exception as error:
            return Attempt("error", None, detail=f"client: {error!r}")

    def worker(index: int) -> None:
        client = make_client()
        try:
            warmup_results[index] = guarded(client, *warmup[index])
            start_gate.wait(timeout=300)
            while True:
                with counter_lock:
                    position = next(counter)
                if position >= len(plan):
                    return
                results[position] = guarded(client, *plan[position])
        finally:
            with counter_lock:
                reconnects["count"] += getattr(client, "reconnects", 0)
            close_client(client)

    threads = [threading.Thread(target=worker, args=(index,), daemon=True) for index in range(clients)]
    for thread in threads:
        thread.start()
    start_gate.wait(timeout=300)
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    missing = [position for position, result in enumerate(results) if result is None]
    if missing:
        raise BenchError(f"{len(missing)} attempts never ran (a client thread died)")
    return RunResult(
        attempts=[result for result in results if result is not None],
        seconds=seconds,
        warmup=[result for result in warmup_results if result is not None],
        reconnects=reconnects["count"],
    )


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def run_service(args: argparse.Namespace, data: Seed) -> RunResult:
    from django.db import connections

    from accounts.models import User
    from bookings.reservations import BookingError, SoldOutError, book_seat

    users = User.objects.in_bulk([customer.user_id for customer in data.customers + data.warmup_customers])

    def attempt(_client: None, slot_id: int, customer: Customer) -> Attempt:
        started = time.perf_counter()
        try:
            outcome = book_seat(
                user=users[customer.user_id], slot_id=slot_id, seats=1, idempotency_key=uuid.uuid4().hex
            )
        except SoldOutError:
            return Attempt("sold_out", _elapsed_ms(started))
        except BookingError as error:
            return Attempt("rejected", _elapsed_ms(started), detail=f"{error.code}: {error.message}")
        except Exception as error:
            return Attempt("error", _elapsed_ms(started), detail=repr(error))
        return Attempt("confirmed" if outcome.created else "duplicate", _elapsed_ms(started))

    return run_clients(
        clients=args.clients,
        plan=data.plan(args.order),
        warmup=[(data.warmup_slot_id, customer) for customer in data.warmup_customers],
        make_client=lambda: None,
        attempt=attempt,
        # Each thread had its own connection for the whole run.
        close_client=lambda _client: connections.close_all(),
    )


# --- HTTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    ms: float

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        for header in self.headers.get_all("Set-Cookie") or []:
            jar.load(header)
        return {name: morsel.value for name, morsel in jar.items()}


class HttpClient:
    """One keep-alive HTTP/1.1 connection, as one browser tab would use."""

    def __init__(self, port: int, timeout: float = 120.0) -> None:
        self.port = port
        self.timeout = timeout
        self.connection: http.client.HTTPConnection | None = None
        self.reconnects = 0

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def request(
        self, method: str, path: str, *, cookies: dict[str, str], form: dict[str, str] | None = None
    ) -> Response:
        headers = {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"http://{HOST}:{self.port}"  # as a browser sends with a POST
        started = time.perf_counter()
        for retry in (False, True):
            reused = self.connection is not None
            if self.connection is None:
                self.connection = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                content = response.read()
            except (ConnectionError, http.client.HTTPException, TimeoutError):
                self.close()
                # A keep-alive connection the server closed meanwhile: send once more on a fresh
                # one. Safe for the POST too: the form carries its idempotency key.
                if reused and not retry:
                    self.reconnects += 1
                    continue
                raise
            if response.will_close:
                self.close()
            return Response(response.status, response.headers, content, _elapsed_ms(started))
        raise AssertionError("unreachable")


class _FormParser(HTMLParser):
    """The POST forms of a page: action and the values a browser would submit without typing."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self._select: tuple[str, list[tuple[str, bool]]] | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._form = {
                "method": attributes.get("method", "get").lower(),
                "action": attributes.get("action", ""),
                "fields": {},
            }
            self.forms.append(self._form)
            return
        if self._form is None:
            return
        name = attributes.get("name", "")
        if tag == "input" and name:
            kind = attributes.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attributes:
                return
            self._form["fields"][name] = attributes.get("value", "on" if kind in ("checkbox", "radio") else "")
        elif tag == "select" and name:
            self._select = (name, [])
        elif tag == "option" and self._select is not None:
            self._select[1].append((attributes.get("value", ""), "selected" in attributes))
        elif tag == "textarea" and name:
            self._textarea = name
            self._form["fields"][name] = ""

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea is not None:
            self._form["fields"][self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None and self._form is not None:
            name, options = self._select
            chosen = next((value for value, selected in options if selected), options[0][0] if options else "")
            self._form["fields"][name] = chosen
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def booking_form(page_path: str, html: str) -> tuple[str, dict[str, str]] | None:
    """The booking form of the page, as (action path, fields with one seat asked), or None."""
    parser = _FormParser()
    parser.feed(html)
    candidates = [form for form in parser.forms if form["method"] == "post" and "csrfmiddlewaretoken" in form["fields"]]
    # The page has other POST forms (sign out in the header): the booking form asks for seats.
    form = next((form for form in candidates if {"seats", "idempotency_key"} & set(form["fields"])), None)
    if form is None:
        return None
    fields = dict(form["fields"])
    fields["seats"] = "1"
    action = urlsplit(urljoin(page_path, form["action"] or page_path))
    return (action.path + (f"?{action.query}" if action.query else "")), fields


def _snippet(text: str, limit: int = 200) -> str:
    errors = re.findall(r'class="[^"]*(?:errorlist|notice--error)[^"]*"[^>]*>(.*?)</', text, re.DOTALL)
    plain = " ".join(re.sub(r"<[^>]+>", " ", " ".join(errors) or text).split())
    return plain[:limit]


def http_attempt(client: HttpClient, slot_id: int, customer: Customer) -> Attempt:
    """What a signed-in customer's browser does: open the booking page, send its form."""
    cookies = {"sessionid": customer.session_key}
    page_path = BOOK_PATH.format(slot_id=slot_id)
    try:
        page = client.request("GET", page_path, cookies=cookies)
    except (OSError, http.client.HTTPException) as error:
        return Attempt("error", None, detail=f"GET {page_path}: {error!r}")
    cookies.update(page.cookies())
    form = booking_form(page_path, page.text) if page.status == 200 else None
    if form is None:
        if page.status in (200, 409, 410) and SOLD_OUT_TEXT.search(page.text):
            return Attempt("sold_out", None, page.ms, detail="sold out on the page")
        return Attempt("error", None, page.ms, detail=f"GET {page_path}: {page.status}, no booking form")
    action, fields = form
    try:
        answer = client.request("POST", action, cookies=cookies, form=fields)
    except (OSError, http.client.HTTPException) as error:
        return Attempt("error", None, page.ms, detail=f"POST {action}: {error!r}")
    return _attempt_from(answer, page.ms, action)


def _classify(answer: Response) -> tuple[str, str]:
    if answer.status in (301, 302, 303):
        location = urlsplit(answer.headers.get("Location", "")).path
        if BOOKING_DETAIL_PATH.match(location):
            return "confirmed", location
        if "login" in location:
            return "error", f"redirected to {location}: the session was not accepted"
        return "rejected", f"redirected to {location}"
    # 409 is also "no longer open" (notice period, cancelled date): only the message tells them apart.
    if answer.status in (200, 400, 409, 422) and SOLD_OUT_TEXT.search(answer.text):
        return "sold_out", ""
    if 400 <= answer.status < 500 and answer.status != 403:
        return "rejected", f"{answer.status}: {_snippet(answer.text)}"
    return "error", f"{answer.status}: {_snippet(answer.text)}"


def _attempt_from(answer: Response, page_ms: float, action: str) -> Attempt:
    outcome, detail = _classify(answer)
    return Attempt(outcome, answer.ms, page_ms, detail=f"POST {action}: {detail}" if detail else "")


def run_http(args: argparse.Namespace, data: Seed, port: int) -> RunResult:
    return run_clients(
        clients=args.clients,
        plan=data.plan(args.order),
        warmup=[(data.warmup_slot_id, customer) for customer in data.warmup_customers],
        make_client=lambda: HttpClient(port),
        attempt=http_attempt,
        close_client=lambda client: client.close(),
    )


# --- Server -------------------------------------------------------------------------------------


# --- Feed ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedResult:
    via: str | None
    timings_ms: list[float]
    items: int | None
    note: str = ""


def _utc_iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _count_items(payload: Any) -> int | None:
    if isinstance(payload, list):
        return len(payload)
    if isinstance(payload, dict):
        for key in ("slots", "events", "results", "items", "data"):
            if isinstance(payload.get(key), list):
                return len(payload[key])
    return None


def measure_feed_http(args: argparse.Namespace, data: Seed, port: int) -> FeedResult:
    client = HttpClient(port)
    cookies = {"sessionid": data.customers[0].session_key}  # a signed-in customer opening the calendar
    query = urlencode({"tour": data.feed_tour_slug, "start": _utc_iso(data.feed_start), "end": _utc_iso(data.feed_end)})
    path = f"{FEED_PATH}?{query}"
    try:
        first = client.request("GET", path, cookies=cookies)
        if first.status != 200:
            return FeedResult("http", [], None, note=f"GET {path} answered {first.status}: {_snippet(first.text)}")
        items = _count_items(json.loads(first.body))
        for _ in range(args.feed_warmup):
            client.request("GET", path, cookies=cookies)
        timings: list[float] = []
        for _ in range(args.feed_requests):
            response = client.request("GET", path, cookies=cookies)
            if response.status != 200:
                return FeedResult("http", timings, items, note=f"GET {path} answered {response.status} mid-run")
            timings.append(response.ms)
    finally:
        client.close()
    return FeedResult("http", timings, items, note=f"GET {path}")


def measure_feed_in_process(args: argparse.Namespace, data: Seed) -> FeedResult:
    """The feed's own code (``bookings.feed``) called in this process: the cost without HTTP."""
    from django.http import QueryDict
    from django.utils import timezone

    from accounts.models import User

    try:
        from bookings import feed
    except ImportError:
        return FeedResult(None, [], None, note="not yet measurable: no bookings.feed")
    user = User.objects.get(pk=data.customers[0].user_id)
    params = QueryDict(mutable=True)
    params.update({"tour": data.feed_tour_slug, "start": _utc_iso(data.feed_start), "end": _utc_iso(data.feed_end)})

    def call() -> Any:
        now = timezone.now()
        return feed.slot_feed(query=feed.parse_feed_query(params, now=now), user=user, now=now)

    items = _count_items(call())
    for _ in range(args.feed_warmup):
        call()
    timings: list[float] = []
    for _ in range(args.feed_requests):
        started = time.perf_counter()
        call()
        timings.append(_elapsed_ms(started))
    return FeedResult("in_process", timings, items, note="bookings.feed.parse_feed_query() + slot_feed(), no HTTP")


# --- Figures ------------------------------------------------------------------------------------


def latency_figures(prefix: str, values: Sequence[float]) -> dict[str, float | None]:
    return {
        f"{prefix}_p50_ms": percentile(values, 50),
        f"{prefix}_p95_ms": percentile(values, 95),
        f"{prefix}_p99_ms": percentile(values, 99),
        f"{prefix}_max_ms": round(max(values), 1) if values else None,
    }


def database_truth(data: Seed) -> dict[str, int]:
    from django.db.models import Count, Q, Sum

    from bookings.models import Booking, Slot

    active = Q(bookings__status__in=Booking.ACTIVE_STATUSES)
    slots = Slot.objects.filter(pk__in=data.slot_ids).annotate(
        sold=Sum("bookings__seats", filter=active, default=0), active_bookings=Count("bookings", filter=active)
    )
    return {
        "confirmed": sum(slot.active_bookings for slot in slots),
        "seats_sold": sum(slot.sold for slot in slots),
        "oversold": sum(max(0, slot.sold - slot.capacity) for slot in slots),
        "counter_mismatch": sum(1 for slot in slots if slot.booked_seats != slot.sold),
    }


def report(
    args: argparse.Namespace,
    *,
    mode: str,
    data: Seed,
    run: RunResult,
    feed: FeedResult,
    feed_in_process: FeedResult,
    truth: dict[str, int],
    load: dict[str, list[float]],
    cpu: dict[str, float | None],
) -> dict[str, Any]:
    from django.db import connection

    outcomes = Counter(attempt.outcome for attempt in run.attempts)
    book_ms = [attempt.book_ms for attempt in run.attempts if attempt.book_ms is not None]
    page_ms = [attempt.page_ms for attempt in run.attempts if attempt.page_ms is not None]
    problems = [attempt.detail for attempt in run.attempts if attempt.outcome in ("error", "rejected", "duplicate")]
    warmup_problems = [attempt.detail for attempt in run.warmup if attempt.outcome != "confirmed"]
    seats = args.slots * args.seats_per_slot
    figures: dict[str, Any] = {
        "benchmark": "booking",
        "mode": mode,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": machine(),
        # Other work on the machine skews every latency: the 1/5/15-minute load averages.
        "load_average": load,
        "database": connection.vendor,
        "server_processes": args.server_processes if mode == "http" or feed.via == "http" else None,
        "clients": args.clients,
        "attempts": args.attempts,
        "slots": args.slots,
        "seats_per_slot": args.seats_per_slot,
        "seats": seats,
        "order": args.order,
        "confirmed": truth["confirmed"],
        "confirmed_responses": outcomes["confirmed"],
        "sold_out": outcomes["sold_out"],
        "rejected": outcomes["rejected"] + outcomes["duplicate"],
        "errors": outcomes["error"],
        "oversold": truth["oversold"],
        "counter_mismatch": truth["counter_mismatch"],
        "all_seats_sold": truth["seats_sold"] == min(seats, args.attempts),
        "duration_s": round(run.seconds, 2),
        "attempts_per_s": round(len(run.attempts) / run.seconds, 1) if run.seconds else None,
        # In http mode "clients" is the load generator (threads, HTML parsing) in this process.
        "booking_cpu_s": cpu,
        **latency_figures("book", book_ms),
        "book_confirmed_p99_ms": percentile(
            [a.book_ms for a in run.attempts if a.outcome == "confirmed" and a.book_ms is not None], 99
        ),
        "book_sold_out_p99_ms": percentile(
            [a.book_ms for a in run.attempts if a.outcome == "sold_out" and a.book_ms is not None], 99
        ),
        "booking_requests": len(book_ms),
        **latency_figures("page", page_ms),
        "reconnects": run.reconnects,
        "warmup_problems": len(warmup_problems),
        "feed_via": feed.via,
        "feed_slots_seeded": data.feed_slots,
        "feed_items": feed.items,
        "feed_requests": len(feed.timings_ms),
        **latency_figures("feed", feed.timings_ms),
        "feed_note": feed.note,
        "feed_in_process_p50_ms": percentile(feed_in_process.timings_ms, 50),
        "feed_in_process_p95_ms": percentile(feed_in_process.timings_ms, 95),
        "problem_samples": sorted(Counter(problems + warmup_problems).most_common(5)),
        "targets": TARGETS,
    }
    figures["targets_met"] = {
        "oversold": figures["oversold"] == TARGETS["oversold"],
        "book_p99_ms": figures["book_p99_ms"] is not None and figures["book_p99_ms"] <= TARGETS["book_p99_ms"],
        "feed_p95_ms": figures["feed_p95_ms"] is not None and figures["feed_p95_ms"] <= TARGETS["feed_p95_ms"],
    }
    figures["correct"] = (
        figures["oversold"] == 0
        and figures["errors"] == 0
        and figures["counter_mismatch"] == 0
        and figures["confirmed"] == figures["confirmed_responses"]
    )
    return figures


# --- Main ---------------------------------------------------------------------------------------


def choose_mode(requested: str, data: Seed) -> str:
    available = route_exists(BOOK_PATH.format(slot_id=data.slot_ids[0]))
    if requested == "http" and not available:
        raise BenchError(f"--mode http: no route {BOOK_PATH} in this tree yet (use --mode service)")
    if requested == "auto":
        return "http" if available else "service"
    return requested


def main(argv: Sequence[str] | None = None) -> int:
    set_log_name("booking-bench")
    args = parse_args(argv)
    # SIGTERM runs the finally blocks below: the server stops and the database is dropped.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    try:
        with bench_database(args.database_url, use_existing=args.use_existing_db, keep=args.keep_db):
            data = seed(args)
            mode = choose_mode(args.mode, data)
            feed_route = route_exists(FEED_PATH)
            log(f"mode {mode}; feed route {'present' if feed_route else 'missing'}")
            log_path = args.server_log or Path(tempfile.mkdtemp(prefix="booking-bench-")) / "server.log"
            load = {"before": [round(value, 2) for value in os.getloadavg()]}
            with contextlib.ExitStack() as stack:
                server = None
                if mode == "http" or feed_route:
                    server = stack.enter_context(
                        running_server(
                            bench_environment(args.database_url), processes=args.server_processes, log_path=log_path
                        )
                    )
                log(f"{args.clients} clients, {args.attempts} attempts on {args.slots} x {args.seats_per_slot} seats")
                # CPU used during the booking phase: the load generator shares the machine with the server.
                cpu_before = (time.process_time(), server.cpu_seconds() if server else 0.0)
                run = run_http(args, data, server.port) if mode == "http" and server else run_service(args, data)
                cpu = {
                    "clients_s": round(time.process_time() - cpu_before[0], 1),
                    "server_s": round(server.cpu_seconds() - cpu_before[1], 1) if server and mode == "http" else None,
                }
                log(f"booking phase: {run.seconds:.1f} s")
                feed = measure_feed_http(args, data, server.port) if feed_route and server else None
            load["after"] = [round(value, 2) for value in os.getloadavg()]
            feed_in_process = measure_feed_in_process(args, data)
            figures = report(
                args,
                mode=mode,
                data=data,
                run=run,
                feed=feed or feed_in_process,
                feed_in_process=feed_in_process,
                truth=database_truth(data),
                load=load,
                cpu=cpu,
            )
    except BenchError as error:
        log(f"cannot run: {error}")
        return 2
    print(json.dumps(figures, indent=2))
    return 0 if figures["correct"] else 1


if __name__ == "__main__":
    sys.exit(main())
