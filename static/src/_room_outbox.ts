// Messages this person wrote that the server has not acknowledged yet. Each keeps the client id it
// was first sent with: the server stores a (session, author, client id) once, so sending it again
// after a reconnect, a lost ack or a page reload can never post it twice. Kept in sessionStorage
// (this tab only) so a reload in a tunnel does not lose what was typed.

export interface OutboxItem {
  clientId: string;
  text: string;
  createdAt: number;
  /** When it was last handed to an open socket (0: never). */
  sentAt: number;
  /** Not before this time (slow mode or a rate limit said when). */
  notBefore: number;
}

/** Unacked for this long on an open socket: send again (the server may have dropped it). */
export const RESEND_AFTER_MS = 10_000;
/** Older than this, a message is dropped from the outbox instead of being sent late. */
export const GIVE_UP_AFTER_MS = 30 * 60_000;
const MAX_ITEMS = 50;

/** A random RFC 4122 version 4 id (crypto.randomUUID needs a secure context; this does not). */
export function newClientId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export class Outbox {
  private items: OutboxItem[] = [];

  constructor(
    private readonly storage: Storage | null,
    private readonly key: string,
  ) {
    this.load();
  }

  get size(): number {
    return this.items.length;
  }

  all(): OutboxItem[] {
    return [...this.items];
  }

  has(clientId: string): boolean {
    return this.items.some((item) => item.clientId === clientId);
  }

  add(text: string, now: number, clientId: string = newClientId()): OutboxItem {
    const item: OutboxItem = { clientId, text, createdAt: now, sentAt: 0, notBefore: 0 };
    this.items.push(item);
    if (this.items.length > MAX_ITEMS) this.items.shift();
    this.save();
    return item;
  }

  /** The server has it (acked, held for review, or refused for good): stop sending it. */
  settle(clientId: string): OutboxItem | undefined {
    const index = this.items.findIndex((item) => item.clientId === clientId);
    if (index < 0) return undefined;
    const [item] = this.items.splice(index, 1);
    this.save();
    return item;
  }

  markSent(clientId: string, now: number): void {
    const item = this.items.find((candidate) => candidate.clientId === clientId);
    if (item === undefined) return;
    item.sentAt = now;
    this.save();
  }

  /** Try again at ``notBefore`` (slow mode, rate limit). */
  delay(clientId: string, notBefore: number): void {
    const item = this.items.find((candidate) => candidate.clientId === clientId);
    if (item === undefined) return;
    item.notBefore = notBefore;
    item.sentAt = 0;
    this.save();
  }

  /** A new connection: whatever was sent on the old one may never have arrived. */
  forgetSends(): void {
    for (const item of this.items) item.sentAt = 0;
    this.save();
  }

  /** What should go out now: never sent on this connection, or unacked for too long. */
  due(now: number): OutboxItem[] {
    return this.items.filter(
      (item) => item.notBefore <= now && (item.sentAt === 0 || now - item.sentAt >= RESEND_AFTER_MS),
    );
  }

  /** Drops items too old to send; returns them (the page marks them as not sent). */
  expire(now: number): OutboxItem[] {
    const old = this.items.filter((item) => now - item.createdAt > GIVE_UP_AFTER_MS);
    if (old.length > 0) {
      this.items = this.items.filter((item) => now - item.createdAt <= GIVE_UP_AFTER_MS);
      this.save();
    }
    return old;
  }

  private load(): void {
    if (this.storage === null) return;
    let raw: string | null = null;
    try {
      raw = this.storage.getItem(this.key);
    } catch {
      return; // storage disabled: the outbox lives in memory only
    }
    if (raw === null) return;
    try {
      const parsed: unknown = JSON.parse(raw);
      if (!Array.isArray(parsed)) return;
      for (const entry of parsed) {
        if (typeof entry !== "object" || entry === null) continue;
        const { clientId, text, createdAt } = entry as Record<string, unknown>;
        if (typeof clientId === "string" && typeof text === "string" && typeof createdAt === "number") {
          this.items.push({ clientId, text, createdAt, sentAt: 0, notBefore: 0 });
        }
      }
    } catch {
      // A damaged entry is dropped rather than trusted.
    }
  }

  private save(): void {
    if (this.storage === null) return;
    try {
      if (this.items.length === 0) this.storage.removeItem(this.key);
      else this.storage.setItem(this.key, JSON.stringify(this.items));
    } catch {
      // Quota or privacy mode: the outbox still works for this page's life.
    }
  }
}

/** At most ``limit`` events in any ``windowMs``: a small client-side throttle. */
export class RateLimiter {
  private readonly times: number[] = [];

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Whether one more event fits now (nothing is recorded). */
  fits(now: number): boolean {
    while (this.times.length > 0 && now - (this.times[0] as number) >= this.windowMs) this.times.shift();
    return this.times.length < this.limit;
  }

  record(now: number): void {
    this.times.push(now);
  }

  /** Records the event and says yes if it fits every limiter given; records nothing otherwise. */
  static allowAll(limiters: RateLimiter[], now: number): boolean {
    if (!limiters.every((limiter) => limiter.fits(now))) return false;
    for (const limiter of limiters) limiter.record(now);
    return true;
  }
}
