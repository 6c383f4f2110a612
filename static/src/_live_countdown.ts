// The room's clock: time to the start, to the end, or to the hard deadline (end + grace), read on
// the server's clock (Clock offset), as streaming/rules.py countdown() computes it. session.state
// messages re-anchor it, so a changed grace or an ended session shows within one message.

import { text } from "./_dom";
import type { Strings } from "./_live_room";
import { format } from "./_live_room";

export type Phase = "before" | "live" | "grace" | "over";

export interface CountdownState {
  remainingSeconds: number;
  warning: boolean;
  phase: Phase;
}

export interface CountdownTimes {
  slotStartMs: number;
  slotEndMs: number;
  graceSeconds: number;
  warningSeconds: number;
}

/** The same rule as streaming.rules.countdown (seconds rounded up; warning under 5 minutes or in grace). */
export function countdownAt(serverNowMs: number, times: CountdownTimes): CountdownState {
  const deadline = times.slotEndMs + times.graceSeconds * 1000;
  if (serverNowMs < times.slotStartMs) {
    return { remainingSeconds: Math.ceil((times.slotStartMs - serverNowMs) / 1000), warning: false, phase: "before" };
  }
  if (serverNowMs < times.slotEndMs) {
    const remaining = times.slotEndMs - serverNowMs;
    return {
      remainingSeconds: Math.ceil(remaining / 1000),
      warning: remaining < times.warningSeconds * 1000,
      phase: "live",
    };
  }
  if (serverNowMs < deadline) {
    return { remainingSeconds: Math.ceil((deadline - serverNowMs) / 1000), warning: true, phase: "grace" };
  }
  return { remainingSeconds: 0, warning: true, phase: "over" };
}

export function formatDuration(totalSeconds: number): string {
  const seconds = Math.max(0, Math.floor(totalSeconds));
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = String(seconds % 60).padStart(2, "0");
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

export function describe(strings: Strings, state: CountdownState): string {
  const time = formatDuration(state.remainingSeconds);
  switch (state.phase) {
    case "before":
      return format(strings, "starts_in", { time });
    case "live":
      return format(strings, "ends_in", { time });
    case "grace":
      return format(strings, "grace", { time });
    default:
      return format(strings, "over");
  }
}

export interface CountdownView {
  remaining: HTMLElement;
  warning: HTMLElement;
  progress?: HTMLProgressElement;
}

export class RoomCountdown {
  private ended = false;
  private timer: number | undefined;

  constructor(
    private times: CountdownTimes,
    private readonly serverNow: () => number,
    private readonly view: CountdownView,
    private readonly strings: Strings,
  ) {}

  start(): void {
    this.render();
    this.timer = window.setInterval(() => this.render(), 1000);
  }

  /** A session.state countdown: trust the server when it disagrees with the slot times (grace changed). */
  sync(remainingSeconds: number, phase: string): void {
    if (phase === "over") {
      this.ended = true;
    } else if (phase === "grace" || phase === "live") {
      const local = countdownAt(this.serverNow(), this.times);
      if (local.phase === phase && phase === "grace" && Math.abs(local.remainingSeconds - remainingSeconds) > 2) {
        const deadline = this.serverNow() + remainingSeconds * 1000;
        this.times = { ...this.times, graceSeconds: Math.max(0, (deadline - this.times.slotEndMs) / 1000) };
      }
    }
    this.render();
  }

  markEnded(): void {
    this.ended = true;
    this.render();
  }

  current(): CountdownState {
    if (this.ended) return { remainingSeconds: 0, warning: true, phase: "over" };
    return countdownAt(this.serverNow(), this.times);
  }

  private render(): void {
    const state = this.current();
    text(this.view.remaining, describe(this.strings, state));
    this.view.remaining.dataset.phase = state.phase;
    this.view.warning.hidden = !(state.warning && state.phase !== "over");
    const progress = this.view.progress;
    if (progress !== undefined) {
      const total = (this.times.slotEndMs - this.times.slotStartMs) / 1000;
      const elapsed = (this.serverNow() - this.times.slotStartMs) / 1000;
      progress.max = Math.max(1, total);
      progress.value = state.phase === "over" ? progress.max : Math.min(Math.max(0, elapsed), progress.max);
    }
    if (state.phase === "over") window.clearInterval(this.timer);
  }
}
