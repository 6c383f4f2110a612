// The chat panel: history and new messages in sequence order, each message's sending state
// (sending -> sent on chat.ack, or "held for review"), the outbox that resends unacked messages
// with their own client id after a reconnect, the typing line, the 500-character counter, and the
// slow-mode and time-out notices. People's text goes in as text only (see _room_text.ts).

import { element, required, text } from "./_dom";
import type { RoomContext } from "./_room_context";
import { ChatLog } from "./_room_log";
import type { OutboxItem } from "./_room_outbox";
import { Outbox } from "./_room_outbox";
import type { ChatMessage, Person } from "./_room_protocol";
import { CHAT_MAX_CHARS, moderates } from "./_room_protocol";
import { charCount, nameElement, roleLabel, say, writeText } from "./_room_text";

/** chat.typing goes out at most this often (the server throttles too). */
const TYPING_SEND_INTERVAL_MS = 3_000;
/** "X is typing…" stays this long after the last chat.typing from X. */
const TYPING_SHOW_MS = 4_000;
const FLUSH_INTERVAL_MS = 2_000;
const RATE_LIMIT_RETRY_MS = 3_000;
/** Within this distance of the bottom, new messages keep the log scrolled to the end. */
const STICKY_BOTTOM_PX = 48;

type State = "pending" | "waiting" | "sent" | "held" | "failed";

function storage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

export class ChatPanel {
  readonly log = new ChatLog();
  private readonly outbox: Outbox;
  private readonly scroller = required<HTMLElement>("#room-chat-log");
  private readonly list = required<HTMLOListElement>("#room-chat-list");
  private readonly empty = required<HTMLElement>("#room-chat-empty");
  private readonly form = required<HTMLFormElement>("#room-chat-form");
  private readonly input = required<HTMLTextAreaElement>("#room-chat-input");
  private readonly counter = required<HTMLElement>("#room-chat-count");
  private readonly sendButton = required<HTMLButtonElement>("#room-chat-send");
  private readonly typingLine = required<HTMLElement>("#room-typing");
  private readonly slowNotice = required<HTMLElement>("#room-slow-notice");
  private readonly timeoutNotice = required<HTMLElement>("#room-timeout-notice");
  private readonly byId = new Map<number, HTMLLIElement>();
  private readonly byClientId = new Map<string, HTMLLIElement>();
  private readonly typers = new Map<number, { name: string; timer: number }>();
  private lastTypingSentAt = 0;
  private timedOutUntilMs = 0;
  private timeoutTimer: number | undefined;
  private slowModeSeconds = 0;
  private announced = false;

  constructor(
    private readonly context: RoomContext,
    sessionId: number,
    userId: string,
  ) {
    // Per person too: someone else logging in on this tab must never send what the last one typed.
    this.outbox = new Outbox(storage(), `italycouch.room-outbox.${sessionId}.${userId}`);
    for (const item of this.outbox.all()) this.renderPending(item, "pending");
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event: KeyboardEvent) => {
      // Enter sends, Shift+Enter is a new line; never while an input method is composing a word.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener("input", () => {
      this.updateCounter();
      this.sendTyping();
    });
    this.input.addEventListener("focus", () => this.keepInputInView());
    window.visualViewport?.addEventListener("resize", () => {
      if (document.activeElement === this.input) this.keepInputInView();
    });
    window.setInterval(() => this.flush(), FLUSH_INTERVAL_MS);
    this.updateCounter();
    this.updateEmpty();
  }

  // -- server events --------------------------------------------------------------------------

  /**
   * room.snapshot: the history (first join) or what was missed (a reconnect), merged; with
   * ``reset`` the server could not resume, so what is shown is replaced (unsent messages stay).
   */
  applySnapshot(messages: ChatMessage[], reset: boolean, deletedIds: number[], lastSeq: number): void {
    const stick = this.nearBottom();
    if (reset) {
      for (const id of this.log.clear()) this.removeElement(this.byId.get(id));
    }
    for (const id of deletedIds) this.deleted(id);
    for (const message of messages) this.receive(message, false);
    // Held messages take sequence numbers too: resume after the session's last one, not ours.
    this.log.lastSeq = Math.max(this.log.lastSeq, lastSeq);
    this.refreshActions();
    if (!this.announced) {
      // The history is not read out on arrival; what comes after it is (role=log, politely).
      this.announced = true;
      this.scroller.setAttribute("aria-live", "polite");
      this.scrollToEnd();
    } else if (stick) {
      this.scrollToEnd();
    }
    this.outbox.forgetSends();
    this.flush();
  }

  /** chat.message (or a snapshot entry). */
  receive(message: ChatMessage, scroll = true): void {
    this.stopTyping(message.author.id);
    const stick = scroll && this.nearBottom();
    const pending = this.byClientId.get(message.clientId);
    const mine = pending !== undefined && this.isMe(message.author);
    if (mine) this.outbox.settle(message.clientId);
    const placement = this.log.add(message);
    if (placement.kind === "duplicate") {
      // Known already (the ack came first): take the server's time; drop a stale pending copy.
      const shown = this.byId.get(message.id);
      if (shown !== undefined && this.log.get(message.id) === message) this.fill(shown, message);
      if (mine && pending !== shown) this.removeElement(pending);
      return;
    }
    const item = mine ? pending : this.build(message);
    this.fill(item, message);
    this.place(item, placement.beforeSeq);
    for (const id of this.log.trim()) this.removeElement(this.byId.get(id));
    this.updateEmpty();
    if (stick || mine) this.scrollToEnd();
  }

  /** chat.ack: the server stored my message with this id and sequence number. */
  ack(clientId: string, id: number, seq: number): void {
    const item = this.outbox.settle(clientId);
    const pending = this.byClientId.get(clientId);
    const me = this.context.me();
    if (pending === undefined || me === null) return;
    this.receive({
      id,
      seq,
      clientId,
      author: me,
      text: item?.text ?? pending.querySelector(".room-message__text")?.textContent ?? "",
      sentAt: new Date(this.context.serverNow()).toISOString(),
    });
  }

  /** chat.held: my message waits for the guide's approval (it is stored: no more retries). */
  held(clientId: string): void {
    this.outbox.settle(clientId);
    const pending = this.byClientId.get(clientId);
    if (pending !== undefined) this.setState(pending, "held");
  }

  deleted(id: number): void {
    this.log.remove(id);
    this.removeElement(this.byId.get(id));
    this.updateEmpty();
  }

  typing(someone: Person): void {
    if (this.isMe(someone)) return;
    const previous = this.typers.get(someone.id);
    if (previous !== undefined) window.clearTimeout(previous.timer);
    const timer = window.setTimeout(() => this.stopTyping(someone.id), TYPING_SHOW_MS);
    this.typers.set(someone.id, { name: someone.name, timer });
    this.renderTyping();
  }

  /** An error about one of my messages (ref = its client id); false if it is not one of mine. */
  refused(clientId: string, code: string, retryAfterSeconds: number | null, message: string): boolean {
    const pending = this.byClientId.get(clientId);
    if (pending === undefined && !this.outbox.has(clientId)) return false;
    if (code === "slow_mode" || code === "rate_limited") {
      // Not stored: it goes out again by itself when the server says it may.
      const waitMs = retryAfterSeconds !== null ? retryAfterSeconds * 1000 : RATE_LIMIT_RETRY_MS;
      this.outbox.delay(clientId, this.context.serverNow() + waitMs);
      if (pending !== undefined) this.setState(pending, "waiting");
      return true;
    }
    this.outbox.settle(clientId);
    if (pending !== undefined) this.setState(pending, "failed", message);
    return true;
  }

  /** The chat tab is shown again: a hidden log lost its scroll position, show the newest. */
  shown(): void {
    this.scrollToEnd();
  }

  /** The socket closed: whatever is unacked goes out again after the next room.snapshot. */
  disconnected(): void {
    this.outbox.forgetSends();
  }

  setSlowMode(seconds: number): void {
    this.slowModeSeconds = seconds;
    const notice = seconds > 0 ? say(this.context.strings, "slow_mode_on", { seconds }) : "";
    text(this.slowNotice, notice);
    this.slowNotice.hidden = notice === "";
  }

  get slowMode(): number {
    return this.slowModeSeconds;
  }

  /** moderation.timed_out / the snapshot's timed_out_until: this person may not write until then. */
  setTimedOut(untilIso: string | null): void {
    window.clearTimeout(this.timeoutTimer);
    const untilMs = untilIso === null ? 0 : Date.parse(untilIso);
    const leftMs = untilMs - this.context.serverNow();
    if (!Number.isFinite(leftMs) || leftMs <= 0) {
      this.timedOutUntilMs = 0;
      text(this.timeoutNotice, "");
      this.timeoutNotice.hidden = true;
    } else {
      this.timedOutUntilMs = untilMs;
      text(this.timeoutNotice, say(this.context.strings, "timed_out_until", { time: this.context.times.clock(new Date(untilMs)) }));
      this.timeoutNotice.hidden = false;
      // setTimeout takes at most 2^31-1 ms; a time-out is an hour at most anyway.
      this.timeoutTimer = window.setTimeout(() => this.setTimedOut(null), Math.min(leftMs + 250, 2 ** 31 - 1));
    }
    this.updateControls();
  }

  /** The session ended or this person was removed. */
  setReadOnly(): void {
    for (const [, item] of this.byClientId) {
      if (item.dataset.state === "pending" || item.dataset.state === "waiting") {
        this.setState(item, "failed", this.context.strings.not_sent ?? "");
      }
    }
    this.updateControls();
  }

  /** ``me`` became known (first snapshot) or changed: redraw the per-message moderation buttons. */
  refreshActions(): void {
    for (const [id, item] of this.byId) {
      const message = this.log.get(id);
      if (message !== undefined) this.renderActions(item, message);
    }
    this.updateControls();
  }

  // -- sending --------------------------------------------------------------------------------

  private submit(): void {
    const value = this.input.value.trim();
    const length = charCount(value);
    if (this.context.readOnly()) {
      this.context.status(this.context.strings.read_only ?? "");
      return;
    }
    if (this.isTimedOut()) {
      this.context.status(this.timeoutNotice.textContent ?? "");
      return;
    }
    if (length === 0) return;
    if (length > CHAT_MAX_CHARS) {
      this.context.status(say(this.context.strings, "too_long_by", { n: length - CHAT_MAX_CHARS }));
      return;
    }
    const item = this.outbox.add(value, Date.now());
    this.renderPending(item, "pending");
    this.input.value = "";
    this.updateCounter();
    this.updateEmpty();
    this.scrollToEnd();
    this.flush();
  }

  /** Sends what is due from the outbox (only once this connection has joined the room). */
  private flush(): void {
    for (const expired of this.outbox.expire(Date.now())) {
      const item = this.byClientId.get(expired.clientId);
      if (item !== undefined) this.setState(item, "failed", this.context.strings.not_sent ?? "");
    }
    if (!this.context.joined() || this.context.readOnly()) return;
    const now = this.context.serverNow();
    for (const item of this.outbox.due(now)) {
      if (!this.context.send({ type: "chat.send", client_id: item.clientId, text: item.text })) return;
      this.outbox.markSent(item.clientId, now);
      const shown = this.byClientId.get(item.clientId);
      if (shown !== undefined && shown.dataset.state === "waiting") this.setState(shown, "pending");
    }
  }

  private sendTyping(): void {
    const now = Date.now();
    if (this.input.value.trim() === "" || now - this.lastTypingSentAt < TYPING_SEND_INTERVAL_MS) return;
    if (!this.context.joined() || this.context.readOnly() || this.isTimedOut()) return;
    if (this.context.send({ type: "chat.typing" })) this.lastTypingSentAt = now;
  }

  private isTimedOut(): boolean {
    return this.timedOutUntilMs > this.context.serverNow();
  }

  private updateCounter(): void {
    const length = charCount(this.input.value);
    const over = length > CHAT_MAX_CHARS;
    text(this.counter, say(this.context.strings, "counter", { count: length, max: CHAT_MAX_CHARS }));
    this.counter.classList.toggle("room-counter--over", over);
    this.counter.classList.toggle("room-counter--near", !over && length > CHAT_MAX_CHARS - 50);
    if (over) this.input.setAttribute("aria-invalid", "true");
    else this.input.removeAttribute("aria-invalid");
    this.updateControls();
  }

  private updateControls(): void {
    const blocked = this.context.readOnly() || this.isTimedOut();
    this.input.disabled = this.context.readOnly();
    this.input.readOnly = blocked;
    this.sendButton.disabled = blocked || charCount(this.input.value) > CHAT_MAX_CHARS;
  }

  private keepInputInView(): void {
    // The on-screen keyboard shrinks the visual viewport: bring the box and its Send button back
    // above it (at once: a smooth scroll would race the keyboard's own animation).
    window.setTimeout(() => this.form.scrollIntoView({ block: "nearest", behavior: "instant" }), 150);
  }

  // -- DOM ------------------------------------------------------------------------------------

  private isMe(someone: Person): boolean {
    const me = this.context.me();
    return me !== null && me.id === someone.id;
  }

  private build(message: ChatMessage): HTMLLIElement {
    const item = element("li", { className: "room-message" });
    const meta = element("p", { className: "room-message__meta" });
    const body = element("p", { className: "room-message__text" });
    item.append(meta, body);
    item.dataset.authorId = String(message.author.id);
    return item;
  }

  private fill(item: HTMLLIElement, message: ChatMessage): void {
    item.dataset.id = String(message.id);
    item.dataset.seq = String(message.seq);
    item.dataset.authorId = String(message.author.id);
    item.classList.toggle("room-message--mine", this.isMe(message.author));
    item.classList.toggle("room-message--host", moderates(message.author));
    const meta = item.querySelector(".room-message__meta") as HTMLElement;
    meta.replaceChildren(nameElement(message.author, "room-message__author"));
    const badge = roleLabel(this.context.strings, message.author);
    if (badge) meta.append(" ", element("span", { className: "badge badge--info room-badge", text: badge }));
    meta.append(" ", this.context.times.timeElement(message.sentAt, "room-message__time"));
    const body = item.querySelector(".room-message__text") as HTMLElement;
    body.replaceChildren();
    const bdi = element("bdi");
    writeText(bdi, message.text);
    body.append(bdi);
    this.setState(item, "sent");
    if (message.clientId) {
      item.dataset.clientId = message.clientId;
      this.byClientId.set(message.clientId, item);
    }
    this.byId.set(message.id, item);
    this.renderActions(item, message);
  }

  private renderPending(outboxItem: OutboxItem, state: State): void {
    const me = this.context.me();
    const item = element("li", { className: "room-message room-message--mine" });
    const meta = element("p", { className: "room-message__meta" });
    meta.append(element("bdi", { className: "room-message__author", text: me?.name ?? this.context.strings.you ?? "" }));
    const body = element("p", { className: "room-message__text" });
    const bdi = element("bdi");
    writeText(bdi, outboxItem.text);
    body.append(bdi);
    item.append(meta, body);
    item.dataset.clientId = outboxItem.clientId;
    this.byClientId.set(outboxItem.clientId, item);
    this.setState(item, state);
    this.list.append(item);
  }

  private setState(item: HTMLLIElement, state: State, reason = ""): void {
    item.dataset.state = state;
    let label = item.querySelector<HTMLElement>(".room-message__state");
    if (state === "sent") {
      label?.remove();
      return;
    }
    if (label === null) {
      label = element("span", { className: "room-message__state" });
      (item.querySelector(".room-message__meta") as HTMLElement).append(" ", label);
    }
    const strings = this.context.strings;
    const texts: Record<Exclude<State, "sent">, string> = {
      pending: strings.sending ?? "",
      waiting: strings.waiting_slow ?? "",
      held: strings.held ?? "",
      failed: reason ? say(strings, "failed_because", { reason }) : (strings.not_sent ?? ""),
    };
    text(label, texts[state]);
  }

  private renderActions(item: HTMLLIElement, message: ChatMessage): void {
    item.querySelector(".room-message__actions")?.remove();
    if (!this.context.canModerate()) return;
    const actions = element("div", { className: "room-message__actions cluster" });
    const remove = element("button", { className: "button button--small", text: this.context.strings.delete ?? "" });
    remove.type = "button";
    remove.dataset.action = "delete";
    remove.setAttribute("aria-label", say(this.context.strings, "delete_from", { name: message.author.name }));
    remove.addEventListener("click", () => {
      if (!this.context.send({ type: "moderation.delete", id: message.id })) {
        this.context.status(this.context.strings.offline ?? "");
      }
    });
    actions.append(remove);
    if (!this.isMe(message.author) && !moderates(message.author)) {
      const person = element("button", { className: "button button--small", text: this.context.strings.moderate ?? "" });
      person.type = "button";
      person.dataset.action = "moderate";
      person.setAttribute("aria-label", say(this.context.strings, "moderate_person", { name: message.author.name }));
      person.addEventListener("click", () => this.context.moderatePerson(message.author));
      actions.append(person);
    }
    item.append(actions);
  }

  private place(item: HTMLLIElement, beforeSeq: number | null): void {
    let before: Element | null = null;
    if (beforeSeq !== null) {
      const next = this.log.atSeq(beforeSeq);
      before = next === undefined ? null : (this.byId.get(next.id) ?? null);
    }
    // Unacked messages stay below everything the server has numbered.
    before ??= this.list.querySelector(":scope > li:not([data-seq])");
    if (item !== before) this.list.insertBefore(item, before);
  }

  private removeElement(item: HTMLLIElement | undefined): void {
    if (item === undefined) return;
    if (item.dataset.id !== undefined && this.byId.get(Number(item.dataset.id)) === item) {
      this.byId.delete(Number(item.dataset.id));
    }
    if (item.dataset.clientId !== undefined && this.byClientId.get(item.dataset.clientId) === item) {
      this.byClientId.delete(item.dataset.clientId);
    }
    item.remove();
  }

  private updateEmpty(): void {
    this.empty.hidden = this.list.childElementCount > 0;
  }

  private stopTyping(userId: number): void {
    const typer = this.typers.get(userId);
    if (typer === undefined) return;
    window.clearTimeout(typer.timer);
    this.typers.delete(userId);
    this.renderTyping();
  }

  private renderTyping(): void {
    const names = [...this.typers.values()].map((typer) => typer.name);
    const strings = this.context.strings;
    let line = "";
    if (names.length === 1) line = say(strings, "typing_one", { name: names[0] as string });
    else if (names.length === 2) line = say(strings, "typing_two", { first: names[0] as string, second: names[1] as string });
    else if (names.length > 2) line = strings.typing_many ?? "";
    text(this.typingLine, line);
  }

  private nearBottom(): boolean {
    const scroller = this.scroller;
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < STICKY_BOTTOM_PX;
  }

  private scrollToEnd(): void {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }
}
