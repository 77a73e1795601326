#!/usr/bin/env python3
"""A fake Chargebee (API v2, Product Catalog 2.0) on 127.0.0.1 for the tests (Python standard library only).

What it answers, its controls and its assumptions: README.md beside it. Run:

    python3 Tests/Fakes/chargebee/fake_chargebee.py --port 0 --api-key test_KEY

The first stdout line is ``listening 127.0.0.1:PORT``; the API is under ``http://127.0.0.1:PORT/api/v2``.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import re
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # Tests/Fakes
from common.loopback import Fake, Reply, run  # noqa: E402

DEFAULT_API_KEY = "test_fake_chargebee_key"
DEFAULT_SITE = "acme-test"
BASE = "/api/v2"
IDEMPOTENCY_HEADER = "chargebee-idempotency-key"
REPLAYED_HEADER = "chargebee-idempotency-replayed"
IDEMPOTENCY_WINDOW = 30 * 60  # seconds (apidocs: 30 minutes)
ZERO_DECIMAL = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
                "XAF", "XOF", "XPF"}
NOT_ENABLED = "This API operation is not enabled for this site"
RATE_MESSAGE = ("Sorry, access has been blocked temporarily due to request count exceeding acceptable limits. "
                "Please try after some time.")

# -- list filters: attribute -> type; the operators per type (chargebee-python filters.py) -------------------
OPS = {"string": {"is", "is_not", "starts_with", "in", "not_in", "is_present"},
       "enum": {"is", "is_not", "in", "not_in", "is_present"},
       "number": {"is", "is_not", "lt", "lte", "gt", "gte", "between", "is_present"},
       "timestamp": {"after", "before", "on", "between", "is_present"},
       "boolean": {"is", "is_present"}}
S, E, N, T, B = "string", "enum", "number", "timestamp", "boolean"
LISTS = {
    "customers": {"filters": {"id": S, "first_name": S, "last_name": S, "email": S, "company": S, "phone": S,
                              "auto_collection": E, "taxability": E, "created_at": T, "updated_at": T,
                              "offline_payment_method": E, "auto_close_invoices": B, "channel": E},
                  "sort": ("created_at", "updated_at"), "include_deleted": True},
    "subscriptions": {"filters": {"id": S, "customer_id": S, "item_id": S, "item_price_id": S, "status": E,
                                  "cancel_reason": E, "remaining_billing_cycles": N, "created_at": T,
                                  "activated_at": T, "next_billing_at": T, "cancelled_at": T, "updated_at": T,
                                  "has_scheduled_changes": B, "channel": E},
                      "sort": ("created_at", "updated_at"), "include_deleted": True},
    "invoices": {"filters": {"id": S, "subscription_id": S, "customer_id": S, "recurring": B, "status": E,
                             "price_type": E, "date": T, "paid_at": T, "total": N, "amount_paid": N,
                             "amount_adjusted": N, "credits_applied": N, "amount_due": N, "dunning_status": E,
                             "updated_at": T, "voided_at": T, "channel": E},
                 "sort": ("date", "updated_at"), "include_deleted": True},
    "credit_notes": {"filters": {"id": S, "customer_id": S, "subscription_id": S, "reference_invoice_id": S,
                                 "type": E, "reason_code": E, "create_reason_code": S, "status": E, "date": T,
                                 "total": N, "price_type": E, "amount_allocated": N, "amount_refunded": N,
                                 "amount_available": N, "voided_at": T, "updated_at": T, "channel": E},
                     "sort": ("date",), "include_deleted": True},
    "transactions": {"filters": {"id": S, "customer_id": S, "subscription_id": S, "payment_source_id": S,
                                 "payment_method": E, "gateway": E, "gateway_account_id": S, "id_at_gateway": S,
                                 "reference_number": S, "type": E, "date": T, "amount": N, "amount_capturable": N,
                                 "status": E, "updated_at": T},
                     "sort": ("date", "updated_at"), "include_deleted": True},
    "events": {"filters": {"id": S, "webhook_status": E, "event_type": E, "source": E, "occurred_at": T},
               "sort": ("occurred_at",), "include_deleted": False, "extra": ("start_time", "end_time")},
    "items": {"filters": {"id": S, "item_family_id": S, "type": E, "name": S, "item_applicability": E,
                          "status": E, "is_giftable": B, "updated_at": T, "enabled_for_checkout": B,
                          "enabled_in_portal": B, "metered": B, "usage_calculation": E, "channel": E},
              "sort": ("name", "id", "updated_at"), "include_deleted": False},
    "item_prices": {"filters": {"id": S, "name": S, "pricing_model": E, "item_id": S, "item_family_id": S,
                                "item_type": E, "currency_code": S, "trial_period": N, "trial_period_unit": E,
                                "status": E, "updated_at": T, "period_unit": E, "period": N, "channel": E},
                    "sort": ("name", "id", "updated_at"), "include_deleted": False},
}
RESOURCE_KEY = {"customers": "customer", "subscriptions": "subscription", "invoices": "invoice",
                "credit_notes": "credit_note", "transactions": "transaction", "events": "event", "items": "item",
                "item_prices": "item_price"}

CUSTOMER_FIELDS = {"id", "first_name", "last_name", "email", "phone", "company", "vat_number", "auto_collection",
                   "net_term_days", "taxability", "preferred_currency_code", "locale", "meta_data",
                   "allow_direct_debit", "billing_address", "card"}
CUSTOMER_UPDATE_FIELDS = CUSTOMER_FIELDS - {"id", "vat_number", "billing_address", "card"}
ADDRESS_FIELDS = {"first_name", "last_name", "email", "company", "phone", "line1", "line2", "line3", "city",
                  "state_code", "state", "zip", "country", "validation_status"}
CARD_FIELDS = {"number", "expiry_month", "expiry_year", "cvv", "first_name", "last_name", "gateway_account_id"}
SUBSCRIPTION_FIELDS = {"id", "subscription_items", "auto_collection", "po_number", "meta_data", "start_date",
                       "invoice_immediately", "billing_cycles"}
SUB_ITEM_FIELDS = {"item_price_id", "quantity", "unit_price", "quantity_in_decimal", "unit_price_in_decimal"}


class ChargebeeError(ValueError):
    def __init__(self, status, code, message, type_="invalid_request", param=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.type, self.param = status, code, message, type_, param
        self.headers = headers or {}


def bad_param(param, message=None):
    return ChargebeeError(400, "param_wrong_value", message or f"{param} : invalid value", param=param)


def not_found(param, what, ident):
    return ChargebeeError(404, "resource_not_found", f"Sorry, we couldn't find that resource ({what} {ident})",
                          param=param)


def error_body(status, code, message, type_=None, param=None):
    body = {"message": message}
    if type_:
        body["type"] = type_
    body["api_error_code"] = code
    if param:
        body["param"] = param
    body.update({"error_code": code, "error_msg": message, "http_status_code": status})
    return body


# -- form bodies with bracket keys -----------------------------------------------------------------------------

KEY_RE = re.compile(r"^([A-Za-z0-9_]+)((?:\[[A-Za-z0-9_]*\])*)$")


def parse_form(text: str) -> dict:
    """``a=1&b[c]=2&d[e][0]=3`` -> {"a": "1", "b": {"c": "2"}, "d": {"e": {"0": "3"}}}; a key twice is refused."""
    out: dict = {}
    for key, value in urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=False):
        m = KEY_RE.match(key)
        if not m:
            raise bad_param(key, f"{key} : malformed parameter name")
        parts = [m.group(1)] + re.findall(r"\[([A-Za-z0-9_]*)\]", m.group(2))
        node = out
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise bad_param(key, f"{key} : conflicts with another parameter")
            node = nxt
        if parts[-1] in node:
            raise bad_param(key, f"{key} : given more than once")
        node[parts[-1]] = value
    return out


def rows(params: dict, name: str, allowed: set) -> list:
    """``name[field][i]`` columns into a list of rows, in index order."""
    columns = params.get(name)
    if columns is None:
        return []
    if not isinstance(columns, dict):
        raise bad_param(name)
    by_index: dict = {}
    for field, values in columns.items():
        if field not in allowed:
            raise bad_param(f"{name}[{field}]", f"{name}[{field}] : unknown parameter")
        if not isinstance(values, dict) or not all(k.isdigit() for k in values):
            raise bad_param(f"{name}[{field}]", f"{name}[{field}] : expected indexed values {name}[{field}][0]")
        for index, value in values.items():
            by_index.setdefault(int(index), {})[field] = value
    return [by_index[i] for i in sorted(by_index)]


def check_fields(params: dict, allowed: set, prefix=""):
    for key, value in params.items():
        if key not in allowed and not key.startswith("cf_"):
            name = f"{prefix}[{key}]" if prefix else key
            raise ChargebeeError(400, "param_wrong_value", f"{name} : unknown parameter", param=name)


def as_int(value, param, minimum=None, maximum=None):
    if isinstance(value, dict) or not re.fullmatch(r"-?\d+", str(value).strip()):
        raise bad_param(param, f"{param} : invalid integer value {value!r}")
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise bad_param(param, f"{param} : {number} is out of range")
    return number


def as_bool(value, param):
    if value not in ("true", "false"):
        raise bad_param(param, f"{param} : invalid boolean value {value!r}")
    return value == "true"


def parse_array(value, param) -> list:
    """``["a","b"]`` (JSON, as the reference says) or ``['a', 'b']`` (what chargebee-python 3.x sends)."""
    text = str(value).strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise bad_param(param, f"{param} : expected a list like [a,b]")
    inner = text[1:-1].strip()
    if not inner:
        return []
    return [part.strip().strip("'\"") for part in inner.split(",")]


def to_decimal(amount, currency):
    if amount is None:
        return None
    if currency in ZERO_DECIMAL:
        return str(int(amount))
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) // 100}.{abs(amount) % 100:02d}"


# ---------------------------------------------------------------------------------------------------------------


class ChargebeeFake(Fake):
    name = "fake-chargebee"
    server_header = "ChargeBee"
    http_methods = ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH")

    def __init__(self, api_key=DEFAULT_API_KEY, site=DEFAULT_SITE, product_catalog="2.0", multi_decimal=False,
                 rate_limit=150, tax_rate=0.0, fee_percent=None):
        super().__init__()
        self.api_key, self.site_id = api_key, site
        self.defaults = {"product_catalog": product_catalog, "multi_decimal": multi_decimal,
                         "rate_limit": rate_limit, "tax_rate": tax_rate, "fee_percent": fee_percent}
        self.lock = threading.RLock()
        self.reset_state()

    # -- state ---------------------------------------------------------------------------------------------

    def reset_state(self):
        with self.lock:
            self.site = dict(self.defaults)
            self.store = {name: {} for name in LISTS}  # resource -> id -> record (insertion order = creation)
            self.seq = 0
            self.counters: dict = {}
            self.last_version = 0
            self.idempotency: dict = {}
            self.window = (None, 0)
            self.webhook_cursor = 0
            self.seed_catalog()

    def reset(self):
        super().reset()
        self.reset_state()

    def next_id(self, kind, prefix):
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return f"{prefix}{self.counters[kind]}"

    def stamp(self, record, created=False, at=None):
        now = self.clock.now() if at is None else at
        ms = int(now * 1000) if at is not None else int(self.clock.time() * 1000)
        self.last_version = max(self.last_version + 1, ms)
        record["resource_version"] = self.last_version
        record["updated_at"] = now
        if created:
            self.seq += 1
            record["_seq"] = self.seq
            record.setdefault("created_at", now)

    def put(self, resource, record, at=None):
        self.stamp(record, created=True, at=at)
        self.store[resource][record["id"]] = record
        return record

    def touch(self, record, at=None):
        self.stamp(record, at=at)

    def public(self, record):
        out = {k: copy.deepcopy(v) for k, v in record.items() if not k.startswith("_")}
        return out

    def event(self, event_type, content: dict, at=None, source="api"):
        now = self.clock.now() if at is None else at
        eid = "ev_" + hashlib.sha1(f"{self.site_id}:{self.seq}:{event_type}".encode()).hexdigest()[:8] \
            + f"{len(self.store['events']) + 1:08d}"
        record = {"id": eid, "occurred_at": now, "source": source, "object": "event", "api_version": "v2",
                  "event_type": event_type, "webhook_status": "not_configured", "webhooks": [],
                  "content": {key: self.public(value) for key, value in content.items() if value is not None}}
        if source == "api":
            record["user"] = "full_access_api_key"
        self.seq += 1
        record["_seq"] = self.seq
        self.store["events"][eid] = record
        return record

    def seed_catalog(self):
        at = self.clock.now()
        self.put_item("pro", "Pro", "plan", at)
        self.put_item("seats", "Extra seats", "addon", at)
        self.put_item("setup", "Setup fee", "charge", at)
        for ident, item, currency, price, unit in (
                ("pro-USD-monthly", "pro", "USD", 1500, "month"), ("pro-EUR-monthly", "pro", "EUR", 1400, "month"),
                ("pro-JPY-monthly", "pro", "JPY", 1800, "month"), ("pro-USD-yearly", "pro", "USD", 15000, "year"),
                ("seats-USD-monthly", "seats", "USD", 500, "month"), ("seats-EUR-monthly", "seats", "EUR", 450, "month"),
                ("setup-USD", "setup", "USD", 9900, None)):
            self.put_item_price(ident, item, currency, price, unit, at)

    def put_item(self, ident, name, type_, at=None, family="saas"):
        record = {"id": ident, "name": name, "external_name": name, "description": None, "status": "active",
                  "type": type_, "item_family_id": family, "unit": None, "metered": False,
                  "is_shippable": False, "is_giftable": False, "enabled_for_checkout": True,
                  "enabled_in_portal": True, "item_applicability": "all", "channel": "web", "object": "item"}
        record = {k: v for k, v in record.items() if v is not None}
        return self.put("items", record, at)

    def put_item_price(self, ident, item_id, currency, price, period_unit, at=None, pricing_model="per_unit"):
        item = self.store["items"].get(item_id)
        if item is None:
            raise not_found("item_id", "item", item_id)
        record = {"id": ident, "name": ident, "item_id": item_id, "item_family_id": item["item_family_id"],
                  "item_type": item["type"], "status": "active", "pricing_model": pricing_model, "price": price,
                  "currency_code": currency, "is_taxable": True, "free_quantity": 0, "channel": "web",
                  "object": "item_price"}
        if period_unit:
            record.update({"period": 1, "period_unit": period_unit})
        return self.put("item_prices", record, at)

    # -- site flags in answers -----------------------------------------------------------------------------

    def render(self, resource, record):
        out = self.public(record)
        if not self.site["multi_decimal"]:
            return out
        currency = out.get("currency_code")
        if resource == "item_prices" and "price" in out:
            out["price_in_decimal"] = to_decimal(out["price"], currency)
        for line in out.get("line_items", []) if resource in ("invoices", "credit_notes") else []:
            line["unit_amount_in_decimal"] = to_decimal(line["unit_amount"], currency)
            line["quantity_in_decimal"] = f"{line['quantity']}.0000"
            line["amount_in_decimal"] = to_decimal(line["amount"], currency)
        for item in out.get("subscription_items", []) if resource == "subscriptions" else []:
            item["unit_price_in_decimal"] = to_decimal(item["unit_price"], currency)
            item["quantity_in_decimal"] = f"{item['quantity']}.0000"
            item["amount_in_decimal"] = to_decimal(item["amount"], currency)
        return out

    # -- the request path ----------------------------------------------------------------------------------

    def error_reply(self, status, message, headers):
        code = {401: "api_authentication_failed", 404: "resource_not_found", 429: "api_request_limit_exceeded",
                503: "site_not_ready"}.get(status, "internal_error")
        type_ = "operation_failed" if status == 429 or status >= 500 else "invalid_request"
        return self.json_reply(status, error_body(status, code, message, type_), headers)

    def cb_error(self, e: ChargebeeError) -> Reply:
        return self.json_reply(e.status, error_body(e.status, e.code, e.message, e.type, e.param), e.headers)

    def handle(self, request):
        try:
            self.authenticate(request)
            self.rate_limit()
            if not request.path.startswith(BASE + "/"):
                raise ChargebeeError(404, "resource_not_found", f"no such API path {request.path}")
            if request.method == "POST":
                return self.idempotent(request)
            return self.route(request)
        except ChargebeeError as e:
            return self.cb_error(e)

    def authenticate(self, request):
        header = request.headers.get("Authorization") or ""
        ok = False
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
                ok = user == self.api_key and password == ""
            except ValueError:
                ok = False
        if not ok:
            message = ("Sorry, authentication failed. Invalid api key" if header
                       else "Sorry, authentication failed. You must provide the API key (HTTP Basic, password empty)")
            raise ChargebeeError(401, "api_authentication_failed", message, headers={})

    def rate_limit(self):
        limit = self.site["rate_limit"]
        if not limit:
            return
        now = self.clock.time()
        minute = int(now // 60)
        with self.lock:
            current, count = self.window
            count = count + 1 if current == minute else 1
            self.window = (minute, count)
        if count > limit:
            retry = max(1, int((minute + 1) * 60 - now + 0.999))
            raise ChargebeeError(429, "api_request_limit_exceeded", RATE_MESSAGE, "operation_failed",
                                 headers={"Retry-After": str(retry)})

    def idempotent(self, request):
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            return self.route(request)
        if not key or len(key) > 100:
            raise bad_param(IDEMPOTENCY_HEADER, f"{IDEMPOTENCY_HEADER} : must be 1-100 characters")
        fingerprint = hashlib.sha256(request.path.encode() + b"\0" + request.body).hexdigest()
        now = self.clock.time()
        with self.lock:
            kept = self.idempotency.get(key)
            if kept and now - kept["at"] <= IDEMPOTENCY_WINDOW:
                if kept["fingerprint"] != fingerprint:
                    raise ChargebeeError(409, "invalid_request",
                                         f"The idempotency key {key} was already used for a different request")
                request.note += " idempotency=replayed"
                return Reply(kept["status"], kept["body"], "application/json",
                             {REPLAYED_HEADER: "true"})
            reply = self.route(request)
            if reply.status < 500:
                self.idempotency[key] = {"fingerprint": fingerprint, "at": now, "status": reply.status,
                                         "body": reply.body}
            return reply

    ROUTES = [
        ("POST", r"/customers"), ("GET", r"/customers"), ("GET", r"/customers/(?P<id>[^/]+)"),
        ("POST", r"/customers/(?P<id>[^/]+)"), ("POST", r"/customers/(?P<id>[^/]+)/delete"), ("POST", r"/customers/(?P<id>[^/]+)/update_billing_info"),
        ("POST", r"/customers/(?P<id>[^/]+)/subscription_for_items"),
        ("GET", r"/subscriptions"), ("GET", r"/subscriptions/(?P<id>[^/]+)"),
        ("GET", r"/invoices"), ("GET", r"/invoices/(?P<id>[^/]+)"),
        ("POST", r"/invoices/(?P<id>[^/]+)/record_payment"),
        ("POST", r"/credit_notes"), ("GET", r"/credit_notes"), ("GET", r"/credit_notes/(?P<id>[^/]+)"),
        ("GET", r"/transactions"), ("GET", r"/transactions/(?P<id>[^/]+)"),
        ("GET", r"/events"), ("GET", r"/events/(?P<id>[^/]+)"),
        ("GET", r"/items"), ("GET", r"/items/(?P<id>[^/]+)"),
        ("GET", r"/item_prices"), ("GET", r"/item_prices/(?P<id>[^/]+)"),
        ("GET", r"/plans"), ("GET", r"/plans/(?P<id>[^/]+)"), ("GET", r"/addons"), ("GET", r"/addons/(?P<id>[^/]+)"),
    ]

    def route(self, request):
        sub = request.path[len(BASE):]
        if request.method == "POST":
            if request.query:
                raise bad_param("query", "POST parameters go in the form-encoded body, not the query string")
            ctype = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if request.body and ctype != "application/x-www-form-urlencoded":
                raise ChargebeeError(400, "invalid_request",
                                     "Content-Type must be application/x-www-form-urlencoded")
            params = parse_form(request.body.decode("utf-8"))
        else:
            params = parse_form(request.query)
        methods = set()
        for method, pattern in self.ROUTES:
            m = re.fullmatch(pattern, sub)
            if not m:
                continue
            methods.add(method)
            if method != request.method and not (method == "GET" and request.method == "HEAD"):
                continue
            parts = [p for p in sub.split("/") if p]
            resource = parts[0]
            ident = urllib.parse.unquote(m.groupdict().get("id") or "")
            with self.lock:
                return self.dispatch(request.method, resource, ident, parts[2] if len(parts) > 2 else None, params)
        if methods:
            raise ChargebeeError(405, "invalid_request", f"{request.method} is not allowed on {request.path}")
        raise ChargebeeError(404, "resource_not_found", f"no such API path {request.path}")

    def dispatch(self, method, resource, ident, action, params):
        pc1 = self.site["product_catalog"] == "1.0"
        if resource in ("items", "item_prices") and pc1:
            raise ChargebeeError(400, "configuration_incompatible", NOT_ENABLED)
        if resource in ("plans", "addons"):
            if not pc1:
                raise ChargebeeError(400, "configuration_incompatible", NOT_ENABLED)
            if ident:
                raise not_found("id", resource[:-1], ident)
            self.check_list(resource, params, known=False)
            return self.json_reply(200, {"list": []})
        if method == "GET":
            if ident:
                if params:
                    check_fields(params, set())
                return self.retrieve(resource, ident)
            return self.list(resource, params)
        if resource == "customers":
            if action == "subscription_for_items":
                if pc1:
                    raise ChargebeeError(400, "configuration_incompatible", NOT_ENABLED)
                return self.create_subscription(ident, params)
            if action == "delete":
                return self.delete_customer(ident, params)
            if action == "update_billing_info":
                return self.update_billing_info(ident, params)
            if ident:
                return self.update_customer(ident, params)
            return self.create_customer(params)
        if resource == "invoices":
            return self.record_payment(ident, params)
        if resource == "credit_notes":
            return self.create_credit_note(params)
        raise ChargebeeError(404, "resource_not_found", "no such operation")

    # -- reads -----------------------------------------------------------------------------------------------

    def get(self, resource, ident, param="id"):
        record = self.store[resource].get(ident)
        if record is None or (record.get("deleted") and resource == "customers"):
            raise not_found(param, RESOURCE_KEY[resource], ident)
        return record

    def retrieve(self, resource, ident):
        record = self.get(resource, ident)
        return self.json_reply(200, {RESOURCE_KEY[resource]: self.render(resource, record)})

    def check_list(self, resource, params, known=True):
        spec = LISTS.get(resource, {"filters": {}, "sort": (), "include_deleted": False})
        allowed = {"limit", "offset", "sort_by"} | set(spec["filters"]) | set(spec.get("extra", ()))
        if spec["include_deleted"]:
            allowed.add("include_deleted")
        check_fields(params, allowed)
        return spec

    def list(self, resource, params):
        spec = self.check_list(resource, params)
        limit = as_int(params.get("limit", "10"), "limit", 1, 100)
        include_deleted = as_bool(params["include_deleted"], "include_deleted") if "include_deleted" in params else False
        sort_attr, descending = ("occurred_at" if resource == "events" else "created_at"), False
        if resource == "events":
            descending = True  # assumption: newest first, as the events list in the web app
        if "sort_by" in params:
            sort = params["sort_by"]
            if not isinstance(sort, dict) or len(sort) != 1 or next(iter(sort)) not in ("asc", "desc"):
                raise bad_param("sort_by", "sort_by : give exactly one of sort_by[asc] or sort_by[desc]")
            direction, sort_attr = next(iter(sort.items()))
            if sort_attr not in spec["sort"]:
                raise bad_param(f"sort_by[{direction}]", f"sort_by[{direction}] : {sort_attr} cannot be sorted on "
                                f"(allowed: {', '.join(spec['sort'])})")
            descending = direction == "desc"
        predicates = []
        for attr, kind in spec["filters"].items():
            if attr in params:
                predicates.append(self.predicate(attr, kind, params[attr]))
        for attr, op in (("start_time", "gte"), ("end_time", "lte")):
            if attr in params:
                bound = as_int(params[attr], attr)
                predicates.append(lambda r, b=bound, o=op: r.get("occurred_at") is not None and
                                  (r["occurred_at"] >= b if o == "gte" else r["occurred_at"] <= b))
        records = [r for r in self.store[resource].values()
                   if (include_deleted or not r.get("deleted")) and all(p(r) for p in predicates)]

        textual = sort_attr in ("name", "id")

        def key(r):
            value = r.get(sort_attr)
            if textual:
                return (str(value or ""), r["_seq"])
            return (value if value is not None else 0, r["_seq"])

        records.sort(key=key, reverse=descending)
        if "offset" in params:
            try:
                cursor = json.loads(params["offset"])
                cursor = (cursor[0], int(cursor[1]))
                if not textual:
                    cursor = (int(cursor[0]), cursor[1])
            except (ValueError, TypeError, IndexError, KeyError):
                raise bad_param("offset", "offset : invalid value (pass next_offset back verbatim)")
            records = [r for r in records if (key(r) < cursor if descending else key(r) > cursor)]
        page = records[:limit]
        body = {"list": [self.wrap(resource, r) for r in page]}
        if len(records) > limit:
            last = key(page[-1])
            body["next_offset"] = json.dumps([str(last[0]), str(last[1])], separators=(",", ":"))
        return self.json_reply(200, body)

    def wrap(self, resource, record):
        out = {RESOURCE_KEY[resource]: self.render(resource, record)}
        if resource == "customers" and record.get("_card"):
            out["card"] = copy.deepcopy(record["_card"])
        return out

    def predicate(self, attr, kind, ops):
        if not isinstance(ops, dict) or not ops:
            raise bad_param(attr, f"{attr} : filter as {attr}[operator]=value")
        tests = []
        for op, raw in ops.items():
            param = f"{attr}[{op}]"
            if op not in OPS[kind]:
                raise bad_param(param, f"{param} : operator {op} not allowed for a {kind} attribute")
            if isinstance(raw, dict):
                raise bad_param(param)

            def conv(v, param=param):
                if kind in ("number", "timestamp"):
                    return as_int(v, param)
                if kind == "boolean":
                    return as_bool(v, param)
                return v

            if op == "is_present":
                want = as_bool(raw, param)
                tests.append(lambda r, w=want: (r.get(attr) is not None) == w)
            elif op in ("in", "not_in"):
                values = [conv(v) for v in parse_array(raw, param)]
                tests.append(lambda r, vs=values, o=op: (r.get(attr) in vs) == (o == "in"))
            elif op == "between":
                bounds = [conv(v) for v in parse_array(raw, param)]
                if len(bounds) != 2:
                    raise bad_param(param, f"{param} : expected [start, end]")
                tests.append(lambda r, b=bounds: r.get(attr) is not None and b[0] <= r[attr] <= b[1])
            else:
                value = conv(raw)
                fn = {"is": lambda a, b: a == b, "is_not": lambda a, b: a != b,
                      "starts_with": lambda a, b: isinstance(a, str) and a.startswith(b),
                      "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b, "gt": lambda a, b: a > b,
                      "gte": lambda a, b: a >= b, "after": lambda a, b: a > b, "before": lambda a, b: a < b,
                      "on": lambda a, b: b <= a < b + 86400}[op]
                tests.append(lambda r, f=fn, v=value: r.get(attr) is not None and f(r[attr], v))
        return lambda r: all(t(r) for t in tests)

    # -- customers ---------------------------------------------------------------------------------------------

    def customer_values(self, params, record):
        check_fields(params, CUSTOMER_FIELDS)
        for key, value in params.items():
            if key == "billing_address":
                if not isinstance(value, dict):
                    raise bad_param(key)
                check_fields(value, ADDRESS_FIELDS, "billing_address")
                address = dict(record.get("billing_address") or {}, **value)
                address.update({"object": "billing_address", "validation_status": "not_validated"})
                record["billing_address"] = address
            elif key == "card":
                if not isinstance(value, dict):
                    raise bad_param(key)
                check_fields(value, CARD_FIELDS, "card")
                number = value.get("number", "")
                if not re.fullmatch(r"\d{12,19}", number):
                    raise ChargebeeError(400, "param_wrong_value", "card[number] : invalid card number",
                                         param="card[number]")
                record["_card"] = {"status": "valid", "gateway": "chargebee", "gateway_account_id": "gw_fake",
                                   "first_name": value.get("first_name"), "iin": number[:6],
                                   "last4": number[-4:], "card_type": "visa" if number[0] == "4" else "mastercard",
                                   "expiry_month": as_int(value.get("expiry_month", "12"), "card[expiry_month]", 1, 12),
                                   "expiry_year": as_int(value.get("expiry_year", "2030"), "card[expiry_year]"),
                                   "masked_number": "************" + number[-4:], "customer_id": record["id"],
                                   "object": "card", "funding_type": "credit"}
                record["card_status"] = "valid"
                record["primary_payment_source_id"] = "pm_" + record["id"]
                record["payment_method"] = {"object": "payment_method", "type": "card", "reference_id": "tok_fake",
                                            "gateway": "chargebee", "gateway_account_id": "gw_fake",
                                            "status": "valid"}
            elif key == "auto_collection":
                if value not in ("on", "off"):
                    raise bad_param(key, "auto_collection : must be on or off")
                record[key] = value
            elif key == "taxability":
                if value not in ("taxable", "exempt"):
                    raise bad_param(key, "taxability : must be taxable or exempt")
                record[key] = value
            elif key == "net_term_days":
                record[key] = as_int(value, key, 0)
            elif key == "meta_data":
                try:
                    record[key] = json.loads(value)
                except ValueError:
                    raise bad_param(key, "meta_data : must be a JSON object")
            elif key == "email" and value and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
                raise bad_param(key, "email : invalid email")
            elif key == "preferred_currency_code" and not re.fullmatch(r"[A-Z]{3}", value):
                raise bad_param(key)
            elif key != "id":
                record[key] = value
        return record

    def create_customer(self, params, at=None):
        ident = params.get("id") or self.next_id("customer", "cus_fake_")
        if not re.fullmatch(r"[A-Za-z0-9_.@\-]{1,50}", ident):
            raise bad_param("id", "id : must be at most 50 characters of letters, digits, _ - . @")
        if ident in self.store["customers"]:
            raise ChargebeeError(400, "duplicate_entry", f"The value {ident} is already present.", param="id")
        record = {"id": ident, "auto_collection": "on", "net_term_days": 0, "allow_direct_debit": False,
                  "taxability": "taxable", "pii_cleared": "active", "channel": "web", "card_status": "no_card",
                  "promotional_credits": 0, "refundable_credits": 0, "excess_payments": 0, "unbilled_charges": 0,
                  "deleted": False, "object": "customer"}
        self.customer_values(params, record)
        self.put("customers", record, at)
        content = {"customer": record}
        if record.get("_card"):
            content["card"] = record["_card"]
        self.event("customer_created", content, at)
        return self.json_reply(200, self.customer_answer(record))

    def customer_answer(self, record):
        out = {"customer": self.render("customers", record)}
        if record.get("_card"):
            out["card"] = copy.deepcopy(record["_card"])
        return out

    def update_customer(self, ident, params):
        record = self.get("customers", ident)
        if "id" in params:
            raise bad_param("id", "id : cannot be changed")
        if "card" in params:
            raise bad_param("card", "card : use update_billing_info / payment sources (not faked)")
        check_fields(params, CUSTOMER_UPDATE_FIELDS)  # the SDK's UpdateParams: no billing address, no VAT
        self.customer_values(params, record)
        self.touch(record)
        self.event("customer_changed", {"customer": record})
        return self.json_reply(200, self.customer_answer(record))

    def update_billing_info(self, ident, params):
        """``POST /customers/{id}/update_billing_info``: the billing address and the VAT number."""
        record = self.get("customers", ident)
        check_fields(params, {"billing_address", "vat_number"})
        self.customer_values(params, record)
        self.touch(record)
        self.event("customer_changed", {"customer": record})
        return self.json_reply(200, self.customer_answer(record))

    def delete_customer(self, ident, params):
        check_fields(params, {"delete_payment_method"})
        record = self.get("customers", ident)
        record["deleted"] = True
        self.touch(record)
        self.event("customer_deleted", {"customer": record})
        return self.json_reply(200, self.customer_answer(record))

    # -- subscriptions, invoices, payments -----------------------------------------------------------------------

    def create_subscription(self, customer_id, params, at=None, paid=None, discount=0):
        customer = self.get("customers", customer_id, "customer_id")
        check_fields(params, SUBSCRIPTION_FIELDS)
        items = rows(params, "subscription_items", SUB_ITEM_FIELDS)
        if not items:
            raise bad_param("subscription_items[item_price_id][0]", "subscription_items[item_price_id][0] : cannot be blank")
        ident = params.get("id") or self.next_id("subscription", "sub_fake_")
        if ident in self.store["subscriptions"]:
            raise ChargebeeError(400, "duplicate_entry", f"The value {ident} is already present.", param="id")
        auto_collection = params.get("auto_collection", customer["auto_collection"])
        if auto_collection not in ("on", "off"):
            raise bad_param("auto_collection")
        now = self.clock.now() if at is None else at
        sub_items, currency, plan, period_unit = [], None, None, "month"
        for i, row in enumerate(items):
            param = f"subscription_items[item_price_id][{i}]"
            if not row.get("item_price_id"):
                raise bad_param(param, f"{param} : cannot be blank")
            price = self.store["item_prices"].get(row["item_price_id"])
            if price is None:
                raise not_found(param, "item_price", row["item_price_id"])
            if currency and price["currency_code"] != currency:
                raise ChargebeeError(400, "param_wrong_value", "All item prices must be in the same currency",
                                     param=param)
            currency = price["currency_code"]
            if price["item_type"] == "plan":
                if plan:
                    raise ChargebeeError(400, "param_wrong_value", "Only one plan item price is allowed", param=param)
                plan, period_unit = price, price.get("period_unit", "month")
            quantity = as_int(row.get("quantity", "1"), f"subscription_items[quantity][{i}]", 1)
            unit = as_int(row["unit_price"], f"subscription_items[unit_price][{i}]", 0) \
                if "unit_price" in row else price["price"]
            sub_items.append({"item_price_id": price["id"], "item_type": price["item_type"], "quantity": quantity,
                              "unit_price": unit, "amount": unit * quantity, "object": "subscription_item"})
        if plan is None:
            raise ChargebeeError(400, "param_wrong_value", "A plan item price is required",
                                 param="subscription_items[item_price_id][0]")
        preferred = customer.get("preferred_currency_code")
        if preferred and preferred != currency:
            raise ChargebeeError(400, "param_wrong_value",
                                 f"The customer's currency {preferred} differs from the item prices' {currency}")
        term_end = now + (365 if period_unit == "year" else 30) * 86400
        mrr = sum(i["amount"] for i in sub_items if i["item_type"] != "charge")
        sub = {"id": ident, "customer_id": customer_id, "status": "active", "currency_code": currency,
               "billing_period": 1, "billing_period_unit": period_unit, "current_term_start": now,
               "current_term_end": term_end, "next_billing_at": term_end, "started_at": now, "activated_at": now,
               "subscription_items": sub_items, "auto_collection": auto_collection, "has_scheduled_changes": False,
               "channel": "web", "mrr": mrr if period_unit == "month" else mrr // 12, "due_invoices_count": 0,
               "deleted": False, "object": "subscription", "created_at": now}
        self.put("subscriptions", sub, at)
        invoice = self.make_invoice(customer, sub, now, at, discount)
        self.event("subscription_created", {"subscription": sub, "customer": customer, "invoice": invoice}, at)
        self.event("invoice_generated", {"invoice": invoice}, at)
        pay = paid if paid is not None else (auto_collection == "on" and customer.get("_card") is not None)
        if pay and invoice["total"] > 0:
            self.pay(invoice, invoice["total"], "card", at)
        elif invoice["amount_due"] > 0:
            sub["due_invoices_count"], sub["total_dues"] = 1, invoice["amount_due"]
        body = {"subscription": self.render("subscriptions", sub), "customer": self.render("customers", customer),
                "invoice": self.render("invoices", invoice)}
        if customer.get("_card"):
            body["card"] = copy.deepcopy(customer["_card"])
        return self.json_reply(200, body)

    def make_invoice(self, customer, sub, now, at, discount=0):
        currency = sub["currency_code"]
        ident = self.next_id("invoice", "")
        taxable = customer.get("taxability", "taxable") == "taxable" and self.site["tax_rate"] > 0
        rate = self.site["tax_rate"] if taxable else 0
        lines, sub_total, remaining_discount = [], 0, discount
        for n, item in enumerate(sub["subscription_items"]):
            line_discount = min(remaining_discount, item["amount"])
            remaining_discount -= line_discount
            tax = round((item["amount"] - line_discount) * rate / 100)
            lines.append({"id": f"li_{ident}_{n + 1}", "date_from": now, "date_to": sub["current_term_end"],
                          "unit_amount": item["unit_price"], "quantity": item["quantity"], "amount": item["amount"],
                          "pricing_model": "per_unit", "is_taxed": taxable, "tax_amount": tax, "tax_rate": rate,
                          "discount_amount": line_discount, "item_level_discount_amount": 0,
                          "description": item["item_price_id"], "entity_type": f"{item['item_type']}_item_price",
                          "entity_id": item["item_price_id"], "subscription_id": sub["id"],
                          "customer_id": customer["id"], "object": "line_item"})
            sub_total += item["amount"]
        tax_total = sum(line["tax_amount"] for line in lines)
        total = sub_total - discount + tax_total
        invoice = {"id": ident, "customer_id": customer["id"], "subscription_id": sub["id"], "recurring": True,
                   "status": "posted" if sub["auto_collection"] == "off" else "payment_due",
                   "price_type": "tax_exclusive", "date": now, "due_date": now + customer.get("net_term_days", 0) * 86400,
                   "net_term_days": customer.get("net_term_days", 0), "exchange_rate": 1.0, "currency_code": currency,
                   "sub_total": sub_total, "tax": tax_total, "total": total, "amount_paid": 0, "amount_adjusted": 0,
                   "write_off_amount": 0, "credits_applied": 0, "amount_due": total, "first_invoice": True,
                   "has_advance_charges": False, "term_finalized": True, "is_gifted": False,
                   "line_items": lines, "discounts": [], "taxes": [], "line_item_taxes": [],
                   "linked_payments": [], "issued_credit_notes": [], "adjustment_credit_notes": [],
                   "dunning_status": None, "channel": "web", "deleted": False, "object": "invoice"}
        if discount:
            invoice["discounts"] = [{"amount": discount, "description": "Seeded discount",
                                     "entity_type": "document_level_coupon", "entity_id": "SEEDED",
                                     "discount_type": "fixed_amount", "object": "discount"}]
        if tax_total:
            invoice["taxes"] = [{"name": "VAT", "amount": tax_total, "description": f"VAT @ {rate:g}%",
                                 "object": "tax"}]
            invoice["line_item_taxes"] = [{"line_item_id": line["id"], "tax_name": "VAT", "tax_rate": rate,
                                           "tax_amount": line["tax_amount"],
                                           "taxable_amount": line["amount"] - line["discount_amount"],
                                           "tax_juris_type": "country", "tax_juris_name": "Fake",
                                           "tax_juris_code": "FK", "object": "line_item_tax"} for line in lines]
        if total == 0:
            invoice.update({"status": "paid", "paid_at": now})
        if customer.get("billing_address"):
            invoice["billing_address"] = copy.deepcopy(customer["billing_address"])
        invoice = {k: v for k, v in invoice.items() if v is not None}
        return self.put("invoices", invoice, at)

    def pay(self, invoice, amount, payment_method, at=None, reference=None, date=None):
        now = self.clock.now() if at is None else at
        customer = self.store["customers"][invoice["customer_id"]]
        ident = self.next_id("transaction", "txn_fake_")
        txn = {"id": ident, "customer_id": invoice["customer_id"], "subscription_id": invoice.get("subscription_id"),
               "type": "payment", "status": "success", "payment_method": payment_method,
               "gateway": "chargebee" if payment_method == "card" else "not_applicable",
               "gateway_account_id": "gw_fake" if payment_method == "card" else None,
               "id_at_gateway": f"cb_{ident}" if payment_method == "card" else None,
               "reference_number": reference, "date": date or now, "settled_at": (date or now) if payment_method == "card" else None,
               "currency_code": invoice["currency_code"], "amount": amount, "amount_unused": 0,
               "exchange_rate": 1.0, "base_currency_code": invoice["currency_code"],
               "linked_invoices": [{"invoice_id": invoice["id"], "applied_amount": amount, "applied_at": now,
                                    "invoice_date": invoice["date"], "invoice_total": invoice["total"],
                                    "invoice_status": None}],
               "linked_credit_notes": [], "linked_refunds": [], "deleted": False, "object": "transaction"}
        if payment_method == "card" and self.site["fee_percent"] is not None:
            txn["fee_amount"] = round(amount * self.site["fee_percent"] / 100)
        if payment_method == "card" and customer.get("_card"):
            txn["masked_card_number"] = customer["_card"]["masked_number"]
            txn["payment_source_id"] = customer.get("primary_payment_source_id")
        txn = {k: v for k, v in txn.items() if v is not None}
        invoice["amount_paid"] += amount
        invoice["amount_due"] = invoice["total"] - invoice["amount_paid"] - invoice["credits_applied"] \
            - invoice["amount_adjusted"]
        if invoice["amount_due"] <= 0:
            invoice.update({"status": "paid", "paid_at": now, "amount_due": 0})
        txn["linked_invoices"][0]["invoice_status"] = invoice["status"]
        invoice["linked_payments"].append({"txn_id": ident, "applied_amount": amount, "applied_at": now,
                                           "txn_status": "success", "txn_date": txn["date"], "txn_amount": amount})
        self.put("transactions", txn, at)
        self.touch(invoice, at)
        self.event("payment_succeeded", {"transaction": txn, "invoice": invoice, "customer": customer}, at)
        return txn

    def record_payment(self, ident, params):
        invoice = self.get("invoices", ident)
        check_fields(params, {"transaction", "comment"})
        fields = params.get("transaction")
        if not isinstance(fields, dict) or not fields.get("payment_method"):
            raise bad_param("transaction[payment_method]", "transaction[payment_method] : cannot be blank")
        check_fields(fields, {"amount", "payment_method", "reference_number", "id_at_gateway", "status", "date",
                              "error_code", "error_text"}, "transaction")
        if fields["payment_method"] not in ("cash", "check", "bank_transfer", "other", "card", "custom",
                                            "chargeback", "ach_credit", "sepa_credit"):
            raise bad_param("transaction[payment_method]")
        if invoice["status"] in ("paid", "voided"):
            raise ChargebeeError(400, "invalid_state_for_request",
                                 f"The invoice is {invoice['status']}; no payment can be recorded")
        amount = as_int(fields["amount"], "transaction[amount]", 1) if "amount" in fields else invoice["amount_due"]
        if amount > invoice["amount_due"]:
            raise bad_param("transaction[amount]", "transaction[amount] : cannot exceed the amount due")
        date = as_int(fields["date"], "transaction[date]") if "date" in fields else None
        txn = self.pay(invoice, amount, fields["payment_method"], reference=fields.get("reference_number"), date=date)
        return self.json_reply(200, {"invoice": self.render("invoices", invoice),
                                     "transaction": self.render("transactions", txn)})

    # -- credit notes -----------------------------------------------------------------------------------------

    def create_credit_note(self, params, at=None, refund=False):
        check_fields(params, {"reference_invoice_id", "total", "type", "reason_code", "create_reason_code",
                              "date", "customer_notes", "comment"})
        invoice_id = params.get("reference_invoice_id")
        if not invoice_id:
            raise bad_param("reference_invoice_id", "reference_invoice_id : cannot be blank")
        invoice = self.get("invoices", invoice_id, "reference_invoice_id")
        type_ = params.get("type")
        if type_ not in ("adjustment", "refundable", "store"):
            raise bad_param("type", "type : must be adjustment, refundable or store")
        if "reason_code" in params and "create_reason_code" in params:
            raise bad_param("reason_code", "give reason_code or create_reason_code, not both")
        reason = params.get("reason_code")
        if reason is not None and reason not in ("product_unsatisfactory", "service_unsatisfactory",
                                                 "order_change", "order_cancellation", "waiver", "other"):
            raise bad_param("reason_code")
        already = sum(self.store["credit_notes"][c["cn_id"]]["total"] for c in invoice["issued_credit_notes"])
        limit = (invoice["amount_paid"] if type_ == "refundable" else invoice["amount_due"]) - \
            (already if type_ == "refundable" else 0)
        total = as_int(params["total"], "total", 1) if "total" in params else limit
        if total > limit or total <= 0:
            raise ChargebeeError(400, "invalid_request" if total > 0 else "param_wrong_value",
                                 f"total : the credit note cannot exceed {limit}", param="total")
        now = self.clock.now() if at is None else at
        ident = self.next_id("credit_note", "CN-")
        status = {"refundable": "refund_due", "adjustment": "adjusted", "store": "refund_due"}[type_]
        cn = {"id": ident, "customer_id": invoice["customer_id"], "subscription_id": invoice.get("subscription_id"),
              "reference_invoice_id": invoice_id, "type": type_, "reason_code": reason,
              "create_reason_code": params.get("create_reason_code"), "status": status,
              "date": as_int(params["date"], "date") if "date" in params else now, "price_type": "tax_exclusive",
              "currency_code": invoice["currency_code"], "total": total, "amount_allocated": 0,
              "amount_refunded": 0, "amount_available": total, "sub_total": total, "round_off_amount": 0,
              "line_items": [{"id": f"li_{ident}_1", "date_from": now, "date_to": now, "unit_amount": total,
                              "quantity": 1, "amount": total, "pricing_model": "flat_fee", "is_taxed": False,
                              "tax_amount": 0, "discount_amount": 0, "item_level_discount_amount": 0,
                              "description": f"Credit for invoice {invoice_id}", "entity_type": "adhoc",
                              "customer_id": invoice["customer_id"], "object": "line_item"}],
              "discounts": [], "taxes": [], "line_item_taxes": [], "allocations": [], "linked_refunds": [],
              "channel": "web", "deleted": False, "object": "credit_note"}
        cn = {k: v for k, v in cn.items() if v is not None}
        if type_ == "adjustment":
            cn.update({"amount_allocated": total, "amount_available": 0})
            cn["allocations"] = [{"invoice_id": invoice_id, "allocated_amount": total, "allocated_at": now,
                                  "invoice_date": invoice["date"], "invoice_status": invoice["status"]}]
            invoice["amount_adjusted"] += total
            invoice["amount_due"] = max(0, invoice["amount_due"] - total)
            if invoice["amount_due"] == 0 and invoice["status"] != "paid":
                invoice.update({"status": "paid", "paid_at": now})
            invoice["adjustment_credit_notes"].append({"cn_id": ident, "cn_reason_code": reason or "other",
                                                       "cn_date": cn["date"], "cn_total": total,
                                                       "cn_status": "adjusted"})
        else:
            invoice["issued_credit_notes"].append({"cn_id": ident, "cn_reason_code": reason or "other",
                                                   "cn_date": cn["date"], "cn_total": total,
                                                   "cn_status": status})
        self.put("credit_notes", cn, at)
        self.touch(invoice, at)
        self.event("credit_note_created", {"credit_note": cn}, at)
        if refund and type_ == "refundable":
            self.refund(cn, invoice, at)
        return self.json_reply(200, {"credit_note": self.render("credit_notes", cn),
                                     "invoice": self.render("invoices", invoice)})

    def refund(self, cn, invoice, at=None):
        now = self.clock.now() if at is None else at
        payment = self.store["transactions"].get(invoice["linked_payments"][0]["txn_id"]) if invoice["linked_payments"] else None
        ident = self.next_id("transaction", "txn_fake_")
        txn = {"id": ident, "customer_id": cn["customer_id"], "subscription_id": cn.get("subscription_id"),
               "type": "refund", "status": "success", "payment_method": payment["payment_method"] if payment else "other",
               "gateway": payment["gateway"] if payment else "not_applicable", "date": now, "settled_at": now,
               "currency_code": cn["currency_code"], "amount": cn["total"], "amount_unused": 0,
               "exchange_rate": 1.0, "base_currency_code": cn["currency_code"],
               "reference_transaction_id": payment["id"] if payment else None,
               "linked_invoices": [], "linked_refunds": [],
               "linked_credit_notes": [{"cn_id": cn["id"], "applied_amount": cn["total"], "applied_at": now,
                                        "cn_reason_code": cn.get("reason_code", "other"), "cn_date": cn["date"],
                                        "cn_total": cn["total"], "cn_status": "refunded",
                                        "cn_reference_invoice_id": invoice["id"]}],
               "deleted": False, "object": "transaction"}
        txn = {k: v for k, v in txn.items() if v is not None}
        self.put("transactions", txn, at)
        cn.update({"status": "refunded", "amount_refunded": cn["total"], "amount_available": 0, "refunded_at": now})
        cn["linked_refunds"].append({"txn_id": ident, "applied_amount": cn["total"], "applied_at": now,
                                     "txn_status": "success", "txn_date": now, "txn_amount": cn["total"]})
        for issued in invoice["issued_credit_notes"]:
            if issued["cn_id"] == cn["id"]:
                issued["cn_status"] = "refunded"
        if payment:
            payment["linked_refunds"].append({"txn_id": ident, "txn_status": "success", "txn_date": now,
                                              "txn_amount": cn["total"]})
            self.touch(payment, at)
        self.touch(cn, at)
        self.event("payment_refunded", {"transaction": txn, "credit_note": cn, "invoice": invoice}, at)

    # -- controls --------------------------------------------------------------------------------------------

    def control(self, request, name, spec):
        if request.method != "POST" and name in ("site", "seed", "webhooks"):
            if name == "site" and request.method == "GET":
                return self.json_reply(200, self.site)
            return None
        with self.lock:
            if name == "site":
                return self.control_site(spec)
            if name == "seed":
                return self.control_seed(spec)
        if name == "webhooks":
            return self.control_webhooks(spec)
        return None

    def control_site(self, spec):
        if not isinstance(spec, dict) or not set(spec) <= set(self.defaults):
            raise ValueError(f"site takes {sorted(self.defaults)}")
        if "product_catalog" in spec and spec["product_catalog"] not in ("1.0", "2.0"):
            raise ValueError("product_catalog is \"1.0\" or \"2.0\"")
        self.site.update(spec)
        return self.json_reply(200, self.site)

    def control_seed(self, spec):
        """Bulk records at the fake's clock (or spread from ``start_at`` by ``step_seconds``); see README.md."""
        allowed = {"customers", "currency_code", "item_price_id", "invoices", "paid", "credit_notes", "refund",
                   "discount", "start_at", "step_seconds", "items", "item_prices", "card"}
        if not isinstance(spec, dict) or not set(spec) <= allowed:
            raise ValueError(f"seed takes {sorted(allowed)}")
        created = {"items": [], "item_prices": [], "customers": [], "subscriptions": [], "invoices": [],
                   "transactions": [], "credit_notes": []}
        before = {name: set(self.store[name]) for name in created}
        for item in spec.get("items", []):
            record = self.put_item(item["id"], item.get("name", item["id"]), item.get("type", "plan"))
            self.event("item_created", {"item": record})
        for price in spec.get("item_prices", []):
            record = self.put_item_price(price["id"], price["item_id"], price["currency_code"], int(price["price"]),
                                         price.get("period_unit", "month"))
            self.event("item_price_created", {"item_price": record})
        currency = spec.get("currency_code", "USD")
        price_id = spec.get("item_price_id") or {"USD": "pro-USD-monthly", "EUR": "pro-EUR-monthly",
                                                 "JPY": "pro-JPY-monthly"}.get(currency)
        if price_id not in self.store["item_prices"]:
            raise ValueError(f"no item price {price_id!r} (give item_price_id)")
        n_customers = int(spec.get("customers", 0))
        n_invoices = int(spec.get("invoices", 0))
        n_notes = int(spec.get("credit_notes", 0))
        step = spec.get("step_seconds", 0)
        start = spec.get("start_at", self.clock.now())
        if n_invoices and not n_customers:
            n_customers = 1
        clock_at = [start]

        def tick():
            at = clock_at[0]
            clock_at[0] += step
            return int(at)

        customers = []
        for i in range(n_customers):
            params = {"first_name": f"Seed{i + 1}", "last_name": "Customer", "email": f"seed{i + 1}@example.com",
                      "preferred_currency_code": currency}
            if spec.get("card", True):
                params["card"] = {"number": "4111111111111111", "expiry_month": "12", "expiry_year": "2030"}
            reply = self.create_customer(params, at=tick())
            customers.append(json.loads(reply.body)["customer"]["id"])
        for i in range(n_invoices):
            self.create_subscription(customers[i % len(customers)],
                                     {"subscription_items": {"item_price_id": {"0": price_id}}}, at=tick(),
                                     paid=bool(spec.get("paid", True)), discount=int(spec.get("discount", 0)))
        invoice_ids = [i for i in self.store["invoices"] if i not in before["invoices"]]
        for i in range(n_notes):
            if not invoice_ids:
                raise ValueError("credit_notes need invoices (seed invoices first or in the same call)")
            invoice = self.store["invoices"][invoice_ids[i % len(invoice_ids)]]
            paid_invoice = invoice["amount_paid"] > 0
            amount = max(1, (invoice["amount_paid"] if paid_invoice else invoice["amount_due"]) // 2)
            self.create_credit_note({"reference_invoice_id": invoice["id"], "total": str(amount),
                                     "type": "refundable" if paid_invoice else "adjustment",
                                     "reason_code": "order_change"}, at=tick(), refund=bool(spec.get("refund", False)))
        for name in created:
            created[name] = len([i for i in self.store[name] if i not in before[name]])
        return self.json_reply(200, {"created": created, "customer_ids": customers[:1000]})

    def control_webhooks(self, spec):
        if not isinstance(spec, dict) or not {"url"} <= set(spec) <= {"url", "username", "password", "events"}:
            raise ValueError("webhooks takes {\"url\", \"username\", \"password\", \"events\"?: [ids]}")
        url = urllib.parse.urlsplit(spec["url"])
        if url.scheme != "http" or url.hostname != "127.0.0.1":
            raise ValueError("the webhook url must be http://127.0.0.1:PORT/... (loopback only)")
        with self.lock:
            events = list(self.store["events"].values())
            if spec.get("events") is not None:
                wanted = list(spec["events"])
                missing = [e for e in wanted if e not in self.store["events"]]
                if missing:
                    raise ValueError(f"no such events: {missing}")
                chosen = [self.store["events"][e] for e in wanted]
            else:
                chosen = [e for e in events if e["_seq"] > self.webhook_cursor]
                if events:
                    self.webhook_cursor = max(e["_seq"] for e in events)
            payloads = [(e, json.dumps(self.public(e)).encode("utf-8")) for e in chosen]
        headers = {"Content-Type": "application/json", "User-Agent": "ChargeBee"}
        if spec.get("username") is not None or spec.get("password") is not None:
            token = f"{spec.get('username') or ''}:{spec.get('password') or ''}".encode("utf-8")
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
        results = []
        for event, payload in payloads:
            status, body = None, ""
            try:
                req = urllib.request.Request(spec["url"], data=payload, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=10) as resp:
                    status, body = resp.status, resp.read(4096).decode("utf-8", "replace")
            except urllib.error.HTTPError as e:
                status, body = e.code, e.read(4096).decode("utf-8", "replace")
            except OSError as e:
                body = f"{type(e).__name__}: {e}"
            ok = status is not None and 200 <= status < 300
            with self.lock:
                event["webhook_status"] = "succeeded" if ok else "failed"
                event["webhooks"].append({"id": f"whv2_{event['id']}_{len(event['webhooks']) + 1}",
                                          "webhook_status": event["webhook_status"], "object": "webhook"})
                if not ok:
                    event["webhook_failure_reason"] = json.dumps({"status": status})
            results.append({"event_id": event["id"], "event_type": event["event_type"], "status": status,
                            "body": body})
        return self.json_reply(200, {"sent": results})


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake Chargebee (API v2, Product Catalog 2.0) for tests; binds "
                                             "127.0.0.1 only. See README.md.")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 picks a free one (printed first)")
    ap.add_argument("--api-key", default=DEFAULT_API_KEY, help=f"the site's API key (default {DEFAULT_API_KEY})")
    ap.add_argument("--site", default=DEFAULT_SITE, help="the site name (informational)")
    ap.add_argument("--product-catalog", choices=("1.0", "2.0"), default="2.0",
                    help="the site's Product Catalog version (1.0: item endpoints refused)")
    ap.add_argument("--multi-decimal", action="store_true", help="multi-decimal pricing on: *_in_decimal fields")
    ap.add_argument("--rate-limit", type=int, default=150, help="API requests per minute (0: no limit)")
    ap.add_argument("--tax-rate", type=float, default=0.0, help="percent tax on invoices of taxable customers")
    ap.add_argument("--fee-percent", type=float, default=None,
                    help="card payments carry fee_amount = this percent of the amount (default: no fee_amount)")
    args = ap.parse_args(argv)
    fake = ChargebeeFake(args.api_key, args.site, args.product_catalog, args.multi_decimal, args.rate_limit,
                         args.tax_rate, args.fee_percent)
    return run(fake, args.port, f"fake Chargebee (site {args.site}, PC {args.product_catalog}, "
                                f"{args.rate_limit}/min) on {{address}}/api/v2")


if __name__ == "__main__":
    sys.exit(main())
