// Tips in the live room (docs/events.md, "Tips"): the guide's page acknowledges each paid tip at
// once (a toast and the running total, from `tip.received`), and everyone sees a short "thank you"
// banner over the video when the tipper allowed it (`tip.thanks`: a name, never the amount).
// The page calls handle() with every message its own switch does not take. After every
// `room.snapshot` (first join and each reconnect) the guide's page asks the tips feed
// (docs/api.md) for the session's paid tips, so one paid while the socket was down still gets its
// toast and the total is right. Names and messages written by people go in with textContent only.

import { element, text } from "./_dom";
import type { Message } from "./_live_signal";

const TOAST_MS = 20_000;
const MAX_TOASTS = 5;
const BANNER_MS = 6_000;

type Strings = Record<string, string>;

function readStrings(): Strings {
  const node = document.getElementById("tip-strings");
  if (node === null) return {};
  try {
    const parsed: unknown = JSON.parse(node.textContent ?? "{}");
    return typeof parsed === "object" && parsed !== null ? (parsed as Strings) : {};
  } catch {
    return {};
  }
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? values[name] : whole));
}

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

export class TipMoments {
  private readonly strings = readStrings();
  private readonly total: HTMLElement | null = document.getElementById("tips-total");
  private readonly toasts: HTMLElement | null = document.getElementById("tips-toasts");
  private readonly seen = new Set<number>();
  private bannerLayer: HTMLElement | null = null;
  private bannerTimer: number | undefined;

  private readonly feedUrl: string;
  private catchingUp = false;

  /** The page's tip parts, or null when the page has none (the template did not include them). */
  static mount(stage: HTMLElement): TipMoments | null {
    const root = document.getElementById("live-tips");
    if (root === null) return null;
    return new TipMoments(root, stage);
  }

  private constructor(
    root: HTMLElement,
    private readonly stage: HTMLElement,
  ) {
    this.feedUrl = root.dataset.feedUrl ?? "";
    // Tips already counted in the total the page was rendered with: no toast for them.
    for (const id of (root.dataset.seenTips ?? "").split(",")) {
      if (/^\d+$/.test(id)) this.seen.add(Number(id));
    }
  }

  /** True when the message was a tip event (the caller then passes it to nobody else). */
  handle(message: Message): boolean {
    if (message.type === "room.snapshot") {
      // Joined (again): catch up on tips paid while the socket was away. The room still needs it.
      void this.catchUp();
      return false;
    }
    if (message.type === "tip.received") {
      this.received(message);
      return true;
    }
    if (message.type === "tip.thanks") {
      this.thanks(str(message.name));
      return true;
    }
    return false;
  }

  private received(message: Message): void {
    const id = typeof message.id === "number" ? message.id : null;
    const totalMinor = typeof message.total_minor === "number" ? message.total_minor : null;
    const shownMinor = Number(this.total?.dataset.totalMinor ?? "0");
    // Paid tips only add up: an older answer (a catch-up overtaken by a live event) never lowers it.
    if (typeof message.total === "string" && totalMinor !== null && this.total !== null && totalMinor >= shownMinor) {
      const currency = str(message.currency);
      text(this.total, fill(this.strings.total ?? "{amount} {currency}", { amount: message.total, currency }));
      this.total.dataset.totalMinor = String(totalMinor);
    }
    // A repeat (the same tip announced again) updates the total but shows no second toast.
    if (id === null || this.seen.has(id) || this.toasts === null) return;
    this.seen.add(id);
    const item = element("li", { className: "live-tips__toast" });
    item.dataset.tipId = String(id);
    const line = fill(this.strings.received ?? "{name} tipped {amount} {currency}", {
      name: str(message.name),
      amount: str(message.amount),
      currency: str(message.currency),
    });
    item.append(element("strong", { text: line }));
    const note = str(message.message);
    if (note !== "") {
      const quote = element("q", { className: "live-tips__message", text: note });
      item.append(" ", quote);
    }
    this.toasts.prepend(item);
    while (this.toasts.children.length > MAX_TOASTS) this.toasts.lastElementChild?.remove();
    window.setTimeout(() => item.remove(), TOAST_MS);
  }

  private async catchUp(): Promise<void> {
    if (this.feedUrl === "" || this.catchingUp) return;
    this.catchingUp = true;
    try {
      const response = await fetch(this.feedUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const body: unknown = await response.json();
      const tips = (body as { tips?: unknown }).tips;
      if (!Array.isArray(tips)) return;
      for (const tip of tips) {
        if (typeof tip === "object" && tip !== null) this.received({ ...(tip as Message), type: "tip.received" });
      }
    } catch {
      // Offline again: the next snapshot tries again; live events keep coming meanwhile.
    } finally {
      this.catchingUp = false;
    }
  }

  private thanks(name: string): void {
    const layer = this.layer();
    window.clearTimeout(this.bannerTimer);
    layer.replaceChildren();
    const banner = element("p", {
      className: "tip-thanks",
      text: fill(this.strings.thanks ?? "Thank you, {name}!", { name }),
    });
    layer.append(banner);
    this.bannerTimer = window.setTimeout(() => banner.remove(), BANNER_MS);
  }

  private layer(): HTMLElement {
    // Inside the video's box so it also shows in full screen; read out politely once.
    if (this.bannerLayer === null) {
      const layer = element("div", { className: "tip-thanks-layer" });
      layer.id = "tip-thanks-layer";
      layer.setAttribute("role", "status");
      this.stage.append(layer);
      this.bannerLayer = layer;
    }
    return this.bannerLayer;
  }
}
