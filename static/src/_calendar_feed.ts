// The slot feed (GET /api/slots/, docs/api.md "Slot feed") as the calendar reads it.

export type SlotState = "available" | "few_left" | "full";

export interface FeedSlot {
  id: number;
  tour: { slug: string; title: string; url: string; city: string; category: string; timezone: string };
  guide: { slug: string; name: string };
  start: string; // UTC, "2026-12-02T09:00:00Z"
  end: string;
  tour_timezone: string;
  capacity: number;
  seats_left: number;
  state: SlotState;
  booked_by_you: boolean;
  book_url: string;
}

export interface FeedFilters {
  tour: string;
  category: string;
  guide: string;
}

/** A 400 from the feed carries a message for a person; anything else gets the page's own text. */
export class FeedError extends Error {
  constructor(
    message: string,
    readonly forPerson: boolean,
  ) {
    super(message);
  }
}

/**
 * The slots of a window. The feed allows the browser to reuse an answer for 30 s (paging back and
 * forth); `fresh` asks the server again anyway, for the first load of a page: someone coming back
 * from booking a seat must see it marked as theirs.
 */
export async function fetchSlots(
  feedUrl: string,
  range: { start: Date; end: Date },
  filters: FeedFilters,
  { fresh = false }: { fresh?: boolean } = {},
): Promise<FeedSlot[]> {
  const url = new URL(feedUrl, window.location.href);
  url.searchParams.set("start", range.start.toISOString());
  url.searchParams.set("end", range.end.toISOString());
  for (const [name, value] of Object.entries(filters)) {
    if (value) url.searchParams.set(name, value);
  }
  const response = await fetch(url, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
    cache: fresh ? "no-cache" : "default",
  });
  if (response.status === 400) {
    const body: unknown = await response.json().catch(() => null);
    const message = body !== null && typeof body === "object" && "error" in body ? String(body.error) : "";
    throw new FeedError(message || `HTTP ${response.status}`, Boolean(message));
  }
  if (!response.ok) throw new FeedError(`HTTP ${response.status}`, false);
  const body = (await response.json()) as { slots?: FeedSlot[] };
  return Array.isArray(body.slots) ? body.slots : [];
}
