// The tour summary's share buttons: the Web Share API where the browser has one, else "copy the
// link". Without this script the page still offers plain share links (e-mail, WhatsApp, ...).
// Nothing here loads from another site, and the page's texts come from the template.
import { text } from "./_dom";

function setUpSharing(): void {
  const section = document.querySelector<HTMLElement>("[data-share-url]");
  if (section === null) return;
  const url = section.dataset.shareUrl ?? "";
  const title = section.dataset.shareTitle ?? document.title;
  const shareText = section.dataset.shareText ?? "";
  const status = section.querySelector<HTMLElement>("[data-share-status]");
  const shareButton = section.querySelector<HTMLButtonElement>("[data-share-button]");
  const copyButton = section.querySelector<HTMLButtonElement>("[data-copy-button]");

  if (shareButton !== null && typeof navigator.share === "function") {
    shareButton.hidden = false;
    shareButton.addEventListener("click", () => {
      // A person closing the share sheet rejects the promise: that is not an error.
      navigator.share({ title, text: shareText, url }).catch(() => undefined);
    });
  }
  if (copyButton !== null && navigator.clipboard !== undefined) {
    copyButton.hidden = false;
    copyButton.addEventListener("click", () => {
      navigator.clipboard.writeText(url).then(
        () => {
          if (status !== null) text(status, status.dataset.copiedText ?? "");
        },
        () => {
          if (status !== null) text(status, status.dataset.copyFailedText ?? url);
        },
      );
    });
  }
}

setUpSharing();
