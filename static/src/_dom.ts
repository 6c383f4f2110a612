// Tiny DOM helpers shared by every page bundle. Text from people goes in through textContent only:
// never innerHTML, so a chat message or a tour title can never become markup.

/** Sets an element's text. Anything that is not a string is shown as its String() form. */
export function text(element: Element, value: string | number | null | undefined): void {
  element.textContent = value === null || value === undefined ? "" : String(value);
}

/** Creates an element with optional class names and text, without touching innerHTML. */
export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  options: { className?: string; text?: string } = {},
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (options.className) node.className = options.className;
  if (options.text !== undefined) node.textContent = options.text;
  return node;
}

/** The first match, typed; throws with the selector so a template/script mismatch is obvious. */
export function required<T extends Element = HTMLElement>(selector: string, root: ParentNode = document): T {
  const found = root.querySelector<T>(selector);
  if (found === null) throw new Error(`Missing element: ${selector}`);
  return found;
}
