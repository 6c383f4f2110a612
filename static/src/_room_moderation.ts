// The guide's and staff's moderation tools: slow mode, the queue of messages held by the
// blocked-words list (approve / reject), and a dialog per person to time them out or ban them
// (a ban asks for confirmation first: it disconnects the viewer and refuses their return).
// Deleting one message is a button on the message itself (_room_chat.ts). The server checks
// every action again; these controls are only shown to people it will accept them from.

import { element, required, text } from "./_dom";
import type { RoomContext } from "./_room_context";
import type { HeldMessage, Person } from "./_room_protocol";
import { nameElement, say, writeText } from "./_room_text";

export class ModerationPanel {
  private readonly held = new Map<number, HeldMessage>();
  private readonly slowMode = required<HTMLSelectElement>("#room-slow-mode");
  private readonly heldList = required<HTMLOListElement>("#room-held-list");
  private readonly heldEmpty = required<HTMLElement>("#room-held-empty");
  private readonly dialog = required<HTMLDialogElement>("#room-person-dialog");
  private readonly dialogTitle = required<HTMLElement>("#room-person-title");
  private readonly timeoutSeconds = required<HTMLSelectElement>("#room-timeout-seconds");
  private readonly banReason = required<HTMLInputElement>("#room-ban-reason");
  private readonly banStep = required<HTMLElement>("#room-ban-step");
  private readonly banConfirm = required<HTMLElement>("#room-ban-confirm");
  private readonly banQuestion = required<HTMLElement>("#room-ban-question");
  private person: Person | null = null;
  private slowModeSeconds = 0;

  constructor(
    private readonly context: RoomContext,
    private readonly onChange: (heldCount: number) => void,
  ) {
    this.slowMode.addEventListener("change", () => {
      const seconds = Number(this.slowMode.value);
      if (!this.send({ type: "moderation.slow_mode", seconds })) this.showSlowMode(this.slowModeSeconds);
    });
    required<HTMLButtonElement>("#room-timeout-go").addEventListener("click", () => this.timeOut());
    required<HTMLButtonElement>("#room-ban-go").addEventListener("click", () => this.askBan());
    required<HTMLButtonElement>("#room-ban-yes").addEventListener("click", () => this.ban());
    required<HTMLButtonElement>("#room-ban-no").addEventListener("click", () => this.showBanStep(false));
    required<HTMLButtonElement>("#room-person-close").addEventListener("click", () => this.dialog.close());
    this.dialog.addEventListener("close", () => {
      this.person = null;
      this.showBanStep(false);
    });
    this.renderHeld();
  }

  showSlowMode(seconds: number): void {
    this.slowModeSeconds = seconds;
    const value = String(seconds);
    if (![...this.slowMode.options].some((option) => option.value === value)) {
      // A value set elsewhere (admin, another guide tab) that the menu does not offer.
      const option = element("option", { text: say(this.context.strings, "seconds", { n: seconds }) });
      option.value = value;
      this.slowMode.append(option);
    }
    this.slowMode.value = value;
  }

  /** room.snapshot held: the whole queue. */
  setHeld(messages: HeldMessage[]): void {
    this.held.clear();
    for (const message of messages) this.held.set(message.id, message);
    this.renderHeld();
  }

  /** moderation.held */
  addHeld(message: HeldMessage): void {
    this.held.set(message.id, message);
    this.renderHeld();
  }

  /** moderation.resolved */
  resolved(id: number): void {
    if (this.held.delete(id)) this.renderHeld();
  }

  /** Opens the dialog to time out or ban this person. */
  open(someone: Person): void {
    if (!this.context.canModerate()) return;
    this.person = someone;
    this.dialogTitle.replaceChildren(
      ...say(this.context.strings, "moderate_title", { name: "\u0000" })
        .split("\u0000")
        .flatMap((part, index) => (index === 0 ? [part] : [nameElement(someone), part])),
    );
    this.banReason.value = "";
    this.showBanStep(false);
    if (!this.dialog.open) this.dialog.showModal();
    this.timeoutSeconds.focus();
  }

  private send(message: { type: string; [key: string]: unknown }): boolean {
    if (this.context.send(message)) return true;
    this.context.status(this.context.strings.offline ?? "");
    return false;
  }

  private timeOut(): void {
    const someone = this.person;
    if (someone === null) return;
    const seconds = Number(this.timeoutSeconds.value);
    if (this.send({ type: "moderation.timeout", user_id: someone.id, seconds })) {
      this.context.status(say(this.context.strings, "timed_out_done", { name: someone.name }));
      this.dialog.close();
    }
  }

  private askBan(): void {
    const someone = this.person;
    if (someone === null) return;
    text(this.banQuestion, say(this.context.strings, "ban_confirm", { name: someone.name }));
    this.showBanStep(true);
  }

  private ban(): void {
    const someone = this.person;
    if (someone === null) return;
    if (this.send({ type: "moderation.ban", user_id: someone.id, reason: this.banReason.value.trim() })) {
      this.context.status(say(this.context.strings, "banned_done", { name: someone.name }));
      this.dialog.close();
    }
  }

  private showBanStep(confirming: boolean): void {
    this.banStep.hidden = confirming;
    this.banConfirm.hidden = !confirming;
    // The safe choice has the focus: Enter on a stray key press does not ban anybody.
    if (confirming) required<HTMLButtonElement>("#room-ban-no").focus();
  }

  private renderHeld(): void {
    const strings = this.context.strings;
    const items = [...this.held.values()].sort((a, b) => Date.parse(a.sentAt) - Date.parse(b.sentAt) || a.id - b.id);
    this.heldList.replaceChildren(
      ...items.map((message) => {
        const item = element("li", { className: "room-held" });
        item.dataset.id = String(message.id);
        const meta = element("p", { className: "room-message__meta" });
        meta.append(nameElement(message.author, "room-message__author"), " ", this.context.times.timeElement(message.sentAt));
        const body = element("p", { className: "room-message__text" });
        const bdi = element("bdi");
        writeText(bdi, message.text);
        body.append(bdi);
        const actions = element("div", { className: "cluster" });
        const approve = element("button", { className: "button button--small", text: strings.approve ?? "" });
        approve.type = "button";
        approve.dataset.action = "approve";
        approve.setAttribute("aria-label", say(strings, "approve_from", { name: message.author.name }));
        approve.addEventListener("click", () => this.send({ type: "moderation.approve", id: message.id }));
        const reject = element("button", { className: "button button--small", text: strings.reject ?? "" });
        reject.type = "button";
        reject.dataset.action = "reject";
        reject.setAttribute("aria-label", say(strings, "reject_from", { name: message.author.name }));
        reject.addEventListener("click", () => this.send({ type: "moderation.reject", id: message.id }));
        actions.append(approve, reject);
        item.append(meta, body, actions);
        return item;
      }),
    );
    this.heldEmpty.hidden = items.length > 0;
    this.onChange(items.length);
  }
}
