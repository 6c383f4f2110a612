// Q&A: ask (publicly or privately to the guide), upvote, the list sorted by votes with the
// unanswered first, and the pinned question as a banner for everyone. The guide and staff get
// "Mark answered" and "Pin"/"Unpin". A question is sent with its own client id and sent again
// with the same id after a reconnect until it shows up, so a tunnel does not lose it or post it twice.

import { element, required, text } from "./_dom";
import type { RoomContext } from "./_room_context";
import { newClientId } from "./_room_outbox";
import type { Question } from "./_room_protocol";
import { QUESTION_MAX_CHARS } from "./_room_protocol";
import { charCount, cleanLikeServer, nameElement, roleLabel, say, writeText } from "./_room_text";

interface PendingQuestion {
  text: string;
  private: boolean;
}

/** Unanswered first, then most votes, then the oldest. */
export function questionOrder(a: Question, b: Question): number {
  if (a.answered !== b.answered) return a.answered ? 1 : -1;
  if (a.votes !== b.votes) return b.votes - a.votes;
  const byTime = Date.parse(a.askedAt) - Date.parse(b.askedAt);
  return byTime !== 0 ? byTime : a.id - b.id;
}

export class QuestionPanel {
  private readonly questions = new Map<number, Question>();
  private readonly items = new Map<number, HTMLLIElement>();
  private readonly pending = new Map<string, PendingQuestion>();
  private readonly form = required<HTMLFormElement>("#room-question-form");
  private readonly input = required<HTMLTextAreaElement>("#room-question-input");
  private readonly counter = required<HTMLElement>("#room-question-count");
  private readonly privateBox = required<HTMLInputElement>("#room-question-private");
  private readonly askButton = required<HTMLButtonElement>("#room-question-ask");
  private readonly list = required<HTMLOListElement>("#room-question-list");
  private readonly empty = required<HTMLElement>("#room-questions-empty");
  private readonly banner = required<HTMLElement>("#room-pinned");
  private readonly bannerBody = required<HTMLElement>("#room-pinned-body");
  private readonly unpinButton = required<HTMLButtonElement>("#room-unpin");

  constructor(
    private readonly context: RoomContext,
    private readonly onChange: (unanswered: number) => void,
  ) {
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.ask();
    });
    this.input.addEventListener("input", () => this.updateCounter());
    this.unpinButton.addEventListener("click", () => this.send({ type: "question.pin", id: null }));
    this.updateCounter();
    this.render();
  }

  /** room.snapshot: the whole list as this reader may see it. */
  applySnapshot(questions: Question[], pinnedId: number | null): void {
    const known = new Map(this.questions);
    this.questions.clear();
    for (const question of questions) {
      const before = known.get(question.id);
      this.questions.set(question.id, { ...question, voted: question.voted ?? before?.voted, pinned: question.id === pinnedId });
      this.settleMine(question);
    }
    for (const [id, item] of this.items) {
      if (!this.questions.has(id)) {
        item.remove();
        this.items.delete(id);
      }
    }
    this.render();
    this.showPinned(pinnedId === null ? null : (this.questions.get(pinnedId) ?? null));
    // A reconnect: ask again what never showed up (same client id: stored once).
    for (const [clientId, question] of this.pending) {
      this.context.send({ type: "question.ask", client_id: clientId, text: question.text, private: question.private });
    }
  }

  /** question.new / question.updated */
  upsert(question: Question): void {
    const before = this.questions.get(question.id);
    const merged = { ...question, voted: question.voted ?? before?.voted };
    this.questions.set(question.id, merged);
    this.settleMine(question);
    this.render();
    if (merged.pinned) this.showPinned(merged);
    else if (this.banner.dataset.questionId === String(merged.id)) this.showPinned(null);
  }

  /** question.pinned: one question (or none) is pinned for everybody. */
  pinned(question: Question | null): void {
    for (const [id, known] of this.questions) known.pinned = question !== null && id === question.id;
    if (question !== null) {
      const before = this.questions.get(question.id);
      this.questions.set(question.id, { ...question, voted: question.voted ?? before?.voted, pinned: true });
    }
    this.render();
    this.showPinned(question === null ? null : (this.questions.get(question.id) ?? null));
  }

  /** An error about one of my questions (ref = its client id): show it and give the text back. */
  refused(clientId: string): boolean {
    const question = this.pending.get(clientId);
    if (question === undefined) return false;
    this.pending.delete(clientId);
    if (this.input.value.trim() === "") {
      this.input.value = question.text;
      this.privateBox.checked = question.private;
      this.updateCounter();
    }
    return true;
  }

  setEnabled(enabled: boolean): void {
    this.input.disabled = !enabled;
    this.privateBox.disabled = !enabled;
    this.askButton.disabled = !enabled || charCount(this.input.value) > QUESTION_MAX_CHARS;
    this.render();
  }

  /** The moderation buttons depend on who "me" is: redraw once it is known. */
  refreshActions(): void {
    for (const item of this.items.values()) item.remove();
    this.items.clear();
    this.render();
    this.showPinned(this.pinnedQuestion());
  }

  private pinnedQuestion(): Question | null {
    for (const question of this.questions.values()) if (question.pinned) return question;
    return null;
  }

  private ask(): void {
    const value = this.input.value.trim();
    const length = charCount(value);
    if (this.context.readOnly()) {
      this.context.status(this.context.strings.read_only ?? "");
      return;
    }
    if (length === 0) return;
    if (length > QUESTION_MAX_CHARS) {
      this.context.status(say(this.context.strings, "too_long_by", { n: length - QUESTION_MAX_CHARS }));
      return;
    }
    const clientId = newClientId();
    const question = { text: value, private: this.privateBox.checked };
    if (!this.context.send({ type: "question.ask", client_id: clientId, text: value, private: question.private })) {
      this.context.status(this.context.strings.offline ?? "");
      return; // the text stays in the box
    }
    this.pending.set(clientId, question);
    this.input.value = "";
    this.privateBox.checked = false;
    this.updateCounter();
    this.context.status(this.context.strings.question_sent ?? "");
  }

  private settleMine(question: Question): void {
    if (question.clientId !== "" && this.pending.delete(question.clientId)) return;
    const me = this.context.me();
    if (me === null || question.author.id !== me.id) return;
    for (const [clientId, pending] of this.pending) {
      if (cleanLikeServer(pending.text) === question.text && pending.private === question.private) {
        this.pending.delete(clientId);
        return;
      }
    }
  }

  private send(message: { type: string; [key: string]: unknown }): void {
    if (!this.context.send(message)) this.context.status(this.context.strings.offline ?? "");
  }

  private vote(question: Question): void {
    if (question.voted === true || this.context.readOnly()) return;
    if (!this.context.send({ type: "question.upvote", id: question.id })) {
      this.context.status(this.context.strings.offline ?? "");
      return;
    }
    // The server counts it once; the count comes back in question.updated.
    question.voted = true;
    this.render();
  }

  private updateCounter(): void {
    const length = charCount(this.input.value);
    const over = length > QUESTION_MAX_CHARS;
    text(this.counter, say(this.context.strings, "counter", { count: length, max: QUESTION_MAX_CHARS }));
    this.counter.classList.toggle("room-counter--over", over);
    if (over) this.input.setAttribute("aria-invalid", "true");
    else this.input.removeAttribute("aria-invalid");
    this.askButton.disabled = this.input.disabled || over;
  }

  private render(): void {
    const ordered = [...this.questions.values()].sort(questionOrder);
    const focused = document.activeElement;
    let moved = false;
    ordered.forEach((question, index) => {
      let item = this.items.get(question.id);
      if (item === undefined) {
        item = element("li", { className: "room-question" });
        this.items.set(question.id, item);
      }
      this.fill(item, question);
      if (this.list.children[index] !== item) {
        this.list.insertBefore(item, this.list.children[index] ?? null);
        moved = true;
      }
    });
    // Reordering detaches nodes, which drops focus: put it back on the same button.
    if (moved && focused instanceof HTMLElement && this.list.contains(focused) && document.activeElement !== focused) {
      focused.focus();
    }
    this.empty.hidden = ordered.length > 0;
    this.onChange(ordered.filter((question) => !question.answered).length);
  }

  private fill(item: HTMLLIElement, question: Question): void {
    const strings = this.context.strings;
    item.dataset.id = String(question.id);
    item.dataset.answered = String(question.answered);
    item.dataset.private = String(question.private);
    item.dataset.votes = String(question.votes);
    item.classList.toggle("room-question--answered", question.answered);
    item.classList.toggle("room-question--pinned", question.pinned);

    const meta = element("p", { className: "room-question__meta" });
    meta.append(nameElement(question.author, "room-question__author"));
    const role = roleLabel(strings, question.author);
    if (role) meta.append(" ", element("span", { className: "badge badge--info room-badge", text: role }));
    if (question.private) meta.append(" ", element("span", { className: "badge badge--warning room-badge", text: strings.private ?? "" }));
    if (question.answered) meta.append(" ", element("span", { className: "badge badge--success room-badge", text: strings.answered ?? "" }));
    if (question.pinned) meta.append(" ", element("span", { className: "badge room-badge", text: strings.pinned ?? "" }));
    meta.append(" ", this.context.times.timeElement(question.askedAt, "room-question__time"));

    const body = element("p", { className: "room-question__text" });
    const bdi = element("bdi");
    writeText(bdi, question.text);
    body.append(bdi);

    const actions = element("div", { className: "room-question__actions cluster" });
    const upvote = this.button(`▲ ${question.votes}`, "upvote", () => this.vote(question));
    upvote.setAttribute("aria-label", say(strings, "upvote_label", { n: question.votes }));
    upvote.setAttribute("aria-pressed", String(question.voted === true));
    upvote.disabled = this.context.readOnly() && question.voted !== true;
    actions.append(upvote);
    if (this.context.canModerate()) {
      if (!question.answered) {
        const answer = this.button(strings.mark_answered ?? "", "answer", () => this.send({ type: "question.answer", id: question.id }));
        answer.setAttribute("aria-label", say(strings, "mark_answered_label", { name: question.author.name }));
        actions.append(answer);
      }
      if (!question.private) {
        const pin = question.pinned
          ? this.button(strings.unpin ?? "", "unpin", () => this.send({ type: "question.pin", id: null }))
          : this.button(strings.pin ?? "", "pin", () => this.send({ type: "question.pin", id: question.id }));
        actions.append(pin);
      }
    }
    // Keep the focused button's node if its role did not change: a screen reader stays on it.
    const focused = item.contains(document.activeElement) ? (document.activeElement as HTMLElement).dataset.action : undefined;
    item.replaceChildren(meta, body, actions);
    if (focused !== undefined) actions.querySelector<HTMLElement>(`[data-action="${focused}"]`)?.focus();
  }

  private button(label: string, action: string, onClick: () => void): HTMLButtonElement {
    const button = element("button", { className: "button button--small", text: label });
    button.type = "button";
    button.dataset.action = action;
    button.addEventListener("click", onClick);
    return button;
  }

  private showPinned(question: Question | null): void {
    this.banner.hidden = question === null;
    if (question === null) {
      delete this.banner.dataset.questionId;
      this.bannerBody.replaceChildren();
      return;
    }
    this.banner.dataset.questionId = String(question.id);
    const bdi = element("bdi", { className: "room-pinned__text" });
    writeText(bdi, question.text);
    this.bannerBody.replaceChildren(bdi, " — ", nameElement(question.author, "room-pinned__author"));
    this.unpinButton.hidden = !this.context.canModerate();
  }
}
