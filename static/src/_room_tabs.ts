// The room panel's tabs (WAI-ARIA tabs pattern): arrow keys, Home and End move between tabs and
// show their panel; Tab moves into the panel. Each tab can carry a small count badge.

import { text } from "./_dom";

export class RoomTabs {
  private readonly tabs: HTMLButtonElement[];
  private selected = "";
  private readonly listeners: ((name: string) => void)[] = [];

  constructor(private readonly list: HTMLElement) {
    this.tabs = [...list.querySelectorAll<HTMLButtonElement>("[role=tab]")];
    for (const tab of this.tabs) {
      tab.addEventListener("click", () => this.select(tab.dataset.tab ?? "", false));
      tab.addEventListener("keydown", (event: KeyboardEvent) => this.onKey(event, tab));
    }
    const first = this.tabs.find((tab) => tab.getAttribute("aria-selected") === "true") ?? this.tabs[0];
    if (first !== undefined) this.select(first.dataset.tab ?? "", false);
  }

  get current(): string {
    return this.selected;
  }

  onSelect(listener: (name: string) => void): void {
    this.listeners.push(listener);
  }

  /** Shows or hides the tabs only moderators get (and their panels). */
  showModeratorTabs(visible: boolean): void {
    for (const tab of this.tabs) {
      if (tab.dataset.moderatorsOnly === undefined) continue;
      tab.hidden = !visible;
      if (!visible && tab.dataset.tab === this.selected) this.select(this.visible()[0]?.dataset.tab ?? "", false);
    }
  }

  badge(name: string, value: number): void {
    const tab = this.tabs.find((candidate) => candidate.dataset.tab === name);
    const badge = tab?.querySelector<HTMLElement>(".room-tab__badge");
    if (badge === undefined || badge === null) return;
    text(badge, value > 0 ? value : "");
    badge.hidden = value <= 0;
  }

  select(name: string, focus: boolean): void {
    for (const tab of this.tabs) {
      const active = tab.dataset.tab === name;
      tab.setAttribute("aria-selected", String(active));
      tab.tabIndex = active ? 0 : -1;
      const panel = document.getElementById(tab.getAttribute("aria-controls") ?? "");
      if (panel !== null) panel.hidden = !active;
      if (active && focus) tab.focus();
    }
    this.selected = name;
    for (const listener of this.listeners) listener(name);
  }

  private visible(): HTMLButtonElement[] {
    return this.tabs.filter((tab) => !tab.hidden);
  }

  private onKey(event: KeyboardEvent, tab: HTMLButtonElement): void {
    const tabs = this.visible();
    const index = tabs.indexOf(tab);
    let next: HTMLButtonElement | undefined;
    const rtl = getComputedStyle(this.list).direction === "rtl";
    if (event.key === (rtl ? "ArrowLeft" : "ArrowRight")) next = tabs[(index + 1) % tabs.length];
    else if (event.key === (rtl ? "ArrowRight" : "ArrowLeft")) next = tabs[(index - 1 + tabs.length) % tabs.length];
    else if (event.key === "Home") next = tabs[0];
    else if (event.key === "End") next = tabs[tabs.length - 1];
    if (next === undefined) return;
    event.preventDefault();
    this.select(next.dataset.tab ?? "", true);
  }
}
