// Reports the browser's time zone and language once per page load while the server does not
// know them yet (<body data-timezone-known="0">). accounts:detect_preferences answers 204.

import { postForm } from "./_csrf";
import { browserTimeZone } from "./_time";

const RELOADED_KEY = "italycouch:timezone-reload";

function reloadOnce(): void {
  // Guard against a loop if the session does not stick (cookies blocked): reload at most once.
  try {
    if (sessionStorage.getItem(RELOADED_KEY)) return;
    sessionStorage.setItem(RELOADED_KEY, "1");
  } catch {
    return; // no sessionStorage: no safe way to avoid a loop, keep the page as it is
  }
  window.location.reload();
}

function forgetReload(): void {
  try {
    sessionStorage.removeItem(RELOADED_KEY);
  } catch {
    // storage unavailable: nothing to forget
  }
}

export async function detectPreferences(body: HTMLElement = document.body): Promise<void> {
  const url = body.dataset.detectUrl;
  if (body.dataset.timezoneKnown === "1") forgetReload();
  if (body.dataset.timezoneKnown !== "0" || !url) return;
  const timezone = browserTimeZone();
  if (!timezone) return;

  let response: Response;
  try {
    response = await postForm(url, { timezone, language: navigator.language || "" });
  } catch {
    return; // offline or blocked: the server default (UTC) stays, nothing breaks
  }
  if (response.status !== 204) return; // 400 {"error"}: an unknown zone; keep the server default
  body.dataset.timezoneKnown = "1";
  // Only pages that print times need the server to render them again in the new zone.
  if (document.querySelector("[data-local-times]")) reloadOnce();
}
