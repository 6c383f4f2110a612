// FullCalendar 6 under the site's CSP (style-src 'self', font-src 'self').
//
// FullCalendar 6 ships its CSS inside its JavaScript and, when its module first runs, adds a
// <style data-fullcalendar> element to <head> and fills it with insertRule(). The CSP refuses
// that element (a "style-src-elem" violation; its .sheet is then null and FullCalendar 6.1.21
// throws on it). Before creating one, FullCalendar looks for an existing
// `style[data-fullcalendar]` and uses its `.sheet`. So, before FullCalendar's module runs:
//
// * a placeholder matching that selector goes into <head>: an element named "style" in a
//   private XML namespace, so the browser never treats it as a style sheet (no CSP check, no
//   rendering), and its `sheet` is the target below;
// * the target hands each rule to a constructed style sheet adopted by the document.
//   Constructed sheets are CSSOM, which CSP does not govern, and they come from our own bundle.
//
// The rules go into `@layer fullcalendar`, so every unlayered rule of site.css and calendar.css
// wins over them whatever its specificity (adopted sheets otherwise come last in the cascade).
// Its @font-face (an icon font in a data: URL, which font-src 'self' would block) is left out;
// calendar.css draws the few icons with plain characters instead.
//
// This module must be imported before anything from @fullcalendar: calendar.ts imports it first,
// and ES modules run in import order. tests/e2e/test_calendar.py fails on any CSP violation and
// checks that the styles apply, so a FullCalendar upgrade that changes this contract shows up.

const LAYER = "fullcalendar";
const PLACEHOLDER_NAMESPACE = "urn:x-italycouch:fullcalendar-styles";

// The part of CSSStyleSheet that FullCalendar 6 uses.
interface RuleTarget {
  readonly cssRules: { readonly length: number };
  insertRule(rule: string, index?: number): number;
}

function adoptedLayer(): CSSLayerBlockRule | null {
  if (!("adoptedStyleSheets" in Document.prototype) || typeof CSSStyleSheet !== "function") return null;
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(`@layer ${LAYER} {}`);
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
    return sheet.cssRules[0] as CSSLayerBlockRule;
  } catch {
    return null; // an old browser: the calendar works unstyled rather than not at all
  }
}

function ruleTarget(layer: CSSLayerBlockRule | null): RuleTarget {
  return {
    get cssRules(): { readonly length: number } {
      return layer?.cssRules ?? { length: 0 };
    },
    insertRule(rule: string): number {
      if (layer === null || /^@font-face\b/i.test(rule.trim())) return 0;
      // Always appended: FullCalendar's own indexes assume a sheet holding only its rules.
      try {
        return layer.insertRule(rule, layer.cssRules.length);
      } catch {
        return 0; // a rule this browser cannot parse: skip it, as a <style> element would
      }
    },
  };
}

export function installFullCalendarStyles(): void {
  if (document.head.querySelector("style[data-fullcalendar]")) return;
  const placeholder = document.createElementNS(PLACEHOLDER_NAMESPACE, "style");
  placeholder.setAttribute("data-fullcalendar", "");
  Object.defineProperty(placeholder, "sheet", { value: ruleTarget(adoptedLayer()) });
  document.head.append(placeholder);
}

installFullCalendarStyles();
