// Text helpers for the live room: the translated strings from the template, times in the reader's
// zone, and the one place where text people wrote becomes DOM. That text only ever goes in as
// textContent inside <bdi> (so a right-to-left override in a name cannot reorder what follows);
// a link becomes clickable only if it parses as an http(s) URL of this very site.

import { element } from "./_dom";
import type { Person } from "./_room_protocol";

export type Strings = Record<string, string>;

/** The room's texts: <span data-key="...">translated</span> children of #room-strings. */
export function readRoomStrings(root: ParentNode = document): Strings {
  const strings: Strings = {};
  for (const node of root.querySelectorAll<HTMLElement>("#room-strings [data-key]")) {
    const key = node.dataset.key;
    if (key) strings[key] = node.textContent ?? "";
  }
  return strings;
}

/** A translated text with {name} placeholders filled in (values are plain text, never markup). */
export function say(strings: Strings, key: string, values: Record<string, string | number> = {}): string {
  const template = strings[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole));
}

function validZone(zone: string): boolean {
  if (!zone) return false;
  try {
    new Intl.DateTimeFormat(undefined, { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Clock times in the reader's zone: the profile's zone when the server knows it, else the browser's. */
export class TimeFormat {
  readonly zone: string | undefined;
  private readonly short: Intl.DateTimeFormat;
  private readonly full: Intl.DateTimeFormat;

  constructor(profileZone: string) {
    this.zone = validZone(profileZone) ? profileZone : undefined;
    const locale = document.documentElement.lang || undefined;
    this.short = new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit", timeZone: this.zone });
    this.full = new Intl.DateTimeFormat(locale, {
      year: "numeric",
      month: "long",
      day: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      timeZoneName: "short",
      timeZone: this.zone,
    });
  }

  /** <time datetime="ISO" title="full date">HH:MM</time> */
  timeElement(iso: string, className = "room-time"): HTMLTimeElement {
    const node = element("time", { className });
    const instant = new Date(iso);
    if (Number.isNaN(instant.getTime())) return node;
    node.dateTime = instant.toISOString();
    node.textContent = this.short.format(instant);
    node.title = this.full.format(instant);
    return node;
  }

  clock(instant: Date): string {
    return this.short.format(instant);
  }
}

/** 75 -> "1:15", 3725 -> "1:02:05" (watched time). */
export function duration(seconds: number): string {
  const total = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = String(total % 60).padStart(2, "0");
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

/** Characters as the server counts them (code points, after trimming). */
export function charCount(value: string): number {
  return [...value.trim()].length;
}

/**
 * The text as the server stores it (chat/rules.py clean_text): without control and format
 * characters (bidi overrides, zero-width spaces; the zero-width joiner stays), tabs as spaces,
 * at most one blank line in a row, trimmed. Used to recognise one's own question when it comes back.
 */
export function cleanLikeServer(value: string): string {
  return value
    .replace(/\r\n?/g, "\n")
    .replace(/\t/g, " ")
    .replace(/(?![\n\u200d])[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}]/gu, "")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

/** A flag emoji when the country is written as an ISO code ("IT" -> 🇮🇹); "" for anything else. */
export function flag(country: string | null): string {
  if (country === null || !/^[A-Z]{2}$/.test(country)) return "";
  return String.fromCodePoint(...[...country].map((letter) => 0x1f1e6 + letter.charCodeAt(0) - 65));
}

/** A person's name as an isolated run of text. */
export function nameElement(someone: Person, className = "room-name"): HTMLElement {
  return element("bdi", { className, text: someone.name });
}

/** The role badge text for the guide and staff ("" for viewers). */
export function roleLabel(strings: Strings, someone: Person): string {
  if (someone.role === "guide") return strings.role_guide ?? "";
  if (someone.role === "staff") return strings.role_staff ?? "";
  return "";
}

const URL_PATTERN = /https?:\/\/[^\s<>"'`]+/gi;
const TRAILING_PUNCTUATION = /[.,;:!?)\]}»”’]+$/;

/** The URL if it is an http(s) link to this site, else null (javascript:, data:, other hosts...). */
export function sameSiteLink(candidate: string, origin: string = location.origin): URL | null {
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  if (url.origin !== origin || url.username !== "" || url.password !== "") return null;
  return url;
}

/**
 * Fills ``target`` with ``value`` as text; links to this site become <a> (href from the parsed URL,
 * set only after the protocol check), everything else stays literal text.
 */
export function writeText(target: HTMLElement, value: string): void {
  target.replaceChildren();
  let last = 0;
  for (const match of value.matchAll(URL_PATTERN)) {
    const start = match.index ?? 0;
    const raw = match[0].replace(TRAILING_PUNCTUATION, "");
    const url = sameSiteLink(raw);
    if (url === null) continue;
    if (start > last) target.append(document.createTextNode(value.slice(last, start)));
    const anchor = element("a", { className: "room-link", text: raw });
    anchor.href = url.href;
    anchor.rel = "nofollow noopener noreferrer ugc";
    target.append(anchor);
    last = start + raw.length;
  }
  if (last < value.length) target.append(document.createTextNode(value.slice(last)));
}
