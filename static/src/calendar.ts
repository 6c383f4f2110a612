// The slot calendar (bookings/templates/bookings/_schedule.html): FullCalendar's month, week and
// list views over the slot feed, in the viewer's time zone with the tour's own (Italian) time
// beside each start. Text from the feed goes in through textContent only.

import "./_calendar_styles"; // first: it must run before FullCalendar's modules (see the file)

import { Calendar } from "@fullcalendar/core";
import type { EventContentArg, EventInput, EventMountArg, EventSourceFuncArg } from "@fullcalendar/core";
import itLocale from "@fullcalendar/core/locales/it";
import dayGridPlugin from "@fullcalendar/daygrid";
import listPlugin from "@fullcalendar/list";
import timeGridPlugin from "@fullcalendar/timegrid";

import { FeedError, fetchSlots } from "./_calendar_feed";
import type { FeedFilters, FeedSlot } from "./_calendar_feed";
import {
  clockText,
  dateTimeText,
  intlTimeZonePlugin,
  isKnownZone,
  storeZone,
  storedZone,
  zoneCity,
  zoneNames,
} from "./_calendar_zones";
import { element, required, text } from "./_dom";
import { browserTimeZone } from "./_time";

const PHONE_QUERY = "(max-width: 40rem)";
const WIDE_VIEW = "dayGridMonth";
const PHONE_VIEW = "listMonth";

interface Texts {
  today: string;
  month: string;
  week: string;
  list: string;
  previous: string;
  next: string;
  close: string;
  available: string;
  fewLeft: string;
  full: string;
  booked: string;
  seatsLeft: string;
  guide: string;
  noSlots: string;
  loading: string;
  loaded: string;
  error: string;
  badRange: string;
  browserZone: string;
}

function readTexts(root: HTMLElement): Texts {
  const data = root.dataset;
  return {
    today: data.textToday ?? "Today",
    month: data.textMonth ?? "Month",
    week: data.textWeek ?? "Week",
    list: data.textList ?? "List",
    previous: data.textPrevious ?? "Previous",
    next: data.textNext ?? "Next",
    close: data.textClose ?? "Close",
    available: data.textAvailable ?? "Available",
    fewLeft: data.textFewLeft ?? "Few seats left",
    full: data.textFull ?? "Full",
    booked: data.textBooked ?? "Booked by you",
    seatsLeft: data.textSeatsLeft ?? "Seats left",
    guide: data.textGuide ?? "Guide",
    noSlots: data.textNoSlots ?? "No dates in this period.",
    loading: data.textLoading ?? "Loading dates…",
    loaded: data.textLoaded ?? "Dates loaded.",
    error: data.textError ?? "The dates could not be loaded.",
    badRange: data.textBadRange ?? "The last day must not be before the first.",
    browserZone: data.textBrowserZone ?? "Your browser’s time zone",
  };
}

/** The zone the calendar shows: the one picked earlier on this device, else the browser's. */
function initialZone(): string {
  const browser = browserTimeZone();
  return storedZone() || (isKnownZone(browser) ? browser : "UTC");
}

/** The mark and class of a slot: being booked by you says more than how full it is. */
function markOf(slot: FeedSlot): string {
  return slot.booked_by_you ? "booked" : slot.state;
}

function stateLabel(slot: FeedSlot, texts: Texts): string {
  if (slot.booked_by_you) return texts.booked;
  return { available: texts.available, few_left: texts.fewLeft, full: texts.full }[slot.state];
}

function isLinked(slot: FeedSlot): boolean {
  return slot.state !== "full" || slot.booked_by_you;
}

function toEvent(slot: FeedSlot): EventInput {
  const event: EventInput = {
    id: String(slot.id),
    title: slot.tour.title,
    start: slot.start,
    end: slot.end,
    classNames: ["slot-event", `slot-event--${markOf(slot)}`],
    extendedProps: { slot },
  };
  // Only when linked: FullCalendar turns an `url: undefined` into href="undefined".
  if (isLinked(slot)) event.url = slot.book_url;
  return event;
}

class SlotCalendar {
  private zone: string;
  private readonly locale: string;
  private readonly texts: Texts;
  private readonly status: HTMLElement;
  private readonly zoneSelect: HTMLSelectElement;
  private readonly form: HTMLFormElement | null;
  private readonly calendar: Calendar;
  private fresh = true; // the next load asks the server, not the browser's cache
  private loadedFilters = "";

  constructor(private readonly root: HTMLElement) {
    this.texts = readTexts(root);
    this.locale = document.documentElement.lang || "en";
    this.zone = initialZone();
    this.status = required("[data-calendar-status]", root);
    this.zoneSelect = required<HTMLSelectElement>("[data-calendar-zone]", root);
    this.form = document.querySelector<HTMLFormElement>("form[data-calendar-filters]");
    const asked = this.dateRange();
    const range = asked === "backwards" ? null : asked; // the server's form already says why
    this.calendar = new Calendar(required("[data-calendar-mount]", root), {
      plugins: [dayGridPlugin, timeGridPlugin, listPlugin, intlTimeZonePlugin],
      locales: [itLocale],
      locale: this.locale,
      timeZone: this.zone,
      initialView: window.matchMedia(PHONE_QUERY).matches ? PHONE_VIEW : WIDE_VIEW,
      initialDate: range?.start,
      validRange: range ?? {},
      headerToolbar: { start: "prev,next today", center: "title", end: `${WIDE_VIEW},timeGridWeek,${PHONE_VIEW}` },
      buttonText: { today: this.texts.today, month: this.texts.month, week: this.texts.week, list: this.texts.list },
      buttonHints: { prev: this.texts.previous, next: this.texts.next, today: this.texts.today },
      viewHint: "$0",
      closeHint: this.texts.close,
      noEventsText: this.texts.noSlots,
      height: "auto",
      dayMaxEvents: 4,
      nowIndicator: true,
      allDaySlot: false, // slots always have a start time
      eventTimeFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
      slotLabelFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
      eventDisplay: "block",
      events: (info, success, failure) => {
        this.load(info).then(success, failure);
      },
      eventContent: (arg) => ({ domNodes: this.content(arg) }),
      eventDidMount: (arg) => this.describe(arg),
      loading: (isLoading) => this.showLoading(isLoading),
      eventsSet: () => this.showCount(),
      eventSourceFailure: (error: unknown) => this.showError(error),
    });
  }

  start(): void {
    this.setUpZoneSelect();
    this.form?.addEventListener("submit", (event) => {
      event.preventDefault();
      this.applyFilters();
    });
    this.form?.addEventListener("change", () => this.applyFilters());
    // Back from a booking page through the back/forward cache: the seats may have changed.
    window.addEventListener("pageshow", (event) => {
      if (!event.persisted) return;
      this.fresh = true;
      this.calendar.refetchEvents();
    });
    this.calendar.render();
  }

  private filters(): FeedFilters {
    const field = (name: string): string => {
      const input = this.form?.elements.namedItem(name);
      return input instanceof HTMLInputElement || input instanceof HTMLSelectElement ? input.value : "";
    };
    return { tour: this.root.dataset.tour || field("tour"), category: field("category"), guide: field("guide") };
  }

  /** The form's days (the last one included) as FullCalendar's valid range (end exclusive). */
  private dateRange(): { start?: string; end?: string } | "backwards" | null {
    const day = (name: string): string => {
      const input = this.form?.elements.namedItem(name);
      return input instanceof HTMLInputElement && /^\d{4}-\d{2}-\d{2}$/.test(input.value) ? input.value : "";
    };
    const first = day("start");
    const last = day("end");
    if (!first && !last) return null;
    if (first && last && last < first) return "backwards";
    const range: { start?: string; end?: string } = {};
    if (first) range.start = first;
    if (last) {
      const [year, month, date] = last.split("-").map(Number);
      range.end = new Date(Date.UTC(year ?? 1970, (month ?? 1) - 1, (date ?? 1) + 1)).toISOString().slice(0, 10);
    }
    return range;
  }

  private applyFilters(): void {
    if (this.form !== null && !this.form.reportValidity()) return;
    const range = this.dateRange();
    if (range === "backwards") {
      this.showError(new FeedError(this.texts.badRange, true));
      return;
    }
    const shown = (): string => `${this.calendar.view.activeStart.getTime()}/${this.calendar.view.activeEnd.getTime()}`;
    const before = shown();
    this.calendar.batchRendering(() => {
      this.calendar.setOption("validRange", range ?? {});
      if (range?.start) this.calendar.gotoDate(range.start);
    });
    // FullCalendar loads by itself when the days shown go beyond what it has; the filters it
    // knows nothing about: ask again when they differ from those of the last load.
    if (shown() === before || JSON.stringify(this.filters()) !== this.loadedFilters) {
      this.calendar.refetchEvents();
    }
    if (this.form !== null) {
      // The address keeps the filters, so the view can be shared or reloaded.
      const query = new URLSearchParams();
      for (const [name, value] of new FormData(this.form)) {
        if (typeof value === "string" && value) query.set(name, value);
      }
      const search = query.toString();
      window.history.replaceState(null, "", search ? `?${search}` : window.location.pathname);
    }
  }

  private async load(info: EventSourceFuncArg): Promise<EventInput[]> {
    const fresh = this.fresh;
    this.fresh = false;
    const filters = this.filters();
    this.loadedFilters = JSON.stringify(filters);
    const slots = await fetchSlots(this.root.dataset.feedUrl ?? "", info, filters, { fresh });
    return slots.map(toEvent);
  }

  private content(arg: EventContentArg): Node[] {
    const slot = arg.event.extendedProps.slot as FeedSlot;
    const start = arg.event.start;
    if (start === null) return [];
    const isList = arg.view.type.startsWith("list");
    const mark = element("span", { className: `slot-mark slot-mark--${markOf(slot)}` });
    mark.setAttribute("aria-hidden", "true");
    const viewerTime = clockText(start, this.zone, this.locale);
    const tourTime = clockText(start, slot.tour_timezone, this.locale);
    const tourTimeText = element("span", {
      className: "slot-event__tour-time",
      text: `${tourTime} ${zoneCity(slot.tour_timezone)}`,
    });
    const title = element("span", { className: "slot-event__title", text: slot.tour.title });
    const state = element("span", { className: "slot-event__state", text: stateLabel(slot, this.texts) });
    if (!slot.booked_by_you && slot.state === "available") state.classList.add("visually-hidden");
    const body = element("span", { className: "slot-event__body" });

    if (isList) {
      // The list prints the viewer's time in its own column; the row itself is not a link, so
      // keyboards and screen readers get one here.
      body.append(mark, title, tourTimeText, state);
      if (!isLinked(slot)) return [body];
      const link = element("a", { className: "slot-event__link" });
      link.href = slot.book_url;
      link.append(body);
      return [link];
    }
    const times = element("span", { className: "slot-event__times" });
    times.append(mark, element("span", { className: "slot-event__time", text: viewerTime }));
    // Shown once when both read the same (a viewer in Italy, or in a zone with Italy's offset).
    if (tourTime !== viewerTime) times.append(tourTimeText);
    body.append(times, title, state);
    return [body];
  }

  private describe(arg: EventMountArg): void {
    const slot = arg.event.extendedProps.slot as FeedSlot;
    const start = arg.event.start;
    if (start === null) return;
    arg.el.dataset.slotId = String(slot.id);
    arg.el.title = [
      `${dateTimeText(start, this.zone, this.locale)} · ` +
        `${dateTimeText(start, slot.tour_timezone, this.locale)} (${zoneCity(slot.tour_timezone)})`,
      slot.tour.title,
      `${this.texts.guide}: ${slot.guide.name}`,
      `${stateLabel(slot, this.texts)} · ${this.texts.seatsLeft}: ${slot.seats_left}`,
    ].join("\n");
  }

  private showLoading(isLoading: boolean): void {
    this.root.setAttribute("aria-busy", String(isLoading));
    if (isLoading) {
      this.status.classList.remove("slot-calendar__status--error");
      text(this.status, this.texts.loading);
    }
  }

  /** After each load: say whether the period has dates (the month and week grids do not). */
  private showCount(): void {
    if (this.status.classList.contains("slot-calendar__status--error")) return;
    const view = this.calendar.view;
    const shown = this.calendar
      .getEvents()
      .filter((event) => event.start !== null && event.start < view.activeEnd && event.start >= view.activeStart);
    text(this.status, shown.length ? this.texts.loaded : this.texts.noSlots);
  }

  private showError(error: unknown): void {
    this.status.classList.add("slot-calendar__status--error");
    text(this.status, error instanceof FeedError && error.forPerson ? error.message : this.texts.error);
  }

  private setUpZoneSelect(): void {
    const select = this.zoneSelect;
    const browser = browserTimeZone();
    const first = select.options[0];
    if (first !== undefined) {
      first.value = "";
      text(first, isKnownZone(browser) ? `${this.texts.browserZone} (${browser})` : this.texts.browserZone);
    }
    const groups = new Map<string, HTMLOptGroupElement>();
    for (const zone of zoneNames(this.zone, browser, "Europe/Rome")) {
      const region = zone.includes("/") ? (zone.split("/")[0] ?? "") : "UTC";
      let group = groups.get(region);
      if (group === undefined) {
        group = element("optgroup");
        group.label = region;
        groups.set(region, group);
        select.append(group);
      }
      const option = element("option", { text: zone.replace(/_/g, " ") });
      option.value = zone;
      group.append(option);
    }
    select.value = storedZone();
    select.disabled = false;
    select.addEventListener("change", () => {
      storeZone(select.value);
      this.zone = select.value || (isKnownZone(browser) ? browser : "UTC");
      this.calendar.setOption("timeZone", this.zone);
    });
  }
}

for (const root of document.querySelectorAll<HTMLElement>("[data-slot-calendar]")) {
  try {
    new SlotCalendar(root).start();
  } catch (error) {
    console.error(error);
  }
}
