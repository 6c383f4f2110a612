"""A local HTTP server that answers the Stripe API calls payments/ makes, as Stripe's API does.

The real ``stripe`` SDK is pointed at it (``STRIPE_API_BASE``), so the code path is the one
production runs; only the network edge is local. Responses are Stripe's published sample objects
(../shared/data/stripe/fixtures3.json, from stripe/openapi) with the fields of the request filled
in, errors have Stripe's shape (``{"error": {"type", "code", "message", "param"}}``), and:

- the API key is checked (``Authorization: Bearer sk_test_...``), a wrong one is a 401;
- ``Idempotency-Key`` is honoured like Stripe: the same key with the same parameters replays the
  first response (``Idempotent-Replayed: true``), with other parameters it is a 400
  ``idempotency_error``;
- every request is recorded (method, path, decoded form parameters, idempotency key) so tests can
  assert destinations, application fees, ``reverse_transfer`` and the keys;
- ``fail_next`` makes the next calls to a path answer a 5xx (what the SDK retries, then reports);
- ``set_intent_status`` plays the customer paying (or failing) in Stripe's Payment Element;
- ``signed_event`` builds a webhook payload and its ``Stripe-Signature`` header exactly as Stripe
  signs them: ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<payload>" keyed with the whsec secret>``.

Fixtures: ``stripe_server`` (one per test) and ``stripe_mode`` (settings switched to
PAYMENTS_PROVIDER=stripe against it). Registered for the suite in tests/conftest.py.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "stripe" / "fixtures3.json"
SECRET_KEY = "sk_test_local_server_4242"
WEBHOOK_SECRET = "whsec_local_server_test_secret"


def _load_samples() -> dict[str, Any]:
    resources: dict[str, Any] = json.loads(FIXTURES.read_text())["resources"]
    return resources


SAMPLES = _load_samples()


def sample(resource: str) -> dict[str, Any]:
    """A fresh copy of Stripe's published sample object of ``resource``."""
    return copy.deepcopy(SAMPLES[resource])


def decode_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding (``a[b][c]=v``, ``list[0]=v``) back into nested dicts of strings."""
    result: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", raw_key)
        target = result
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return result


def _bool(value: Any) -> bool:
    return str(value).lower() == "true"


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, Any]
    params: dict[str, Any]
    idempotency_key: str | None
    stripe_version: str | None


class StripeApiError(Exception):
    def __init__(self, status: int, error_type: str, message: str, *, code: str = "", param: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": error_type, "message": message, "code": code or None, "param": param or None}}


@dataclass
class _Failure:
    method: str
    path_prefix: str
    status: int
    remaining: int


@dataclass
class StripeServer:
    url: str = ""
    secret_key: str = SECRET_KEY
    webhook_secret: str = WEBHOOK_SECRET
    # The status refunds are created with ("pending" plays a slow payment method).
    refund_status: str = "succeeded"
    requests: list[RecordedRequest] = field(default_factory=list)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    _idempotent: dict[str, tuple[dict[str, Any], int, bytes]] = field(default_factory=dict)
    _failures: list[_Failure] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # --- Test controls ----------------------------------------------------------------------------

    def calls(self, method: str, path_pattern: str) -> list[RecordedRequest]:
        """Recorded requests whose method matches and whose path matches the regex (full match)."""
        with self._lock:
            return [r for r in self.requests if r.method == method and re.fullmatch(path_pattern, r.path)]

    def fail_next(self, method: str, path_prefix: str, *, status: int = 500, times: int = 1) -> None:
        """The next ``times`` calls to ``path_prefix`` answer ``status`` (before doing anything)."""
        with self._lock:
            self._failures.append(_Failure(method, path_prefix, status, times))

    def set_intent_status(self, intent_id: str, status: str, *, failure_message: str = "") -> dict[str, Any]:
        """Play the customer: ``succeeded`` charges the card, ``requires_payment_method`` declines it."""
        with self._lock:
            intent = self.objects[intent_id]
            intent["status"] = status
            if status == "succeeded":
                intent["amount_received"] = intent["amount"]
                intent["latest_charge"] = intent["latest_charge"] or f"ch_{secrets.token_hex(12)}"
                intent["last_payment_error"] = None
            elif failure_message:
                intent["last_payment_error"] = {
                    "type": "card_error",
                    "code": "card_declined",
                    "message": failure_message,
                }
            return copy.deepcopy(intent)

    def set_account(self, account_id: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            self.objects[account_id].update(fields)
            return copy.deepcopy(self.objects[account_id])

    def event(
        self, event_type: str, obj: dict[str, Any], *, created: int | None = None, event_id: str | None = None
    ) -> dict[str, Any]:
        """An event shaped like Stripe's sample ``event`` object carrying ``obj``."""
        from stripe._api_version import _ApiVersion

        event = sample("event")
        event.update(
            {
                "id": event_id or f"evt_{secrets.token_hex(12)}",
                "api_version": _ApiVersion.CURRENT,
                "created": int(time.time()) if created is None else created,
                "data": {"object": copy.deepcopy(obj)},
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": f"req_{secrets.token_hex(7)}", "idempotency_key": None},
                "type": event_type,
            }
        )
        return event

    def sign(self, payload: bytes, *, timestamp: int | None = None, secret: str | None = None) -> str:
        """The ``Stripe-Signature`` header Stripe would send with ``payload``."""
        stamp = int(time.time()) if timestamp is None else timestamp
        signed = f"{stamp}.".encode() + payload
        digest = hmac.new((secret or self.webhook_secret).encode(), signed, hashlib.sha256).hexdigest()
        return f"t={stamp},v1={digest}"

    def signed_event(
        self, event_type: str, obj: dict[str, Any], *, timestamp: int | None = None, event_id: str | None = None
    ) -> tuple[bytes, str, dict[str, Any]]:
        """(payload, Stripe-Signature header, the event) for posting to the webhook endpoint."""
        event = self.event(event_type, obj, event_id=event_id, created=timestamp)
        payload = json.dumps(event).encode()
        return payload, self.sign(payload, timestamp=timestamp), event

    # --- The API ----------------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        split = urlsplit(raw_path)
        path, query = split.path, decode_form(split.query)
        params = decode_form(body) if method == "POST" else {}
        key = headers.get("idempotency-key")
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, params, key, headers.get("stripe-version")))
            for failure in self._failures:
                if failure.remaining > 0 and failure.method == method and path.startswith(failure.path_prefix):
                    failure.remaining -= 1
                    error = StripeApiError(
                        failure.status, "api_error", "An error occurred with our connection to Stripe."
                    )
                    return failure.status, error.body, {}
            if headers.get("authorization") != f"Bearer {self.secret_key}":
                error = StripeApiError(401, "invalid_request_error", "Invalid API Key provided.")
                return 401, error.body, {}
            if method == "POST" and key:
                replay = self._idempotent.get(key)
                if replay is not None:
                    first_params, status, stored = replay
                    if first_params != {"path": path, **params}:
                        error = StripeApiError(
                            400,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same parameters they were "
                            "first used with.",
                        )
                        return 400, error.body, {}
                    return status, json.loads(stored), {"Idempotent-Replayed": "true"}
            try:
                status, response = 200, self._route(method, path, query, params)
            except StripeApiError as error:
                status, response = error.status, error.body
            if method == "POST" and key:
                self._idempotent[key] = ({"path": path, **params}, status, json.dumps(response).encode())
            return status, response, {}

    def _route(self, method: str, path: str, query: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        routes: list[tuple[str, str, Any]] = [
            ("POST", r"/v1/accounts", self._create_account),
            ("GET", r"/v1/accounts/(acct_\w+)", self._retrieve),
            ("POST", r"/v1/account_links", self._create_account_link),
            ("POST", r"/v1/payment_intents", self._create_intent),
            ("GET", r"/v1/payment_intents", self._list_intents),
            ("GET", r"/v1/payment_intents/(pi_\w+)", self._retrieve),
            ("POST", r"/v1/payment_intents/(pi_\w+)/cancel", self._cancel_intent),
            ("POST", r"/v1/refunds", self._create_refund),
            ("GET", r"/v1/refunds/(re_\w+)", self._retrieve),
        ]
        for route_method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                return handler(*match.groups(), query=query, params=params)  # type: ignore[no-any-return]
        raise StripeApiError(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    def _retrieve(self, object_id: str, **_: Any) -> dict[str, Any]:
        found = self.objects.get(object_id)
        if found is None:
            raise StripeApiError(
                404, "invalid_request_error", f"No such object: '{object_id}'", code="resource_missing"
            )
        return copy.deepcopy(found)

    def _require(self, params: dict[str, Any], *names: str) -> None:
        for name in names:
            if name not in params or params[name] == "":
                raise StripeApiError(
                    400,
                    "invalid_request_error",
                    f"Missing required param: {name}.",
                    code="parameter_missing",
                    param=name,
                )

    def _create_account(self, *, params: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._require(params, "type")
        account = sample("account")
        account_id = f"acct_{secrets.token_hex(8)}"
        account.update(
            {
                "id": account_id,
                "type": params["type"],
                "email": params.get("email"),
                "country": params.get("country", "US"),
                "created": int(time.time()),
                "charges_enabled": False,
                "payouts_enabled": False,
                "details_submitted": False,
                "metadata": params.get("metadata", {}),
                "capabilities": dict.fromkeys(params.get("capabilities", {}), "inactive"),
            }
        )
        account["external_accounts"]["url"] = f"/v1/accounts/{account_id}/external_accounts"
        self.objects[account_id] = account
        return copy.deepcopy(account)

    def _create_account_link(self, *, params: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._require(params, "account", "type", "refresh_url", "return_url")
        self._retrieve(params["account"])
        link = sample("account_link")
        now = int(time.time())
        link.update(
            {
                "created": now,
                "expires_at": now + 300,
                "url": f"{self.url}/setup/e/{params['account']}/{secrets.token_hex(6)}",
            }
        )
        return link

    def _create_intent(self, *, params: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._require(params, "amount", "currency")
        destination = (params.get("transfer_data") or {}).get("destination")
        if destination and destination not in self.objects:
            raise StripeApiError(
                400, "invalid_request_error", f"No such destination: '{destination}'", code="resource_missing"
            )
        amount = int(params["amount"])
        fee = int(params["application_fee_amount"]) if "application_fee_amount" in params else None
        if fee is not None and fee > amount:
            raise StripeApiError(
                400, "invalid_request_error", "Application fee exceeds the amount.", param="application_fee_amount"
            )
        intent = sample("payment_intent")
        intent_id = f"pi_{secrets.token_hex(12)}"
        intent.update(
            {
                "id": intent_id,
                "amount": amount,
                "amount_received": 0,
                "application_fee_amount": fee,
                "automatic_payment_methods": {
                    "enabled": _bool((params.get("automatic_payment_methods") or {}).get("enabled"))
                },
                "canceled_at": None,
                "cancellation_reason": None,
                "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
                "created": int(time.time()),
                "currency": params["currency"],
                "description": params.get("description"),
                "last_payment_error": None,
                "latest_charge": None,
                "metadata": params.get("metadata", {}),
                "next_action": None,
                "status": "requires_payment_method",
                "transfer_data": {"destination": destination} if destination else None,
            }
        )
        self.objects[intent_id] = intent
        return copy.deepcopy(intent)

    def _list_intents(self, *, query: dict[str, Any], **_: Any) -> dict[str, Any]:
        created = query.get("created") or {}
        gte = int(created.get("gte", 0)) if isinstance(created, dict) else 0
        limit = int(query.get("limit", 10))
        intents = sorted(
            (obj for obj in self.objects.values() if obj["object"] == "payment_intent" and obj["created"] >= gte),
            key=lambda obj: (obj["created"], obj["id"]),
            reverse=True,
        )
        after = query.get("starting_after")
        if after:
            ids = [obj["id"] for obj in intents]
            intents = intents[ids.index(after) + 1 :] if after in ids else []
        page = intents[:limit]
        return {
            "object": "list",
            "data": copy.deepcopy(page),
            "has_more": len(intents) > limit,
            "url": "/v1/payment_intents",
        }

    def _cancel_intent(self, intent_id: str, *, params: dict[str, Any], **_: Any) -> dict[str, Any]:
        intent = self.objects.get(intent_id)
        if intent is None:
            raise StripeApiError(
                404, "invalid_request_error", f"No such payment_intent: '{intent_id}'", code="resource_missing"
            )
        if intent["status"] in ("succeeded", "canceled"):
            raise StripeApiError(
                400,
                "invalid_request_error",
                f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}.",
                code="payment_intent_unexpected_state",
            )
        intent.update(
            {
                "status": "canceled",
                "canceled_at": int(time.time()),
                "cancellation_reason": params.get("cancellation_reason"),
            }
        )
        return copy.deepcopy(intent)

    def _create_refund(self, *, params: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._require(params, "payment_intent")
        intent = self.objects.get(params["payment_intent"])
        if intent is None:
            raise StripeApiError(404, "invalid_request_error", "No such payment_intent.", code="resource_missing")
        if intent["status"] != "succeeded":
            raise StripeApiError(
                400,
                "invalid_request_error",
                "This PaymentIntent does not have a successful charge to refund.",
                code="charge_not_refundable",
            )
        refunded = sum(
            obj["amount"]
            for obj in self.objects.values()
            if obj["object"] == "refund" and obj["payment_intent"] == intent["id"] and obj["status"] != "failed"
        )
        amount = int(params.get("amount", intent["amount"] - refunded))
        if amount + refunded > intent["amount"]:
            raise StripeApiError(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({intent['amount'] - refunded})",
                code="amount_too_large",
            )
        refund = sample("refund")
        refund_id = f"re_{secrets.token_hex(12)}"
        refund.update(
            {
                "id": refund_id,
                "amount": amount,
                "charge": intent["latest_charge"],
                "created": int(time.time()),
                "currency": intent["currency"],
                "metadata": params.get("metadata", {}),
                "payment_intent": intent["id"],
                "status": self.refund_status,
                # What the tests assert about destination charges (not part of Stripe's refund object).
                "transfer_reversal": f"trr_{secrets.token_hex(8)}" if _bool(params.get("reverse_transfer")) else None,
            }
        )
        self.objects[refund_id] = refund
        return copy.deepcopy(refund)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, response, extra = self.server.stripe.handle(method, self.path, headers, body)
        payload = json.dumps(response).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Request-Id", f"req_{secrets.token_hex(7)}")
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stripe: StripeServer


def run_stripe_server() -> tuple[StripeServer, _Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    stripe = StripeServer(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.stripe = stripe
    threading.Thread(target=httpd.serve_forever, name="stripe-server", daemon=True).start()
    return stripe, httpd


@pytest.fixture
def stripe_server() -> Iterator[StripeServer]:
    stripe, httpd = run_stripe_server()
    try:
        yield stripe
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def stripe_mode(settings: Any, stripe_server: StripeServer) -> StripeServer:
    """PAYMENTS_PROVIDER=stripe, the SDK pointed at the local server, webhooks signed with its secret."""
    settings.PAYMENTS_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = stripe_server.secret_key
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_local_server"
    settings.STRIPE_WEBHOOK_SECRET = stripe_server.webhook_secret
    settings.STRIPE_API_BASE = stripe_server.url
    return stripe_server
