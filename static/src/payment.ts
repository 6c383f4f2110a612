// The pay page with PAYMENTS_PROVIDER=stripe: Stripe's Payment Element, loaded from js.stripe.com
// (production only; the CSP allows it on this page alone). Card details go from the browser to
// Stripe, never through our servers. Confirming only starts the payment: the booking is confirmed
// by the payment_intent.succeeded webhook, and Stripe brings the customer back to return_url.
import { required, text } from "./_dom";

interface StripeError {
  message?: string;
}
interface StripeElement {
  mount(target: HTMLElement): void;
}
interface StripeElements {
  create(type: "payment"): StripeElement;
}
interface StripeClient {
  elements(options: { clientSecret: string }): StripeElements;
  confirmPayment(options: {
    elements: StripeElements;
    confirmParams: { return_url: string };
  }): Promise<{ error?: StripeError }>;
}
type StripeFactory = (publishableKey: string) => StripeClient;

function start(): void {
  const form = document.querySelector<HTMLFormElement>("[data-stripe-payment]");
  if (form === null) return;
  const errorBox = required<HTMLElement>("[data-payment-error]", form);
  const button = required<HTMLButtonElement>("[data-pay-button]", form);
  const factory = (window as unknown as { Stripe?: StripeFactory }).Stripe;
  if (factory === undefined) {
    text(errorBox, "The payment form could not load. Check your connection and reload the page.");
    errorBox.hidden = false;
    button.disabled = true;
    return;
  }
  const { publishableKey = "", clientSecret = "", returnUrl = "" } = form.dataset;
  const stripe = factory(publishableKey);
  const elements = stripe.elements({ clientSecret });
  elements.create("payment").mount(required<HTMLElement>("[data-payment-element]", form));

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    button.disabled = true;
    errorBox.hidden = true;
    void stripe.confirmPayment({ elements, confirmParams: { return_url: returnUrl } }).then((result) => {
      // Only reached when the payment could not be confirmed (Stripe redirects otherwise).
      text(errorBox, result.error?.message ?? "The payment did not go through.");
      errorBox.hidden = false;
      button.disabled = false;
    });
  });
}

start();
