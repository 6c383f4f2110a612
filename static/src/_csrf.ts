// Django's CSRF token for fetch() POSTs. base.html renders {% csrf_token %} in the language form,
// which makes Django set the `csrftoken` cookie (CSRF_COOKIE_HTTPONLY is False for this reason).

export function csrfToken(): string {
  for (const pair of document.cookie.split(";")) {
    const [name, ...rest] = pair.trim().split("=");
    if (name === "csrftoken") return decodeURIComponent(rest.join("="));
  }
  return "";
}

/** POSTs form-encoded fields same-origin with the CSRF header; resolves to the response. */
export function postForm(url: string, fields: Record<string, string>): Promise<Response> {
  return fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    body: new URLSearchParams(fields),
  });
}
