"""Pure rules about time zones and languages: no I/O, tested directly."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.utils.translation import gettext as _

# The IANA areas people actually live in. Legacy aliases ("US/Eastern", "EST5EDT", "Etc/GMT+5")
# stay valid input, but a person picking a zone from a list should see the canonical names.
TIMEZONE_AREAS = (
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)

TimezoneGroup = tuple[str, list[tuple[str, str]]]


def timezone_label(name: str) -> str:
    """'America/Argentina/Buenos_Aires' -> 'Argentina / Buenos Aires' (the area is the group)."""
    _area, _slash, place = name.partition("/")
    return (place or name).replace("_", " ").replace("/", " / ")


def grouped_timezones(available: Iterable[str], *, include: str = "") -> list[TimezoneGroup]:
    """Zones grouped by area and sorted, for a <select> with <optgroup>s.

    ``include`` is a zone that must be offered even outside the usual areas (for instance the
    legacy name a browser reported), so that a form never rejects the value it was shown with.
    """
    names = set(available)
    groups: dict[str, list[tuple[str, str]]] = {}
    for name in sorted(names):
        area = name.partition("/")[0]
        if area in TIMEZONE_AREAS and "/" in name:
            groups.setdefault(area, []).append((name, timezone_label(name)))
    result: list[TimezoneGroup] = [(area, groups[area]) for area in TIMEZONE_AREAS if area in groups]
    listed = {name for _area, zones in result for name, _label in zones}
    other = [("UTC", "UTC")] if "UTC" in names else []
    if include and include in names and include not in listed and include != "UTC":
        other.append((include, include.replace("_", " ")))
    if other:
        result.append((str(_("Other")), other))
    return result


def supported_language(reported: str, supported: Sequence[str]) -> str:
    """Map what a browser reports ("it-IT", "en_US", "de-CH,it;q=0.8") to a supported code.

    The first tag that matches wins, exactly or by its primary subtag ("it-IT" -> "it"); nothing
    supported gives "" (the caller then leaves the language alone rather than guessing).
    """
    codes = {code.lower(): code for code in supported}
    for part in reported.split(","):
        tag = part.split(";")[0].strip().lower().replace("_", "-")
        if not tag:
            continue
        if tag in codes:
            return codes[tag]
        primary = tag.split("-")[0]
        if primary in codes:
            return codes[primary]
    return ""
