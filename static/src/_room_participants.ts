// Who is in the room: the viewer count for everybody (presence.count), and for the guide and
// staff the live list (participant.list): name, country, join time, connection status, time
// watched, messages and reactions, with the way to time out or ban a viewer.

import { element, required, text } from "./_dom";
import type { RoomContext } from "./_room_context";
import type { Participant } from "./_room_protocol";
import { duration, flag, nameElement, roleLabel, say } from "./_room_text";

const STATUS_ORDER = { connected: 0, reconnecting: 1, left: 2 } as const;

export class ParticipantPanel {
  private readonly list = required<HTMLUListElement>("#room-people-list");
  private readonly empty = required<HTMLElement>("#room-people-empty");
  private readonly countNodes = document.querySelectorAll<HTMLElement>("[data-room-viewers]");
  private participants: Participant[] = [];
  /** A presence count arrived: the pages stop showing their own per-process figure. */
  hasCount = false;

  constructor(
    private readonly context: RoomContext,
    private readonly onChange: (connected: number) => void,
  ) {
    this.render();
  }

  setViewers(viewers: number): void {
    this.hasCount = true;
    for (const node of this.countNodes) text(node, viewers);
  }

  setParticipants(participants: Participant[]): void {
    this.participants = [...participants].sort(
      (a, b) =>
        STATUS_ORDER[a.status] - STATUS_ORDER[b.status] ||
        Date.parse(a.joinedAt) - Date.parse(b.joinedAt) ||
        a.user.id - b.user.id,
    );
    this.render();
  }

  render(): void {
    const strings = this.context.strings;
    const me = this.context.me();
    const canModerate = this.context.canModerate();
    // The list is redrawn about once a second: keep a keyboard user's focus on the same person.
    const focused = document.activeElement;
    const focusedUser = focused instanceof HTMLElement && this.list.contains(focused) ? focused.closest("li")?.dataset.userId : undefined;
    this.list.replaceChildren(
      ...this.participants.map((participant) => {
        const someone = participant.user;
        const item = element("li", { className: "room-person" });
        item.dataset.userId = String(someone.id);
        item.dataset.status = participant.status;

        const head = element("p", { className: "room-person__head" });
        const country = flag(someone.country);
        if (country) {
          const flagNode = element("span", { className: "room-person__flag", text: country });
          flagNode.setAttribute("aria-hidden", "true");
          head.append(flagNode, " ");
        }
        head.append(nameElement(someone, "room-person__name"));
        const role = roleLabel(strings, someone);
        if (role) head.append(" ", element("span", { className: "badge badge--info room-badge", text: role }));
        const status = element("span", { className: "room-person__status", text: strings[`status_${participant.status}`] ?? participant.status });
        status.dataset.status = participant.status;
        head.append(" ", status);

        const facts = element("dl", { className: "room-person__facts" });
        const fact = (label: string, value: Node | string): void => {
          const term = element("dt", { text: label });
          const detail = element("dd");
          detail.append(value);
          facts.append(term, detail);
        };
        const place = element("bdi", { text: someone.country ?? "—" });
        fact(strings.country ?? "", place);
        fact(strings.joined ?? "", this.context.times.timeElement(participant.joinedAt));
        fact(strings.watched ?? "", duration(participant.watchedSeconds));
        fact(strings.messages ?? "", String(participant.messages));
        fact(strings.reactions ?? "", String(participant.reactions));
        item.append(head, facts);

        if (canModerate && someone.role === "viewer" && (me === null || me.id !== someone.id)) {
          const moderate = element("button", { className: "button button--small", text: strings.moderate ?? "" });
          moderate.type = "button";
          moderate.dataset.action = "moderate";
          moderate.setAttribute("aria-label", say(strings, "moderate_person", { name: someone.name }));
          moderate.addEventListener("click", () => this.context.moderatePerson(someone));
          item.append(moderate);
        }
        return item;
      }),
    );
    if (focusedUser !== undefined) {
      this.list.querySelector<HTMLElement>(`li[data-user-id="${Number(focusedUser)}"] [data-action]`)?.focus();
    }
    this.empty.hidden = this.participants.length > 0;
    this.onChange(this.participants.filter((participant) => participant.status === "connected").length);
  }
}
