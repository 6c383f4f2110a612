// Site-wide behaviour for every page (loaded by base.html as a module, so it runs after parsing).
import { detectPreferences } from "./_detect";
import { setUpNavToggle } from "./_nav";
import { localiseTimes } from "./_time";

// One failing enhancement must not stop the others: the page works without any of them.
function run(step: () => unknown): void {
  try {
    const result = step();
    if (result instanceof Promise) result.catch((error: unknown) => console.error(error));
  } catch (error) {
    console.error(error);
  }
}

document.documentElement.classList.add("js");
run(setUpNavToggle);
run(detectPreferences);
run(localiseTimes);
