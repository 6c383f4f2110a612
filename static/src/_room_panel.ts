// The live room beside the video (chat, reactions, Q&A, moderation, participants), on the live
// signalling socket the page already has. The page calls join() on every `welcome` (first
// connect and every reconnect), handle() with every other message, and disconnected()/end()/stop()
// as the socket and the session go. Messages: docs/events.md, "Live room".

import { required, text } from "./_dom";
import type { Message } from "./_live_signal";
import { ChatPanel } from "./_room_chat";
import type { RoomContext } from "./_room_context";
import { ModerationPanel } from "./_room_moderation";
import { ParticipantPanel } from "./_room_participants";
import type { Person } from "./_room_protocol";
import * as protocol from "./_room_protocol";
import { QuestionPanel } from "./_room_questions";
import { ReactionBar } from "./_room_reactions";
import { RoomTabs } from "./_room_tabs";
import { TimeFormat, readRoomStrings, say } from "./_room_text";

export interface RoomHost {
  sessionId: number;
  /** The page: the guide's broadcast page moderates from the start; a viewer page learns it from `me`. */
  pageRole: "publisher" | "viewer";
  send(message: Message): boolean;
  serverNow(): number;
  /** The video's box: reactions float over it. */
  stage: HTMLElement;
}

/** Error codes only room messages produce. */
const ROOM_ERRORS = new Set([
  "too_long",
  "empty",
  "rate_limited",
  "slow_mode",
  "timed_out",
  "not_found",
  "unavailable",
  "server_error",
]);
/** Codes signalling uses too: taken as the room's when a room request went out just before. */
const SHARED_ERRORS = new Set(["not_allowed", "bad_field", "ended", "too_large"]);
const RECENT_REQUEST_MS = 5_000;
const STATUS_CLEAR_MS = 6_000;

export class LiveRoom {
  private readonly strings = readRoomStrings();
  private readonly statusLine = required<HTMLElement>("#room-status");
  private readonly readOnlyNotice = required<HTMLElement>("#room-readonly-notice");
  private readonly context: RoomContext;
  private readonly tabs: RoomTabs;
  private readonly chat: ChatPanel;
  private readonly reactions: ReactionBar;
  private readonly questions: QuestionPanel;
  private readonly moderation: ModerationPanel;
  private readonly participants: ParticipantPanel;
  private me: Person | null = null;
  private joined = false;
  private closed = false;
  private unreadChat = 0;
  private lastRequestAt = 0;
  private statusTimer: number | undefined;

  /** The room panel of this page, or null when the page has none. */
  static mount(host: RoomHost): LiveRoom | null {
    const root = document.getElementById("room");
    if (root === null) return null;
    try {
      return new LiveRoom(root, host);
    } catch (error) {
      // The video must keep working even if the room cannot start (reported, not swallowed).
      console.error("live room could not start", error);
      return null;
    }
  }

  private constructor(
    private readonly root: HTMLElement,
    private readonly host: RoomHost,
  ) {
    const times = new TimeFormat(root.dataset.timeZone ?? "");
    this.context = {
      strings: this.strings,
      times,
      send: (message) => this.send(message),
      joined: () => this.joined,
      serverNow: () => host.serverNow(),
      me: () => this.me,
      canModerate: () => this.canModerate(),
      readOnly: () => this.closed,
      status: (message) => this.status(message),
      moderatePerson: (someone) => this.moderation.open(someone),
    };
    this.tabs = new RoomTabs(required("#room-tabs", root));
    this.chat = new ChatPanel(this.context, host.sessionId, root.dataset.userId ?? "");
    this.reactions = new ReactionBar(this.context, required("#room-reactions", root), this.floatLayer());
    this.questions = new QuestionPanel(this.context, (unanswered) => this.tabs.badge("questions", unanswered));
    this.moderation = new ModerationPanel(this.context, (held) => this.tabs.badge("moderation", held));
    this.participants = new ParticipantPanel(this.context, () => undefined);
    this.tabs.onSelect((name) => {
      if (name === "chat") {
        this.unreadChat = 0;
        this.tabs.badge("chat", 0);
        this.chat.shown();
      }
    });
    this.tabs.showModeratorTabs(this.canModerate());
    root.dataset.state = "connecting";
  }

  /** A presence count arrived from the room (the broadcast page then stops showing its own). */
  get hasViewerCount(): boolean {
    return this.participants.hasCount;
  }

  /** `welcome` arrived on a (new) connection: resume the room after the last message seen. */
  join(): void {
    if (this.closed) return;
    this.joined = false;
    this.root.dataset.state = "joining";
    this.send({ type: "room.join", after_seq: this.chat.log.lastSeq });
  }

  disconnected(): void {
    this.joined = false;
    this.root.dataset.state = "offline";
    this.chat.disconnected();
  }

  /** The session is over: the room stays readable, nothing can be written. */
  end(): void {
    this.close(this.strings.ended ?? "", true);
  }

  /** This person was removed (ban, booking cancelled) or the page stopped for good. */
  stop(message: string): void {
    this.close(message, false);
  }

  /** One message from the socket; true when it was the room's. */
  handle(message: Message): boolean {
    try {
      return this.dispatch(message);
    } catch (error) {
      // A malformed message must not take the page (and its video) down with it; it is a bug to see.
      console.error("live room: message ignored", message.type, error);
      return true;
    }
  }

  private dispatch(message: Message): boolean {
    switch (message.type) {
      case "room.snapshot":
        this.applySnapshot(protocol.snapshot(message));
        return true;
      case "chat.message": {
        const chat = protocol.chatMessage(message);
        if (chat === null) return true;
        const known = this.chat.log.has(chat.id);
        this.chat.receive(chat);
        if (!known && this.tabs.current !== "chat" && chat.author.id !== this.me?.id) {
          this.unreadChat += 1;
          this.tabs.badge("chat", this.unreadChat);
        }
        return true;
      }
      case "chat.ack": {
        const id = protocol.count(message.id);
        const seq = protocol.count(message.seq);
        if (typeof message.client_id === "string" && id !== null && seq !== null) this.chat.ack(message.client_id, id, seq);
        return true;
      }
      case "chat.held":
        if (typeof message.client_id === "string") this.chat.held(message.client_id);
        return true;
      case "chat.deleted": {
        const id = protocol.count(message.id);
        if (id !== null) this.chat.deleted(id);
        return true;
      }
      case "chat.typing": {
        const someone = protocol.person(message.user);
        if (someone !== null) this.chat.typing(someone);
        return true;
      }
      case "reaction.batch":
        this.reactions.setTotals(protocol.counts(message.totals));
        this.reactions.batch(protocol.counts(message.counts));
        return true;
      case "question.new":
      case "question.updated": {
        const question = protocol.question(message.question);
        if (question !== null) this.questions.upsert(question);
        return true;
      }
      case "question.pinned":
        this.questions.pinned(protocol.question(message.question));
        return true;
      case "moderation.held": {
        const held = protocol.heldMessage(message.message);
        if (held !== null) this.moderation.addHeld(held);
        return true;
      }
      case "moderation.resolved": {
        const id = protocol.count(message.id);
        if (id !== null) this.moderation.resolved(id);
        return true;
      }
      case "moderation.slow_mode": {
        const seconds = protocol.count(message.seconds) ?? 0;
        this.chat.setSlowMode(seconds);
        this.moderation.showSlowMode(seconds);
        return true;
      }
      case "moderation.timed_out": {
        // To the person timed out, and to the guide and staff (with ``user``: who it was).
        const target = protocol.person(message.user);
        const until = typeof message.until === "string" ? message.until : null;
        if (target === null || target.id === this.me?.id) this.chat.setTimedOut(until);
        else if (until !== null) {
          const time = this.context.times.clock(new Date(until));
          this.status(say(this.strings, "timed_out_other", { name: target.name, time }));
        }
        return true;
      }
      case "participant.list": {
        this.participants.setParticipants(protocol.participants(message.participants));
        const viewers = protocol.count(message.viewers);
        if (viewers !== null) this.participants.setViewers(viewers);
        return true;
      }
      case "presence.count": {
        const viewers = protocol.count(message.viewers);
        if (viewers !== null) this.participants.setViewers(viewers);
        return true;
      }
      case "error":
        return this.error(message);
      default:
        return false;
    }
  }

  private applySnapshot(snapshot: protocol.Snapshot): void {
    const wasModerator = this.canModerate();
    if (snapshot.me !== null) this.me = snapshot.me;
    this.joined = true;
    this.root.dataset.state = "joined";
    if (snapshot.viewers !== null) this.participants.setViewers(snapshot.viewers);
    this.chat.setSlowMode(snapshot.slowModeSeconds);
    this.moderation.showSlowMode(snapshot.slowModeSeconds);
    this.chat.setTimedOut(snapshot.timedOutUntil);
    this.reactions.setTotals(snapshot.reactions);
    const moderator = this.canModerate();
    this.tabs.showModeratorTabs(moderator);
    this.chat.applySnapshot(snapshot.messages, snapshot.reset, snapshot.deletedIds, snapshot.lastSeq);
    if (moderator !== wasModerator) this.questions.refreshActions();
    this.questions.applySnapshot(snapshot.questions, snapshot.pinnedQuestionId);
    if (moderator) {
      this.moderation.setHeld(snapshot.held);
      if (snapshot.participants !== null) this.participants.setParticipants(snapshot.participants);
    }
  }

  private error(message: Message): boolean {
    const code = typeof message.code === "string" ? message.code : "";
    const ref = typeof message.ref === "string" && message.ref !== "" ? message.ref : null;
    const retryAfter = protocol.count(message.retry_after);
    const serverText = typeof message.message === "string" ? message.message : "";
    const forPeople =
      code === "slow_mode" && retryAfter !== null
        ? say(this.strings, "error_slow_mode", { seconds: retryAfter })
        : (this.strings[`error_${code}`] ?? serverText);
    let mine = false;
    if (ref !== null) mine = this.chat.refused(ref, code, retryAfter, forPeople) || this.questions.refused(ref);
    const recent = Date.now() - this.lastRequestAt < RECENT_REQUEST_MS;
    if (!mine && !ROOM_ERRORS.has(code) && !(SHARED_ERRORS.has(code) && recent)) return false;
    this.status(forPeople);
    if (code === "ended") this.end();
    if (code === "timed_out" && retryAfter !== null) {
      this.chat.setTimedOut(new Date(this.host.serverNow() + retryAfter * 1000).toISOString());
    }
    return true;
  }

  private canModerate(): boolean {
    return this.host.pageRole === "publisher" || protocol.moderates(this.me);
  }

  private send(message: Message): boolean {
    if (this.closed) return false;
    const sent = this.host.send(message);
    if (sent) this.lastRequestAt = Date.now();
    return sent;
  }

  private close(message: string, over: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.joined = false;
    this.root.dataset.state = "closed";
    this.chat.setReadOnly();
    this.reactions.setEnabled(false);
    this.questions.setEnabled(false);
    text(this.readOnlyNotice, message || (this.strings.read_only ?? ""));
    this.readOnlyNotice.hidden = false;
    // After the tour its chat can be read again on the transcript page; not after a ban.
    const transcript = this.root.querySelector<HTMLElement>("#room-transcript");
    if (transcript !== null) transcript.hidden = !over;
  }

  private status(message: string): void {
    window.clearTimeout(this.statusTimer);
    text(this.statusLine, message);
    if (message !== "") this.statusTimer = window.setTimeout(() => text(this.statusLine, ""), STATUS_CLEAR_MS);
  }

  private floatLayer(): HTMLElement {
    // Over the video, inside its box so it also shows in full screen; never read out.
    let layer = this.host.stage.querySelector<HTMLElement>(".room-float");
    if (layer === null) {
      layer = document.createElement("div");
      layer.className = "room-float";
      layer.id = "room-float";
      layer.setAttribute("aria-hidden", "true");
      this.host.stage.append(layer);
    }
    return layer;
  }
}
