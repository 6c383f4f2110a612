"""Pure booking and scheduling rules: no I/O, no Django models, no database.

Everything here is a plain function over frozen dataclasses, so services can fetch what they need,
build the dataclass and call one function (see docs/adr/0007-time-zones-and-dst.md for the time
rules). Conventions used throughout:

* Instants are aware ``datetime`` objects. Functions that return instants return them in UTC;
  functions that take instants accept any aware datetime and raise ``ValueError`` on naive ones.
* Wall-clock times ("10:00 in Rome") are naive ``datetime``/``date``/``time`` objects paired with an
  IANA zone name, and are turned into instants only by :func:`localize` (RFC 5545 §3.3.5 rules).
* Money is an ``int`` in minor units (cents): integer arithmetic, no float or rounding surprises.
* Human-readable text is English and does not depend on the process locale (no ``%a``/``%b``).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import cache, cached_property

from dateutil import rrule as dateutil_rrule

__all__ = [
    "DEFAULT_REFUND_POLICY",
    "DEFAULT_REMINDER_OFFSETS",
    "MAX_OCCURRENCES",
    "MAX_STARTS_PER_DAY",
    "ExpansionTooLarge",
    "Interval",
    "InvalidRefundPolicy",
    "InvalidSchedule",
    "InvalidTimeZone",
    "NotBookable",
    "NotBookableReason",
    "Occurrence",
    "RefundPolicy",
    "RefundQuote",
    "RefundTier",
    "Schedule",
    "SlotState",
    "TimePair",
    "ZonedTime",
    "check_bookable",
    "check_rrule",
    "describe",
    "expand",
    "find_clash",
    "find_clashes",
    "format_offset",
    "format_pair",
    "format_wall_time",
    "get_zone",
    "localize",
    "overlaps",
    "refund_for",
    "reminder_kind",
    "reminder_times",
    "seats_left",
    "slot_state",
    "to_viewer",
    "weekly_rrules",
    "zoned",
]

# A window of up to 366 days over the busiest valid schedule (24 starts a day, every day) gives
# 8,784 occurrences, so this cap only trips for windows longer than a year: a guard against abuse
# (a feed asked for ten years), never a limit a real schedule meets.
MAX_OCCURRENCES = 10_000
MAX_STARTS_PER_DAY = 24

_WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_FULL_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# --------------------------------------------------------------------------------------------
# Time zones and wall time
# --------------------------------------------------------------------------------------------


class InvalidTimeZone(ValueError):
    """The name is not an IANA zone known to this machine's tz database."""


@cache
def _known_zones() -> frozenset[str]:
    # available_timezones() scans the tz database (tens of ms): once per process is enough.
    # "localtime" and "posixrules" are files some systems add; their meaning depends on the machine.
    return frozenset(zoneinfo.available_timezones()) - {"localtime", "posixrules"}


def get_zone(name: str) -> zoneinfo.ZoneInfo:
    """The ``ZoneInfo`` for an IANA name such as ``"Europe/Rome"``.

    Only names listed by ``zoneinfo.available_timezones()`` are accepted, so file-system tricks
    (``"../etc/passwd"``) and oddities such as ``"localtime"`` raise :class:`InvalidTimeZone`.
    """
    if name not in _known_zones():
        raise InvalidTimeZone(f"{name!r} is not a known IANA time zone (e.g. 'Europe/Rome').")
    return zoneinfo.ZoneInfo(name)


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")


def localize(local: datetime, tz: str) -> datetime:
    """The UTC instant of a wall-clock time in ``tz``, by RFC 5545 §3.3.5.

    * An ambiguous time (the repeated hour when clocks go back) means its FIRST occurrence:
      02:30 Europe/Rome on 2026-10-25 is 02:30 CEST = 00:30 UTC.
    * A time that does not exist (skipped when clocks go forward) is read with the UTC offset in
      force before the gap: 02:30 Europe/Rome on 2026-03-29 is read as 02:30+01:00 = 01:30 UTC,
      which people in Rome see as 03:30 CEST.

    Both are exactly what ``zoneinfo`` does with ``fold=0``; any ``fold`` on the input is ignored.
    ``local`` must be naive (a wall time); raises ``ValueError`` otherwise, and
    :class:`InvalidTimeZone` for an unknown zone.
    """
    if local.tzinfo is not None:
        raise ValueError(f"localize() takes a naive wall-clock time, got {local!r}")
    return local.replace(tzinfo=get_zone(tz), fold=0).astimezone(UTC)


def _localize_in(local: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def to_viewer(instant_utc: datetime, viewer_tz: str) -> datetime:
    """The same instant expressed in the viewer's zone (an aware datetime; equal to the input)."""
    _require_aware(instant_utc, "instant_utc")
    return instant_utc.astimezone(get_zone(viewer_tz))


def format_offset(offset: timedelta) -> str:
    """A UTC offset as ``"+05:45"``, ``"-04:00"`` or ``"+00:00"`` (seconds shown only if non-zero)."""
    sign = "-" if offset < timedelta(0) else "+"
    total = abs(int(offset.total_seconds()))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}"
    return f"{text}:{seconds:02d}" if seconds else text


def format_wall_time(local: datetime) -> str:
    """``"Tue 10 Mar 2026, 09:00"``: English and independent of the process locale."""
    return f"{_DAY_NAMES[local.weekday()]} {local.day} {_MONTH_NAMES[local.month - 1]} {local.year}, {local:%H:%M}"


@dataclass(frozen=True)
class ZonedTime:
    """One instant as read in one zone."""

    tz: str
    local: datetime  # aware, in ``tz``
    utc_offset: timedelta  # timedelta(hours=5, minutes=45)
    offset: str  # "+05:45"
    text: str  # "Tue 10 Mar 2026, 09:00"

    @property
    def label(self) -> str:
        """``"Tue 10 Mar 2026, 09:00 (Asia/Kathmandu, UTC+05:45)"``."""
        return f"{self.text} ({self.tz}, UTC{self.offset})"


@dataclass(frozen=True)
class TimePair:
    """A start time for a viewer, with the tour's own (Italian) time beside it."""

    viewer: ZonedTime
    tour: ZonedTime

    @property
    def same_wall_time(self) -> bool:
        """True when both read the same (the viewer is in Italy): show the time once."""
        return self.viewer.text == self.tour.text and self.viewer.offset == self.tour.offset


def zoned(instant_utc: datetime, tz: str) -> ZonedTime:
    """Read ``instant_utc`` in ``tz``: wall time, offset string and display text."""
    local = to_viewer(instant_utc, tz)
    offset = local.utcoffset() or timedelta(0)  # never None: ZoneInfo always gives an aware datetime an offset
    return ZonedTime(tz=tz, local=local, utc_offset=offset, offset=format_offset(offset), text=format_wall_time(local))


def format_pair(instant_utc: datetime, viewer_tz: str, tour_tz: str) -> TimePair:
    """The instant in the viewer's zone and in the tour's zone, each with its UTC offset."""
    return TimePair(viewer=zoned(instant_utc, viewer_tz), tour=zoned(instant_utc, tour_tz))


# --------------------------------------------------------------------------------------------
# Schedules: RRULE in the tour's zone, expanded in wall time
# --------------------------------------------------------------------------------------------


class InvalidSchedule(ValueError):
    """A schedule or RRULE that is refused; ``str(error)`` is a message fit for the guide."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ExpansionTooLarge(ValueError):
    """The window asked for would give more than the occurrence limit: ask for a shorter window."""


_FREQUENCIES = {
    "DAILY": dateutil_rrule.DAILY,
    "WEEKLY": dateutil_rrule.WEEKLY,
    "MONTHLY": dateutil_rrule.MONTHLY,
}
# Steps of at most 28 days keep every DAILY or WEEKLY rule that filters by month meeting a date
# within a year (see _check_reachable): dateutil spins until year 9999 on a rule that never matches.
_MAX_INTERVAL = {"DAILY": 28, "WEEKLY": 4, "MONTHLY": 12}
_ALLOWED_PARTS = frozenset(
    {"FREQ", "INTERVAL", "COUNT", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYHOUR", "BYMINUTE", "WKST"}
)
_REFUSED_PARTS = {
    "UNTIL": "UNTIL is not used: give the last day as valid_until (a date in the tour's zone)",
    "BYSECOND": "BYSECOND is not supported: tours start on a whole minute",
    "BYSETPOS": "BYSETPOS is not supported: use BYDAY=1MO, BYDAY=-1FR and the like",
    "BYYEARDAY": "BYYEARDAY is not supported: use BYMONTH with BYMONTHDAY",
    "BYWEEKNO": "BYWEEKNO is not supported: use BYMONTH, or a rule per period",
    "DTSTART": "DTSTART is not used: the first day is valid_from",
}
_BYDAY_ITEM = re.compile(r"([+-]?)([1-9]?)(MO|TU|WE|TH|FR|SA|SU)")
_RRULE_CHARACTERS = re.compile(r"[A-Z0-9=;,+\-]+")


@dataclass(frozen=True)
class _ParsedRule:
    freq: str
    interval: int
    count: int | None
    wkst: int
    byweekday: tuple[dateutil_rrule.weekday, ...] | None
    bymonthday: tuple[int, ...] | None
    bymonth: tuple[int, ...] | None
    byhour: tuple[int, ...]
    byminute: tuple[int, ...]

    def build(self, dtstart: datetime) -> dateutil_rrule.rrule:
        return dateutil_rrule.rrule(
            _FREQUENCIES[self.freq],
            dtstart=dtstart,
            interval=self.interval,
            wkst=self.wkst,
            count=self.count,
            byweekday=self.byweekday,
            bymonthday=self.bymonthday,
            bymonth=self.bymonth,
            byhour=self.byhour,
            byminute=self.byminute,
            bysecond=0,
            cache=False,
        )


def _int_list(name: str, value: str, *, low: int, high: int, allow_negative: bool = False) -> tuple[int, ...]:
    numbers: set[int] = set()
    for item in value.split(","):
        try:
            number = int(item)
        except ValueError:
            raise InvalidSchedule(f"{name}={value}: {item!r} is not a whole number") from None
        if not low <= abs(number) <= high or (number < 0 and not allow_negative):
            span = f"{low}..{high}" + (f" or -{high}..-{low}" if allow_negative else "")
            raise InvalidSchedule(f"{name}={value}: {number} is outside {span}")
        numbers.add(number)
    return tuple(sorted(numbers))


def _parse_byday(value: str, freq: str) -> tuple[dateutil_rrule.weekday, ...]:
    days: list[dateutil_rrule.weekday] = []
    for item in value.split(","):
        match = _BYDAY_ITEM.fullmatch(item)
        if match is None or (match.group(1) and not match.group(2)):
            raise InvalidSchedule(f"BYDAY={value}: {item!r} is not a weekday such as MO, 1SU or -1FR")
        sign, digit, code = match.groups()
        weekday = dateutil_rrule.weekday(_WEEKDAY_CODES.index(code))
        if digit:
            if freq != "MONTHLY":
                raise InvalidSchedule(f"BYDAY={value}: numbered weekdays such as {item} need FREQ=MONTHLY")
            if int(digit) > 5:
                raise InvalidSchedule(f"BYDAY={value}: a month has at most 5 of each weekday")
            weekday = weekday(-int(digit) if sign == "-" else int(digit))
        if weekday in days:
            continue
        days.append(weekday)
    return tuple(days)


def _days_in_month_at_most(month: int) -> int:
    return 29 if month == 2 else 30 if month in (4, 6, 9, 11) else 31


def _check_reachable(rule: _ParsedRule, valid_from: date) -> None:
    """Refuse MONTHLY rules that can never produce a date (e.g. INTERVAL=12 from January, BYMONTH=3).

    DAILY and WEEKLY rules cannot get here empty: BYDAY with DAILY needs INTERVAL=1, and steps of
    at most 28 days (4 weeks) always land in every month (each has at least 28 days).
    """
    if rule.freq != "MONTHLY":
        return
    reachable = {(valid_from.month - 1 + step * rule.interval) % 12 + 1 for step in range(12)}
    if rule.bymonth is not None:
        reachable &= set(rule.bymonth)
    if not reachable:
        listed = ", ".join(_FULL_MONTH_NAMES[month - 1] for month in rule.bymonth or ())
        start = _FULL_MONTH_NAMES[valid_from.month - 1]
        raise InvalidSchedule(
            f"Every {rule.interval} months counted from {start} never reaches {listed}: no date would be produced"
        )
    if rule.bymonthday is not None and not any(
        abs(day) <= _days_in_month_at_most(month) for day in rule.bymonthday for month in reachable
    ):
        raise InvalidSchedule("None of the months this rule reaches has that day of the month")


def _split_parts(body: str) -> dict[str, str]:
    text = body.strip().upper()
    text = text.removeprefix("RRULE:")
    if not text:
        raise InvalidSchedule("The recurrence rule is empty")
    if len(text) > 300 or not _RRULE_CHARACTERS.fullmatch(text):
        raise InvalidSchedule("The recurrence rule must be one RFC 5545 RRULE line such as FREQ=WEEKLY;BYDAY=MO")
    parts: dict[str, str] = {}
    for part in text.split(";"):
        name, equals, value = part.partition("=")
        if not equals or not name or not value or "=" in value:
            raise InvalidSchedule(f"{part!r} is not NAME=VALUE")
        if name in parts:
            raise InvalidSchedule(f"{name} is given twice")
        parts[name] = value
    return parts


def _parse_rrule(body: str, *, valid_from: date) -> _ParsedRule:
    parts = _split_parts(body)
    if "COUNT" in parts and "UNTIL" in parts:
        raise InvalidSchedule("COUNT and UNTIL cannot both be given (RFC 5545)")
    for name in parts:
        if name in _REFUSED_PARTS:
            raise InvalidSchedule(_REFUSED_PARTS[name])
        if name not in _ALLOWED_PARTS:
            raise InvalidSchedule(f"{name} is not a recurrence rule part this site understands")
    freq = parts.get("FREQ")
    if freq is None:
        raise InvalidSchedule("FREQ is required (DAILY, WEEKLY or MONTHLY)")
    if freq in ("SECONDLY", "MINUTELY", "HOURLY"):
        raise InvalidSchedule(f"FREQ={freq} is refused: a tour repeats at most daily (list its times in BYHOUR)")
    if freq == "YEARLY":
        raise InvalidSchedule("FREQ=YEARLY is not supported: use FREQ=MONTHLY with BYMONTH")
    if freq not in _FREQUENCIES:
        raise InvalidSchedule(f"FREQ={freq} is not DAILY, WEEKLY or MONTHLY")

    interval = _int_list("INTERVAL", parts.get("INTERVAL", "1"), low=1, high=_MAX_INTERVAL[freq])
    if len(interval) != 1:
        raise InvalidSchedule("INTERVAL takes one number")
    count: int | None = None
    if "COUNT" in parts:
        counts = _int_list("COUNT", parts["COUNT"], low=1, high=MAX_OCCURRENCES)
        if len(counts) != 1:
            raise InvalidSchedule("COUNT takes one number")
        count = counts[0]
    wkst = parts.get("WKST", "MO")
    if wkst not in _WEEKDAY_CODES:
        raise InvalidSchedule(f"WKST={wkst} is not a weekday code")

    if "BYHOUR" not in parts:
        raise InvalidSchedule("BYHOUR is required: the local start hour(s), e.g. BYHOUR=10,15;BYMINUTE=0")
    byhour = _int_list("BYHOUR", parts["BYHOUR"], low=0, high=23)
    byminute = _int_list("BYMINUTE", parts.get("BYMINUTE", "0"), low=0, high=59)
    if len(byhour) * len(byminute) > MAX_STARTS_PER_DAY:
        raise InvalidSchedule(f"At most {MAX_STARTS_PER_DAY} start times a day (every BYHOUR with every BYMINUTE)")

    byweekday: tuple[dateutil_rrule.weekday, ...] | None = None
    if "BYDAY" in parts:
        byweekday = _parse_byday(parts["BYDAY"], freq)
    bymonthday = None
    if "BYMONTHDAY" in parts:
        if freq != "MONTHLY":
            raise InvalidSchedule("BYMONTHDAY needs FREQ=MONTHLY")
        bymonthday = _int_list("BYMONTHDAY", parts["BYMONTHDAY"], low=1, high=31, allow_negative=True)
    bymonth = _int_list("BYMONTH", parts["BYMONTH"], low=1, high=12) if "BYMONTH" in parts else None

    # No implicit days from valid_from: moving valid_from must never move the weekday.
    if freq == "DAILY" and byweekday is not None and interval[0] != 1:
        raise InvalidSchedule("FREQ=DAILY with BYDAY needs INTERVAL=1 (for every other week use FREQ=WEEKLY)")
    if freq == "WEEKLY" and byweekday is None:
        raise InvalidSchedule("FREQ=WEEKLY needs BYDAY (the weekdays the tour runs)")
    if freq == "MONTHLY" and (byweekday is None) == (bymonthday is None):
        raise InvalidSchedule("FREQ=MONTHLY needs exactly one of BYDAY (e.g. 1SU, -1FR) or BYMONTHDAY (e.g. 15)")

    rule = _ParsedRule(
        freq=freq,
        interval=interval[0],
        count=count,
        wkst=_WEEKDAY_CODES.index(wkst),
        byweekday=byweekday,
        bymonthday=bymonthday,
        bymonth=bymonth,
        byhour=byhour,
        byminute=byminute,
    )
    _check_reachable(rule, valid_from)
    return rule


def check_rrule(rrule: str, *, valid_from: date) -> None:
    """Validate an RRULE body the way :class:`Schedule` does; raises :class:`InvalidSchedule`.

    For a form field validator. The accepted subset of RFC 5545 (what a guide's form produces):

    * ``FREQ`` = ``DAILY`` | ``WEEKLY`` | ``MONTHLY``; finer ones and ``YEARLY`` are refused.
    * ``BYHOUR`` (required) and ``BYMINUTE`` (default 0) give the local start times; per RFC 5545
      every hour is combined with every minute (``BYHOUR=10,15;BYMINUTE=0,30`` is four starts), so
      "10:00 and 15:30" needs two rules (:func:`weekly_rrules` builds them). At most
      ``MAX_STARTS_PER_DAY`` combinations.
    * ``BYDAY``: required with WEEKLY; with DAILY only when INTERVAL=1; with MONTHLY plain (MO)
      or numbered (1SU, -1FR). ``BYMONTHDAY`` only with MONTHLY, instead of BYDAY.
    * ``BYMONTH`` (seasonal tours), ``INTERVAL`` (DAILY <= 28, WEEKLY <= 4, MONTHLY <= 12),
      ``COUNT`` (counts start times, from valid_from), ``WKST``.
    * ``UNTIL`` is refused (the end is ``valid_until``), as are BYSECOND, BYSETPOS, BYYEARDAY,
      BYWEEKNO and rules that can never produce a date.
    """
    _parse_rrule(rrule, valid_from=valid_from)


def weekly_rrules(*, weekdays: Iterable[int], start_times: Iterable[time], interval: int = 1) -> list[str]:
    """RRULE bodies for a guide's form: weekdays (0 = Monday) and local start times.

    Start times that share the same set of hours across minutes are merged, so
    ``10:00, 15:00, 10:30, 15:30`` gives one rule (BYHOUR=10,15;BYMINUTE=0,30) while
    ``10:00, 15:30`` gives two. Raises ``ValueError`` on empty input, seconds, aware times or an
    interval outside 1..4 weeks.
    """
    days = sorted(set(weekdays))
    times = sorted(set(start_times))
    if not days or not times:
        raise ValueError("Give at least one weekday and one start time")
    if any(not 0 <= day <= 6 for day in days):
        raise ValueError("Weekdays are 0 (Monday) to 6 (Sunday)")
    if not 1 <= interval <= _MAX_INTERVAL["WEEKLY"]:
        raise ValueError(f"A tour repeats every 1 to {_MAX_INTERVAL['WEEKLY']} weeks")
    if any(moment.tzinfo is not None or moment.second or moment.microsecond for moment in times):
        raise ValueError("Start times are naive wall-clock times on a whole minute")
    hours_by_minute: dict[int, set[int]] = {}
    for moment in times:
        hours_by_minute.setdefault(moment.minute, set()).add(moment.hour)
    minutes_by_hours: dict[tuple[int, ...], list[int]] = {}
    for minute, hours in sorted(hours_by_minute.items()):
        minutes_by_hours.setdefault(tuple(sorted(hours)), []).append(minute)
    byday = ",".join(_WEEKDAY_CODES[day] for day in days)
    interval_part = f";INTERVAL={interval}" if interval != 1 else ""
    return [
        f"FREQ=WEEKLY{interval_part};BYDAY={byday};BYHOUR={','.join(map(str, hours))};"
        f"BYMINUTE={','.join(map(str, minutes))}"
        for hours, minutes in sorted(minutes_by_hours.items(), key=lambda item: (item[1][0], item[0]))
    ]


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """A tour's recurring start times, written in the tour's zone.

    * ``tz``: IANA zone the times are written in (``"Europe/Rome"``).
    * ``rrule``: RRULE body with the local start times in BYHOUR/BYMINUTE, e.g.
      ``"FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=10,15;BYMINUTE=0"`` (accepted subset: :func:`check_rrule`).
      Weekly INTERVAL is counted from the week of ``valid_from``.
    * ``valid_from`` / ``valid_until``: first and last local day (both inclusive; None = open).
    * ``exdates``: local days when the tour does not run (blackouts).
    * ``duration``: elapsed time of one tour (a 2 h tour lasts 2 real hours even across a DST change).

    Construction validates everything and raises :class:`InvalidSchedule` with a message for the
    guide, so a ``Schedule`` that exists always expands.
    """

    tz: str
    rrule: str
    valid_from: date
    valid_until: date | None = None
    exdates: frozenset[date] = field(default_factory=frozenset)
    duration: timedelta

    def __post_init__(self) -> None:
        if self.tz not in _known_zones():
            raise InvalidSchedule(f"{self.tz!r} is not a known IANA time zone (e.g. 'Europe/Rome')")
        if isinstance(self.valid_from, datetime) or (
            self.valid_until is not None and isinstance(self.valid_until, datetime)
        ):
            raise InvalidSchedule("valid_from and valid_until are dates, not datetimes")
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise InvalidSchedule("The schedule ends before it starts (valid_until < valid_from)")
        if self.duration <= timedelta(0) or self.duration > timedelta(days=1):
            raise InvalidSchedule("A tour lasts more than zero and at most 24 hours")
        _parse_rrule(self.rrule, valid_from=self.valid_from)

    @cached_property
    def _rule(self) -> _ParsedRule:
        return _parse_rrule(self.rrule, valid_from=self.valid_from)


@dataclass(frozen=True, kw_only=True)
class Occurrence:
    """One start of a tour.

    ``start_utc``/``end_utc`` are aware UTC instants; ``local_start`` is the naive wall time as
    the rule wrote it and ``tz`` its zone. They differ from the real local reading of
    ``start_utc`` only inside a spring-forward gap (see :attr:`in_dst_gap`).
    """

    start_utc: datetime
    end_utc: datetime
    local_start: datetime
    tz: str

    @property
    def in_dst_gap(self) -> bool:
        """True when ``local_start`` does not exist in ``tz`` (clocks jumped over it).

        The tour then starts at the same instant as ``local_start`` read with the pre-gap offset,
        i.e. 02:30 on Rome's spring-forward night starts at 03:30 CEST (01:30 UTC).
        """
        actual = self.start_utc.astimezone(get_zone(self.tz)).replace(tzinfo=None)
        return actual != self.local_start


def _phase_kept_start(rule: _ParsedRule, valid_from: date, first_needed: date) -> date:
    """The latest day <= first_needed from which the rule yields the same dates (from first_needed on).

    Lets a schedule that began years ago expand a window today without walking every day since.
    Moving by whole periods of INTERVAL keeps the phase; COUNT needs every date from the start.
    """
    if rule.count is not None or first_needed <= valid_from:
        return valid_from
    if rule.freq in ("DAILY", "WEEKLY"):
        period = rule.interval * (7 if rule.freq == "WEEKLY" else 1)
        periods = (first_needed - valid_from).days // period
        return valid_from + timedelta(days=periods * period)
    months = (first_needed.year - valid_from.year) * 12 + first_needed.month - valid_from.month
    steps = months // rule.interval
    if steps == 0:
        return valid_from
    month_index = valid_from.month - 1 + steps * rule.interval
    # The first of that month: it is after valid_from's month, so the original rule takes every day of it.
    return date(valid_from.year + month_index // 12, month_index % 12 + 1, 1)


def _local_starts(schedule: Schedule, rule: _ParsedRule, first: date, last: date) -> Iterator[datetime]:
    start_day = _phase_kept_start(rule, schedule.valid_from, first)
    for local in rule.build(datetime.combine(start_day, time())):
        day = local.date()
        if day > last:
            return
        if day >= first and day not in schedule.exdates:
            yield local


def expand(
    schedule: Schedule, *, window_start: datetime, window_end: datetime, limit: int = MAX_OCCURRENCES
) -> list[Occurrence]:
    """The occurrences that start in ``[window_start, window_end)``, sorted by start, unique.

    Expansion runs in the tour's wall time (dateutil over naive datetimes), and each local start
    becomes an instant with :func:`localize`: a 10:00 Rome tour stays 10:00 in Rome all year
    (09:00 UTC in winter, 08:00 UTC in summer). Exdates are compared with the local day.

    Two local starts can give the same instant (02:30 and 03:30 on a spring-forward night); the
    result holds it once, with the wall time that really exists (03:30).

    Raises ``ValueError`` for naive window bounds and :class:`ExpansionTooLarge` when more than
    ``limit`` occurrences fall in the window (never for windows up to 366 days).
    """
    _require_aware(window_start, "window_start")
    _require_aware(window_end, "window_end")
    if window_end <= window_start:
        return []
    zone = get_zone(schedule.tz)
    # Two days of margin: no zone is more than 26 h from UTC, and a gap moves a start by hours.
    first = max(schedule.valid_from, window_start.astimezone(zone).date() - timedelta(days=2))
    last = window_end.astimezone(zone).date() + timedelta(days=2)
    if schedule.valid_until is not None:
        last = min(last, schedule.valid_until)
    if last < first:
        return []

    by_instant: dict[datetime, Occurrence] = {}
    for local in _local_starts(schedule, schedule._rule, first, last):
        start_utc = _localize_in(local, zone)
        if not window_start <= start_utc < window_end:
            continue
        occurrence = Occurrence(
            start_utc=start_utc, end_utc=start_utc + schedule.duration, local_start=local, tz=schedule.tz
        )
        previous = by_instant.get(start_utc)
        if previous is None or (previous.in_dst_gap and not occurrence.in_dst_gap):
            by_instant[start_utc] = occurrence
        if len(by_instant) > limit:
            raise ExpansionTooLarge(f"More than {limit} occurrences in the window: ask for a shorter window")
    return [by_instant[instant] for instant in sorted(by_instant)]


# --------------------------------------------------------------------------------------------
# Overlaps
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A half-open span of time ``[start, end)`` between aware instants, with a label for messages."""

    start: datetime
    end: datetime
    label: str = ""

    def __post_init__(self) -> None:
        _require_aware(self.start, "Interval.start")
        _require_aware(self.end, "Interval.end")
        if self.end <= self.start:
            raise ValueError(f"Interval {self.label!r} ends at or before its start")


def overlaps(first: Interval, second: Interval, *, buffer: timedelta = timedelta(0)) -> bool:
    """Whether two intervals overlap once each is extended by ``buffer`` after its end.

    So they may not start less than ``buffer`` after the other ends; exactly ``buffer`` apart is
    fine (with buffer 0, back-to-back intervals do not overlap).
    """
    if buffer < timedelta(0):
        raise ValueError("buffer must not be negative")
    return first.start < second.end + buffer and second.start < first.end + buffer


def find_clashes(candidate: Interval, existing: Iterable[Interval], *, buffer: timedelta) -> list[Interval]:
    """Every interval in ``existing`` that clashes with ``candidate`` (see :func:`overlaps`), by start.

    Buffer 0 answers "does this booking overlap another of mine?" for customers; the guide's buffer
    answers "may this slot be added?" across all of a guide's tours.
    """
    clashes = [other for other in existing if overlaps(candidate, other, buffer=buffer)]
    return sorted(clashes, key=lambda other: (other.start, other.end, other.label))


def find_clash(candidate: Interval, existing: Iterable[Interval], *, buffer: timedelta) -> Interval | None:
    """The earliest-starting interval that clashes with ``candidate``, or None."""
    clashes = find_clashes(candidate, existing, buffer=buffer)
    return clashes[0] if clashes else None


# --------------------------------------------------------------------------------------------
# Booking window
# --------------------------------------------------------------------------------------------


class NotBookableReason(StrEnum):
    PAST = "past"
    INSIDE_CUTOFF = "inside_cutoff"
    BEYOND_HORIZON = "beyond_horizon"


class NotBookable(Exception):
    """A slot cannot be booked now; ``reason_code`` is stable for APIs, ``message`` is for people."""

    def __init__(self, reason_code: NotBookableReason, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message


def _duration_text(span: timedelta) -> str:
    minutes = int(span.total_seconds()) // 60
    if minutes and minutes % (24 * 60) == 0:
        count, unit = minutes // (24 * 60), "day"
    elif minutes and minutes % 60 == 0:
        count, unit = minutes // 60, "hour"
    else:
        count, unit = minutes, "minute"
    return f"{count} {unit}{'' if count == 1 else 's'}"


def check_bookable(*, start_utc: datetime, now: datetime, min_notice: timedelta, horizon: timedelta) -> None:
    """Raise :class:`NotBookable` unless a slot starting at ``start_utc`` may be booked at ``now``.

    Bookable when ``now + min_notice <= start_utc <= now + horizon`` (both edges included) and the
    slot has not started; a horizon shorter than the notice leaves nothing bookable. Reasons,
    checked in this order: ``past`` (started or over), ``inside_cutoff`` (less than ``min_notice``
    to go), ``beyond_horizon`` (more than ``horizon`` ahead).
    """
    _require_aware(start_utc, "start_utc")
    _require_aware(now, "now")
    if min_notice < timedelta(0) or horizon < timedelta(0):
        raise ValueError("min_notice and horizon are never negative")
    ahead = start_utc - now
    if ahead <= timedelta(0):
        raise NotBookable(NotBookableReason.PAST, "This tour has already started.")
    if ahead < min_notice:
        raise NotBookable(
            NotBookableReason.INSIDE_CUTOFF, f"Bookings close {_duration_text(min_notice)} before the start."
        )
    if ahead > horizon:
        raise NotBookable(
            NotBookableReason.BEYOND_HORIZON,
            f"This date opens for booking {_duration_text(horizon)} before the start.",
        )


# --------------------------------------------------------------------------------------------
# Refund policy
# --------------------------------------------------------------------------------------------


class InvalidRefundPolicy(ValueError):
    """A refund policy that is refused; the message says why."""


@dataclass(frozen=True)
class RefundTier:
    """``percent`` of the amount paid is refunded when cancelling at least ``min_hours_before`` the start."""

    min_hours_before: int
    percent: int


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class RefundPolicy:
    """Refund tiers, most generous first.

    Valid when: every ``min_hours_before`` is a whole number >= 0, every ``percent`` is 0..100,
    the tiers are sorted by ``min_hours_before`` descending with no duplicates, and percentages
    never rise as the start gets closer (so cancelling earlier never refunds less). Below the
    last tier nothing is refunded. An empty policy refunds nothing.
    """

    tiers: tuple[RefundTier, ...]

    def __post_init__(self) -> None:
        for tier in self.tiers:
            if not _is_int(tier.min_hours_before) or not _is_int(tier.percent):
                raise InvalidRefundPolicy("Hours and percentages are whole numbers")
            if tier.min_hours_before < 0:
                raise InvalidRefundPolicy("Hours before the start cannot be negative")
            if not 0 <= tier.percent <= 100:
                raise InvalidRefundPolicy(f"{tier.percent}% is not between 0 and 100")
        for earlier, later in zip(self.tiers, self.tiers[1:], strict=False):
            if earlier.min_hours_before == later.min_hours_before:
                raise InvalidRefundPolicy(f"Two tiers for {earlier.min_hours_before} hours")
            if earlier.min_hours_before < later.min_hours_before:
                raise InvalidRefundPolicy("Tiers must be sorted from the most hours before the start to the fewest")
            if later.percent > earlier.percent:
                raise InvalidRefundPolicy("Cancelling later cannot refund more than cancelling earlier")

    @classmethod
    def from_pairs(cls, pairs: Iterable[Sequence[int]]) -> RefundPolicy:
        """From stored JSON such as ``[[48, 100], [24, 50]]`` ([hours before, percent]), any order."""
        tiers: list[RefundTier] = []
        for pair in pairs:
            if len(pair) != 2:
                raise InvalidRefundPolicy(f"{pair!r} is not [hours before, percent]")
            tiers.append(RefundTier(min_hours_before=pair[0], percent=pair[1]))
        try:
            tiers.sort(key=lambda tier: -tier.min_hours_before)
        except TypeError:
            raise InvalidRefundPolicy("Hours and percentages are whole numbers") from None
        return cls(tiers=tuple(tiers))

    def to_pairs(self) -> list[list[int]]:
        """The JSON form read by :meth:`from_pairs`."""
        return [[tier.min_hours_before, tier.percent] for tier in self.tiers]


DEFAULT_REFUND_POLICY = RefundPolicy(
    tiers=(RefundTier(min_hours_before=48, percent=100), RefundTier(min_hours_before=24, percent=50))
)


@dataclass(frozen=True)
class RefundQuote:
    """What cancelling now refunds.

    * ``percent``/``amount``: the refund (amount in minor units, rounded down to the cent).
    * ``tier_description``: one sentence for the customer.
    * ``deadline_next_tier``: the last instant (UTC) at which this percentage still applies; right
      after it the refund drops to ``next_percent``. Both None when nothing is refunded.
    """

    percent: int
    amount: int
    tier_description: str
    deadline_next_tier: datetime | None
    next_percent: int | None


def _percent_text(percent: int) -> str:
    return "Full refund" if percent == 100 else "No refund" if percent == 0 else f"{percent}% refund"


def _hours_text(hours: int) -> str:
    return f"{hours} hour{'' if hours == 1 else 's'}"


def _applicable_index(policy: RefundPolicy, ahead: timedelta) -> int | None:
    for index, tier in enumerate(policy.tiers):
        if ahead >= timedelta(hours=tier.min_hours_before) and tier.percent > 0:
            return index
    return None


def _last_index_with_same_percent(policy: RefundPolicy, index: int) -> int:
    percent = policy.tiers[index].percent
    while index + 1 < len(policy.tiers) and policy.tiers[index + 1].percent == percent:
        index += 1
    return index


def refund_for(policy: RefundPolicy, *, amount_paid: int, start_utc: datetime, now: datetime) -> RefundQuote:
    """The refund for cancelling at ``now`` a booking that paid ``amount_paid`` minor units.

    A tier applies when ``start_utc - now >= min_hours_before`` hours: cancelling exactly 48 h
    before the start gets the 48 h tier. Once the tour has started nothing is refunded. The amount
    is ``amount_paid * percent // 100``: integer arithmetic, rounded down, never more than paid.
    """
    if not _is_int(amount_paid) or amount_paid < 0:
        raise ValueError("amount_paid is a whole, non-negative number of minor units (cents)")
    _require_aware(start_utc, "start_utc")
    _require_aware(now, "now")
    ahead = start_utc - now
    index = _applicable_index(policy, ahead)
    if index is None:
        positive = [tier for tier in policy.tiers if tier.percent > 0]
        if not positive:
            description = "No refund: bookings for this tour are not refundable."
        elif ahead <= timedelta(0):
            description = "No refund: the tour has already started."
        else:
            threshold = positive[-1].min_hours_before
            description = f"No refund: cancelled less than {_hours_text(threshold)} before the start."
        return RefundQuote(
            percent=0, amount=0, tier_description=description, deadline_next_tier=None, next_percent=None
        )
    tier = policy.tiers[index]
    last = _last_index_with_same_percent(policy, index)
    deadline = start_utc.astimezone(UTC) - timedelta(hours=policy.tiers[last].min_hours_before)
    next_percent = policy.tiers[last + 1].percent if last + 1 < len(policy.tiers) else 0
    if tier.min_hours_before == 0:
        when = "before the start"
    else:
        when = f"at least {_hours_text(tier.min_hours_before)} before the start"
    return RefundQuote(
        percent=tier.percent,
        amount=amount_paid * tier.percent // 100,
        tier_description=f"{_percent_text(tier.percent)}: cancelled {when}.",
        deadline_next_tier=deadline,
        next_percent=next_percent,
    )


def describe(policy: RefundPolicy, *, start_utc: datetime, viewer_tz: str, now: datetime | None = None) -> list[str]:
    """The policy as lines for a person, with deadlines read in their zone, e.g.::

        Full refund until Tue 10 Mar 2026, 09:00 (America/New_York)
        50% refund until Wed 11 Mar 2026, 09:00 (America/New_York)
        No refund after Wed 11 Mar 2026, 09:00 (America/New_York)

    "until" includes the instant shown. With ``now``, lines whose deadline has passed are left out.
    Tiers with the same percentage are merged; a policy that never refunds gives ``["No refund."]``.
    """
    _require_aware(start_utc, "start_utc")
    zone = get_zone(viewer_tz)
    lines: list[str] = []
    last_deadline: datetime | None = None
    index = 0
    while index < len(policy.tiers) and policy.tiers[index].percent > 0:
        last = _last_index_with_same_percent(policy, index)
        deadline = start_utc - timedelta(hours=policy.tiers[last].min_hours_before)
        if now is None or now <= deadline:
            local = format_wall_time(deadline.astimezone(zone))
            lines.append(f"{_percent_text(policy.tiers[index].percent)} until {local} ({viewer_tz})")
        last_deadline = deadline
        index = last + 1
    if last_deadline is None:
        return ["No refund."]
    lines.append(f"No refund after {format_wall_time(last_deadline.astimezone(zone))} ({viewer_tz})")
    return lines


# --------------------------------------------------------------------------------------------
# Reminders
# --------------------------------------------------------------------------------------------

DEFAULT_REMINDER_OFFSETS = (timedelta(hours=24), timedelta(hours=1))


def reminder_kind(offset: timedelta) -> str:
    """``"24h"``, ``"1h"``, ``"90m"``: the stored kind of a reminder sent ``offset`` before the start."""
    seconds = int(offset.total_seconds())
    if offset <= timedelta(0) or seconds % 60 or offset != timedelta(seconds=seconds):
        raise ValueError("Reminder offsets are positive whole minutes")
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds // 60}m"


def reminder_times(
    start_utc: datetime, *, offsets: Sequence[timedelta] = DEFAULT_REMINDER_OFFSETS, now: datetime
) -> list[tuple[str, datetime]]:
    """``[(kind, due_utc), ...]`` sorted by due time, for a booking made (or moved) at ``now``.

    Reminders already due before ``now`` are skipped (booked 3 h before: only the "1h" one stays);
    one due exactly at ``now`` is kept. Due times are UTC instants, elapsed time before the start.
    """
    _require_aware(start_utc, "start_utc")
    _require_aware(now, "now")
    kinds = [reminder_kind(offset) for offset in offsets]
    if len(set(kinds)) != len(kinds):
        raise ValueError("Two reminders with the same offset")
    start = start_utc.astimezone(UTC)
    plan = [(kind, start - offset) for kind, offset in zip(kinds, offsets, strict=True)]
    return sorted(((kind, due) for kind, due in plan if due >= now), key=lambda item: item[1])


# --------------------------------------------------------------------------------------------
# Seats
# --------------------------------------------------------------------------------------------


class SlotState(StrEnum):
    """Calendar colour of a slot."""

    AVAILABLE = "available"
    FEW_LEFT = "few_left"
    FULL = "full"


def seats_left(capacity: int, booked: int) -> int:
    """Seats still free; 0 (never negative) when a lowered capacity leaves a slot overbooked."""
    if capacity < 0 or booked < 0:
        raise ValueError("capacity and booked are never negative")
    return max(0, capacity - booked)


def slot_state(capacity: int, booked: int, *, few_threshold: int) -> SlotState:
    """``full`` with no seat left, ``few_left`` with 1..few_threshold left, else ``available``."""
    if few_threshold < 0:
        raise ValueError("few_threshold is never negative")
    left = seats_left(capacity, booked)
    if left == 0:
        return SlotState.FULL
    if left <= few_threshold:
        return SlotState.FEW_LEFT
    return SlotState.AVAILABLE


def minor_units(amount: Decimal) -> int:
    """A price in the currency's major unit as integer minor units: Decimal("25.00") -> 2500."""
    return int((amount * 100).to_integral_value())


def major_units(minor: int) -> Decimal:
    """Minor units (cents) as a two-decimal amount for display: 2500 -> Decimal("25.00")."""
    return Decimal(minor).scaleb(-2)
