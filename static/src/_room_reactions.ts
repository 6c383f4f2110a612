// The five quick reactions: buttons with the running total per emoji (reaction.batch totals), and
// emoji floating up over the video. The client sends at most 5 a second (the server throttles
// too and sends batches, a few a second at most). One's own reaction floats at once; the next
// batch, which counts it too, floats only the others'. Motion follows prefers-reduced-motion:
// then the emoji shows still for a moment instead of rising. Positions are set through the CSSOM
// (element.style), which the site's CSP allows; the stylesheet has the animation.

import { element, text } from "./_dom";
import type { RoomContext } from "./_room_context";
import { RateLimiter } from "./_room_outbox";
import type { Counts, Emoji } from "./_room_protocol";
import { EMOJIS, isEmoji } from "./_room_protocol";

const SENDS_PER_SECOND = 5;
/** A batch that arrives later than this no longer includes one's own reaction. */
const OWN_ECHO_MS = 3_000;
const MAX_FLOATING = 40;
const MAX_FLOATS_PER_BATCH = 8;
const FLOAT_MS = 2_600;
const STILL_MS = 1_200;
const STAGGER_MS = 140;

export class ReactionBar {
  private readonly buttons = new Map<Emoji, HTMLButtonElement>();
  private readonly totals = new Map<Emoji, number>();
  // The server allows 20 per 5 s per person (chat/rules.py REACTION_RATE): stay within both.
  private readonly limiters = [new RateLimiter(SENDS_PER_SECOND, 1_000), new RateLimiter(20, 5_000)];
  private readonly ownRecent: { emoji: Emoji; at: number }[] = [];
  private readonly reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

  constructor(
    private readonly context: RoomContext,
    root: HTMLElement,
    private readonly layer: HTMLElement | null,
  ) {
    for (const button of root.querySelectorAll<HTMLButtonElement>("button[data-emoji]")) {
      const emoji = button.dataset.emoji;
      if (!isEmoji(emoji)) continue;
      this.buttons.set(emoji, button);
      button.addEventListener("click", () => this.react(emoji));
    }
  }

  /** room.snapshot reactions / reaction.batch totals: the running count per emoji. */
  setTotals(totals: Counts): void {
    for (const emoji of EMOJIS) {
      const total = totals[emoji];
      if (total === undefined) continue;
      // Totals only grow: a batch that overtook a later one must not take the count back.
      this.totals.set(emoji, Math.max(total, this.totals.get(emoji) ?? 0));
      this.renderCount(emoji);
    }
  }

  /** reaction.batch counts: float what others sent since the last batch. */
  batch(counts: Counts): void {
    const now = Date.now();
    while (this.ownRecent.length > 0 && now - (this.ownRecent[0] as { at: number }).at > OWN_ECHO_MS) {
      this.ownRecent.shift();
    }
    for (const emoji of EMOJIS) {
      let n = counts[emoji] ?? 0;
      // This batch already counts what I sent and floated myself.
      for (let index = this.ownRecent.length - 1; index >= 0 && n > 0; index -= 1) {
        if ((this.ownRecent[index] as { emoji: Emoji }).emoji === emoji) {
          this.ownRecent.splice(index, 1);
          n -= 1;
        }
      }
      for (let index = 0; index < Math.min(n, MAX_FLOATS_PER_BATCH); index += 1) this.float(emoji, index * STAGGER_MS);
    }
  }

  setEnabled(enabled: boolean): void {
    for (const button of this.buttons.values()) button.disabled = !enabled;
  }

  private react(emoji: Emoji): void {
    if (this.context.readOnly()) return;
    if (!RateLimiter.allowAll(this.limiters, Date.now())) {
      this.context.status(this.context.strings.reaction_slow_down ?? "");
      return;
    }
    if (!this.context.send({ type: "reaction.send", emoji })) {
      this.context.status(this.context.strings.offline ?? "");
      return;
    }
    this.ownRecent.push({ emoji, at: Date.now() });
    this.float(emoji, 0);
  }

  private renderCount(emoji: Emoji): void {
    const button = this.buttons.get(emoji);
    const node = button?.querySelector(".room-reaction__count");
    if (node) text(node, this.totals.get(emoji) ?? 0);
  }

  private float(emoji: Emoji, delayMs: number): void {
    const layer = this.layer;
    if (layer === null || layer.childElementCount >= MAX_FLOATING) return;
    const still = this.reducedMotion.matches;
    const item = element("span", { className: still ? "room-float__item room-float__item--still" : "room-float__item", text: emoji });
    item.style.setProperty("--x", `${(8 + Math.random() * 80).toFixed(1)}%`);
    item.style.setProperty("--drift", `${Math.round(Math.random() * 48 - 24)}px`);
    item.style.setProperty("--delay", `${still ? 0 : delayMs}ms`);
    layer.append(item);
    // A timer rather than animationend: it also fires when the tab was hidden mid-animation.
    window.setTimeout(() => item.remove(), (still ? STILL_MS : FLOAT_MS) + delayMs + 100);
  }
}
