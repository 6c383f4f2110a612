// Progressive enhancement for <time datetime="ISO" data-local>: the server shows the time in the
// visitor's saved zone; the tooltip shows it in the zone the browser is in right now.

// Explicit fields: dateStyle/timeStyle cannot be combined with timeZoneName (RangeError).
const formatter = (): Intl.DateTimeFormat =>
  new Intl.DateTimeFormat(undefined, {
    weekday: "long",
    year: "numeric",
    month: "long",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZoneName: "short",
  });

export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone ?? "";
  } catch {
    return "";
  }
}

export function localiseTimes(root: ParentNode = document): void {
  const format = formatter();
  for (const node of root.querySelectorAll<HTMLTimeElement>("time[data-local][datetime]")) {
    const instant = new Date(node.dateTime);
    if (Number.isNaN(instant.getTime())) continue;
    node.title = format.format(instant);
  }
}
