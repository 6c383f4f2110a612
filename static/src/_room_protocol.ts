// The live room's messages as the page sees them (contract: docs/events.md, "Live room"). Every
// server message is checked field by field here: a malformed one is dropped, never half-rendered,
// and nothing a person wrote is ever treated as anything but a string.

export const EMOJIS = ["👍", "❤️", "😊", "🎉", "👏"] as const;
export type Emoji = (typeof EMOJIS)[number];

export const CHAT_MAX_CHARS = 500;
export const QUESTION_MAX_CHARS = 300;

export type PersonRole = "guide" | "viewer" | "staff";

export interface Person {
  id: number;
  name: string;
  role: PersonRole;
  /** As written in the profile (free text), or null. */
  country: string | null;
}

export interface ChatMessage {
  id: number;
  seq: number;
  clientId: string;
  author: Person;
  text: string;
  sentAt: string;
}

export interface Question {
  id: number;
  /** The asker's own id for it (lets the asker recognise a question that came back); may be "". */
  clientId: string;
  author: Person;
  text: string;
  private: boolean;
  votes: number;
  /** Whether this reader voted; ``undefined`` when a broadcast does not say (keep what we knew). */
  voted: boolean | undefined;
  answered: boolean;
  pinned: boolean;
  askedAt: string;
}

export interface HeldMessage {
  id: number;
  clientId: string;
  author: Person;
  text: string;
  sentAt: string;
}

export type ParticipantStatus = "connected" | "reconnecting" | "left";

export interface Participant {
  user: Person;
  joinedAt: string;
  status: ParticipantStatus;
  watchedSeconds: number;
  messages: number;
  reactions: number;
}

export type Counts = Partial<Record<Emoji, number>>;

export interface Snapshot {
  messages: ChatMessage[];
  lastSeq: number;
  /** The server could not resume after the asked sequence: ``messages`` is the history from scratch. */
  reset: boolean;
  /** Messages the reader had that were deleted while they were away. */
  deletedIds: number[];
  reactions: Counts;
  questions: Question[];
  pinnedQuestionId: number | null;
  slowModeSeconds: number;
  timedOutUntil: string | null;
  me: Person | null;
  held: HeldMessage[];
  participants: Participant[] | null;
  viewers: number | null;
}

type Fields = Record<string, unknown>;

export function isRecord(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A non-negative safe integer, or null. */
export function count(value: unknown): number | null {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : null;
}

function string(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/** An ISO timestamp the browser can read, or null. */
function instant(value: unknown): string | null {
  return typeof value === "string" && !Number.isNaN(Date.parse(value)) ? value : null;
}

function list<T>(value: unknown, parse: (item: unknown) => T | null): T[] {
  if (!Array.isArray(value)) return [];
  const out: T[] = [];
  for (const item of value) {
    const parsed = parse(item);
    if (parsed !== null) out.push(parsed);
  }
  return out;
}

export function isEmoji(value: unknown): value is Emoji {
  return typeof value === "string" && (EMOJIS as readonly string[]).includes(value);
}

export function person(value: unknown): Person | null {
  if (!isRecord(value)) return null;
  const id = count(value.id);
  const name = string(value.name);
  const role = value.role === "guide" || value.role === "staff" ? value.role : "viewer";
  // Free text from the person's profile ("Italy", "IT"): shown as text, like the name.
  const country = typeof value.country === "string" && value.country.trim() !== "" ? value.country.trim() : null;
  if (id === null || name === null) return null;
  return { id, name, role, country };
}

export function chatMessage(value: unknown): ChatMessage | null {
  if (!isRecord(value)) return null;
  const id = count(value.id);
  const seq = count(value.seq);
  const author = person(value.author);
  const text = string(value.text);
  const sentAt = instant(value.sent_at);
  if (id === null || seq === null || author === null || text === null || sentAt === null) return null;
  return { id, seq, clientId: string(value.client_id) ?? "", author, text, sentAt };
}

export function question(value: unknown): Question | null {
  if (!isRecord(value)) return null;
  const id = count(value.id);
  const author = person(value.author);
  const text = string(value.text);
  const askedAt = instant(value.asked_at);
  if (id === null || author === null || text === null || askedAt === null) return null;
  return {
    id,
    clientId: string(value.client_id) ?? "",
    author,
    text,
    private: value.private === true,
    votes: count(value.votes) ?? 0,
    voted: typeof value.voted === "boolean" ? value.voted : undefined,
    answered: value.answered === true,
    pinned: value.pinned === true,
    askedAt,
  };
}

export function heldMessage(value: unknown): HeldMessage | null {
  if (!isRecord(value)) return null;
  const id = count(value.id);
  const author = person(value.author);
  const text = string(value.text);
  const sentAt = instant(value.sent_at);
  if (id === null || author === null || text === null || sentAt === null) return null;
  return { id, clientId: string(value.client_id) ?? "", author, text, sentAt };
}

export function participant(value: unknown): Participant | null {
  if (!isRecord(value)) return null;
  const user = person(value.user);
  const joinedAt = instant(value.joined_at);
  if (user === null || joinedAt === null) return null;
  const status = value.status === "reconnecting" || value.status === "left" ? value.status : "connected";
  return {
    user,
    joinedAt,
    status,
    watchedSeconds: count(value.watched_seconds) ?? 0,
    messages: count(value.messages) ?? 0,
    reactions: count(value.reactions) ?? 0,
  };
}

export function counts(value: unknown): Counts {
  const out: Counts = {};
  if (!isRecord(value)) return out;
  for (const emoji of EMOJIS) {
    const n = count(value[emoji]);
    if (n !== null) out[emoji] = n;
  }
  return out;
}

export function participants(value: unknown): Participant[] {
  return list(value, participant);
}

export function snapshot(message: Fields): Snapshot {
  const pinned = count(message.pinned_question_id);
  return {
    messages: list(message.messages, chatMessage).sort((a, b) => a.seq - b.seq),
    lastSeq: count(message.last_seq) ?? 0,
    reset: message.reset === true,
    deletedIds: list(message.deleted_ids, count),
    reactions: counts(message.reactions),
    questions: list(message.questions, question),
    pinnedQuestionId: pinned,
    slowModeSeconds: count(message.slow_mode_seconds) ?? 0,
    timedOutUntil: instant(message.timed_out_until),
    me: person(message.me),
    held: list(message.held, heldMessage),
    participants: Array.isArray(message.participants) ? participants(message.participants) : null,
    viewers: count(message.viewers),
  };
}

/** Whether a person may moderate (the tour's guide or staff); the server checks it again. */
export function moderates(someone: Person | null): boolean {
  return someone !== null && (someone.role === "guide" || someone.role === "staff");
}
