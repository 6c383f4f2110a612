// What every live page reads from its server-rendered markup: the room's data-* attributes and the
// translated texts (json_script "live-strings"). The scripts carry no English of their own.

import { required, text } from "./_dom";

export interface RoomData {
  sessionId: number;
  role: "publisher" | "viewer";
  token: string;
  tokenUrl: string;
  wsPath: string;
  status: string;
  epoch: number;
  slotStartMs: number;
  slotEndMs: number;
  graceSeconds: number;
  warningSeconds: number;
  serverTimeMs: number;
  tourUrl: string;
}

export type Strings = Record<string, string>;

export function readRoom(root: HTMLElement): RoomData {
  const data = root.dataset;
  return {
    sessionId: Number(data.sessionId),
    role: data.role === "publisher" ? "publisher" : "viewer",
    token: data.token ?? "",
    tokenUrl: data.tokenUrl ?? "",
    wsPath: data.wsPath ?? "",
    status: data.status ?? "scheduled",
    epoch: Number(data.epoch ?? 0),
    slotStartMs: Date.parse(data.slotStart ?? ""),
    slotEndMs: Date.parse(data.slotEnd ?? ""),
    graceSeconds: Number(data.graceSeconds ?? 0),
    warningSeconds: Number(data.warningSeconds ?? 300),
    serverTimeMs: Number(data.serverTime ?? Date.now()),
    tourUrl: data.tourUrl ?? "",
  };
}

export function readStrings(): Strings {
  const node = document.getElementById("live-strings");
  if (node === null || node.textContent === null) return {};
  try {
    const parsed: unknown = JSON.parse(node.textContent);
    return typeof parsed === "object" && parsed !== null ? (parsed as Strings) : {};
  } catch {
    return {};
  }
}

/** A translated text with {name} placeholders filled in (values are plain text, never markup). */
export function format(strings: Strings, key: string, values: Record<string, string | number> = {}): string {
  const template = strings[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole));
}

/** Shows a notice with ``message`` (or hides it when the message is empty). */
export function notice(selector: string, message: string): void {
  const node = required(selector);
  text(node, message);
  node.hidden = message === "";
}

export type Quality = "good" | "fair" | "poor" | "offline";

export function showQuality(strings: Strings, quality: Quality): void {
  const node = required("#live-quality");
  node.dataset.quality = quality;
  text(node, strings[`quality_${quality}`] ?? quality);
}

export function showLiveBadge(live: boolean): void {
  const badge = required("#live-status");
  badge.classList.toggle("badge--live", live);
  text(badge, (live ? badge.dataset.liveBadge : badge.dataset.offlineBadge) ?? "");
}
