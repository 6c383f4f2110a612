// The main nav collapses behind a "Menu" button on small screens. Without JS the button stays
// hidden and the nav stays open, so every link is reachable.

export function setUpNavToggle(root: ParentNode = document): void {
  const toggle = root.querySelector<HTMLButtonElement>("[data-nav-toggle]");
  const navId = toggle?.getAttribute("aria-controls");
  const nav = navId ? document.getElementById(navId) : null;
  if (!toggle || !nav) return;

  const setOpen = (open: boolean): void => {
    toggle.setAttribute("aria-expanded", String(open));
    nav.dataset.state = open ? "open" : "closed";
  };

  setOpen(false);
  toggle.hidden = false;

  toggle.addEventListener("click", () => {
    setOpen(toggle.getAttribute("aria-expanded") !== "true");
  });

  // Escape closes the open menu and puts focus back on its button.
  nav.addEventListener("keydown", (event: KeyboardEvent) => {
    if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
      setOpen(false);
      toggle.focus();
    }
  });
}
