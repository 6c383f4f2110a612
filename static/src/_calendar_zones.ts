// Time zones for the calendar, from the browser's own tz database (Intl), with no library.
//
// FullCalendar 6 needs a plugin to place events in a named zone (without one it treats a named
// zone as UTC). The published ones wrap Luxon or Moment; this one asks Intl.DateTimeFormat, the
// same data the browser uses everywhere else. The rules match bookings.rules.localize: a wall
// time skipped by a DST jump is read with the offset in force before the jump, a repeated one
// as its first occurrence.

import { createPlugin } from "@fullcalendar/core";
import type { PluginDef } from "@fullcalendar/core";
import { NamedTimeZoneImpl } from "@fullcalendar/core/internal";

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
const ZONE_STORAGE_KEY = "italycouch:calendar-zone";

const fieldFormatters = new Map<string, Intl.DateTimeFormat>();

function fieldFormatter(zone: string): Intl.DateTimeFormat {
  let formatter = fieldFormatters.get(zone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      era: "short",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    fieldFormatters.set(zone, formatter);
  }
  return formatter;
}

/** The wall clock in `zone` at instant `ms`: [year, month (0-11), day, hour, minute, second, ms]. */
export function wallClock(ms: number, zone: string): number[] {
  const fields: Record<string, string> = {};
  for (const part of fieldFormatter(zone).formatToParts(new Date(ms))) fields[part.type] = part.value;
  const year = fields.era === "BC" ? 1 - Number(fields.year) : Number(fields.year);
  // Some engines still say "24" for midnight even with hourCycle h23.
  const hour = Number(fields.hour) % 24;
  const milliseconds = ((ms % 1000) + 1000) % 1000;
  const [month, day, minute, second] = [fields.month, fields.day, fields.minute, fields.second].map(Number);
  return [year, (month ?? 1) - 1, day ?? 1, hour, minute ?? 0, second ?? 0, milliseconds];
}

function wallClockAsUtc(fields: readonly number[]): number {
  const [year = 1970, month = 0, day = 1, hour = 0, minute = 0, second = 0, ms = 0] = fields;
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not read years 0-99 as 1900-1999.
  date.setUTCFullYear(year, month, day);
  date.setUTCHours(hour, minute, second, ms);
  return date.getTime();
}

/** Minutes east of UTC in `zone` at instant `ms` (Kathmandu: 345, New York in winter: -300). */
export function offsetMinutesAt(ms: number, zone: string): number {
  return Math.round((wallClockAsUtc(wallClock(ms, zone)) - ms) / MINUTE_MS);
}

/** The UTC offset (minutes) of a wall-clock time in `zone`, by RFC 5545 like the server. */
export function offsetForWallClock(fields: readonly number[], zone: string): number {
  const asUtc = wallClockAsUtc(fields);
  // A day either side brackets any transition near this wall time: "before" and "after" offsets.
  const before = offsetMinutesAt(asUtc - DAY_MS, zone);
  const after = offsetMinutesAt(asUtc + DAY_MS, zone);
  for (const offset of [before, after]) {
    // The first that maps back to itself: the earlier reading of a repeated hour comes first.
    if (offsetMinutesAt(asUtc - offset * MINUTE_MS, zone) === offset) return offset;
  }
  return before; // skipped by a jump forward: read with the offset in force before it
}

class IntlNamedTimeZone extends NamedTimeZoneImpl {
  offsetForArray(fields: number[]): number {
    return offsetForWallClock(fields, this.timeZoneName);
  }

  timestampToArray(ms: number): number[] {
    return wallClock(ms, this.timeZoneName);
  }
}

export const intlTimeZonePlugin: PluginDef = createPlugin({
  name: "italycouch-intl-time-zones",
  namedTimeZonedImpl: IntlNamedTimeZone,
});

export function isKnownZone(zone: string): boolean {
  if (!zone) return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** "Europe/Rome" → "Rome", "America/Argentina/Buenos_Aires" → "Buenos Aires". */
export function zoneCity(zone: string): string {
  const last = zone.split("/").pop() ?? zone;
  return last.replace(/_/g, " ");
}

/** Every zone this browser knows, for the switcher; the ones given are always included. */
export function zoneNames(...always: string[]): string[] {
  let names: string[] = [];
  try {
    names = Intl.supportedValuesOf("timeZone");
  } catch {
    names = []; // an older browser: offer the zones we must have
  }
  return [...new Set([...names, ...always.filter(isKnownZone), "UTC"])].sort();
}

export function storedZone(): string {
  try {
    const zone = localStorage.getItem(ZONE_STORAGE_KEY) ?? "";
    return isKnownZone(zone) ? zone : "";
  } catch {
    return ""; // storage blocked: the browser's zone it is
  }
}

/** Remembers the chosen zone; an empty string goes back to following the browser. */
export function storeZone(zone: string): void {
  try {
    if (zone) localStorage.setItem(ZONE_STORAGE_KEY, zone);
    else localStorage.removeItem(ZONE_STORAGE_KEY);
  } catch {
    // storage blocked: the choice lasts for this page only
  }
}

const textFormatters = new Map<string, Intl.DateTimeFormat>();

function cachedFormatter(key: string, make: () => Intl.DateTimeFormat): Intl.DateTimeFormat {
  let formatter = textFormatters.get(key);
  if (formatter === undefined) {
    formatter = make();
    textFormatters.set(key, formatter);
  }
  return formatter;
}

/** "04:00": hours and minutes on a 24-hour clock, in `zone`. */
export function clockText(instant: Date, zone: string, locale: string): string {
  return cachedFormatter(`clock|${zone}|${locale}`, () =>
    new Intl.DateTimeFormat(locale, { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
  ).format(instant);
}

/** "Wed, 2 Dec, 04:00 EST": the whole start for a tooltip, in `zone`. */
export function dateTimeText(instant: Date, zone: string, locale: string): string {
  return cachedFormatter(`date|${zone}|${locale}`, () =>
    new Intl.DateTimeFormat(locale, {
      timeZone: zone,
      weekday: "short",
      day: "numeric",
      month: "short",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
      timeZoneName: "short",
    }),
  ).format(instant);
}
