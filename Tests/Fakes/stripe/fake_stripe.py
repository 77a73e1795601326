#!/usr/bin/env python3
"""A small fake of the Stripe API for what localstripe lacks (stdlib only; binds 127.0.0.1 only).

It answers, form-encoded with brackets like Stripe, authenticated by one ``--api-key`` (Bearer or Basic):

* customers, products, prices, tax rates, invoice items, invoices (draft → finalize → pay / void, lines
  with tax), payment intents, charges, refunds, balance transactions (non-zero fee), events (newest first);
* ``Idempotency-Key`` as Stripe does it (replay, 400 on other parameters, 409 while in flight);
* test controls under ``/__fake__/``: faults, reset, state, webhooks (signed, secret roll, send again,
  stale or forged), calls, invoice (a finalized or paid invoice in one call), clock.

Layout, top to bottom: 1. errors and parameters; 2. state and objects; 3. business rules (one function per
API call); 4. lists and expansion; 5. idempotency, faults, webhooks; 6. the fake (the API and its controls);
7. main. HTTP, the fault queue, the clock, the call log and the request log are the loopback fakes' common
base, ../common/loopback.py. See README.md next to this file. Run ``python3 fake_stripe.py --help``.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import json
import queue
import re
import secrets
import string
import sys
import threading
import time
import urllib.error
import urllib.request
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # Tests/Fakes: the common base
from common.loopback import Clock, Fake, FaultSpecError, run  # noqa: E402

API_VERSION = "2024-06-20"  # what events and the Stripe-Version header report (shapes approximate it)
IDEMPOTENCY_TTL = 24 * 3600
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

# ---------------------------------------------------------------------------------------------
# 1. Errors and parameters
# ---------------------------------------------------------------------------------------------


class StripeError(Exception):
    """An answer in Stripe's error shape: {"error": {"type", "code", "message", "param"}}."""

    def __init__(self, status, message, type="invalid_request_error", code=None, param=None, headers=None):
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type, code, param
        self.headers = headers or {}

    def body(self):
        error = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}


def missing(param):
    return StripeError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)


def no_such(kind, id, param=None, status=404):
    return StripeError(status, f"No such {kind}: '{id}'", code="resource_missing", param=param)


def parse_form(pairs):
    """Stripe's bracket encoding: a[b]=1 → {"a": {"b": "1"}}, a[]=x / a[0]=x → {"a": ["x"]}."""
    root = {}
    for key, value in pairs:
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        if not match:
            raise StripeError(400, f"Invalid parameter name: {key!r}", code="parameter_unknown", param=key)
        parts = [match.group(1)] + re.findall(r"\[([^\[\]]*)\]", match.group(2))
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            fresh = None if last else ([] if parts[i + 1] == "" else {})
            if isinstance(node, list):
                if part != "":
                    raise StripeError(400, f"Invalid array for {key!r}: mix of [] and [name]", param=key)
                node.append(value if last else fresh)
                node = node[-1]
            elif part == "":
                raise StripeError(400, f"Invalid hash for {key!r}: mix of [] and [name]", param=key)
            elif last:
                node[part] = value
            else:
                node = node.setdefault(part, fresh)
                if type(node) is not type(fresh):
                    raise StripeError(400, f"Invalid parameter {key!r}: {parts[0]} is both a value and a hash", param=key)
    return _indexed_to_lists(root)


def _indexed_to_lists(node):
    if isinstance(node, list):
        return [_indexed_to_lists(v) for v in node]
    if isinstance(node, dict):
        node = {k: _indexed_to_lists(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


class Params:
    """The parameters of one call, with the checks Stripe makes; unknown names are refused."""

    def __init__(self, data, allowed):
        self.data = data
        unknown = sorted(set(data) - set(allowed) - {"expand"})
        if unknown:
            raise StripeError(400, f"Received unknown parameter: {unknown[0]}", code="parameter_unknown", param=unknown[0])

    def __contains__(self, name):
        return name in self.data

    def str(self, name, required=False, default=None, choices=None):
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise missing(name)
            return default
        if not isinstance(value, str):
            raise StripeError(400, f"Invalid string: {name} must be a string", code="parameter_invalid_string", param=name)
        if choices and value not in choices:
            raise StripeError(400, f"Invalid {name}: must be one of {', '.join(choices)}", code="parameter_invalid_enum", param=name)
        return value

    def int(self, name, required=False, default=None, minimum=None, maximum=None, param=None):
        raw = self.str(name, required, None)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise StripeError(400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param=param or name) from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = f"at least {minimum}" + (f" and at most {maximum}" if maximum is not None else "")
            raise StripeError(400, f"Invalid {param or name}: must be {bounds}", code="parameter_invalid_integer", param=param or name)
        return value

    def bool(self, name, default=False):
        raw = self.str(name, False, None)
        if raw is None:
            return default
        if raw not in ("true", "false"):
            raise StripeError(400, f"Invalid boolean: {raw}", code="parameter_invalid_boolean", param=name)
        return raw == "true"

    def decimal(self, name, required=False):
        raw = self.str(name, required)
        try:
            return None if raw is None else Decimal(raw)
        except ArithmeticError:
            raise StripeError(400, f"Invalid decimal: {raw}", code="parameter_invalid_decimal", param=name) from None

    def currency(self, required=True, default=None):
        value = self.str("currency", required, default)
        if value is not None and not re.fullmatch(r"[a-zA-Z]{3}", value):
            raise StripeError(400, f"Invalid currency: {value}", code="parameter_invalid_string", param="currency")
        return value and value.lower()

    def hash(self, name):
        value = self.data.get(name, {})
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise StripeError(400, f"Invalid object: {name} must be a hash ({name}[key]=value)", param=name)
        return value

    def list(self, name):
        value = self.data.get(name, [])
        if value == "":
            return []
        if isinstance(value, str):
            raise StripeError(400, f"Invalid array: {name} must be an array ({name}[]=value)", param=name)
        return value


# ---------------------------------------------------------------------------------------------
# 2. State and objects
# ---------------------------------------------------------------------------------------------


class State:
    def __init__(self, fee_percent, fee_fixed, clock=None):
        self.lock = threading.RLock()
        self.clock = clock or Clock()  # the base's (POST /__fake__/clock); reset by the fake's reset
        self.fee_percent, self.fee_fixed = fee_percent, fee_fixed
        self.webhook = None  # {"url", "secrets", "events"}
        self.deliveries = []
        self.reset()

    def reset(self):
        with self.lock:
            self.objects = {}  # id → object; insertion order is creation order
            self.events = []  # oldest first
            self.idempotency = {}  # key → {"fingerprint", "status", "body", "headers", "request_id", "at"}
            self.in_flight = set()
            self.deliveries = []
            self.webhook = None
            self.request = {"id": None, "idempotency_key": None}  # of the call being served

    def new_id(self, prefix):
        return prefix + "_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(24))

    def add(self, obj, event_type=None):
        self.objects[obj["id"]] = obj
        if event_type:
            self.emit(event_type, obj)
        return obj

    def get(self, id, kind, param=None):
        obj = self.objects.get(id) if isinstance(id, str) else None
        if obj is None or obj["object"] != kind:
            raise no_such(kind, id, param, status=400 if param else 404)
        return obj

    def update(self, obj, changes, event_type=None):
        previous = {k: copy.deepcopy(obj.get(k)) for k, v in changes.items() if obj.get(k) != v}
        obj.update(changes)
        if event_type and previous:
            self.emit(event_type, obj, previous)
        return obj

    def emit(self, type, obj, previous=None):
        event = {
            "id": self.new_id("evt"), "object": "event", "api_version": API_VERSION, "created": self.clock.now(),
            "data": {"object": copy.deepcopy(obj)}, "livemode": False,
            "pending_webhooks": 1 if self.webhook and _wanted(self.webhook, type) else 0,
            "request": dict(self.request), "type": type,
        }
        if previous is not None:
            event["data"]["previous_attributes"] = previous
        self.events.append(event)
        self.objects[event["id"]] = event
        if event["pending_webhooks"]:
            DELIVERY.put(event["id"])
        return event

    def fee(self, amount):
        percent = (Decimal(amount) * self.fee_percent / 100).quantize(Decimal(1), ROUND_HALF_UP)
        return int(percent) + self.fee_fixed if amount > 0 else 0


def metadata(params, old=None):
    """Stripe merges metadata on update; an empty value removes a key."""
    merged = dict(old or {})
    for key, value in params.hash("metadata").items():
        if not isinstance(value, str):
            raise StripeError(400, f"Invalid metadata[{key}]: must be a string", param=f"metadata[{key}]")
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def address(params, name="address"):
    given = params.hash(name)
    if not given and name not in params:
        return None
    fields = ("city", "country", "line1", "line2", "postal_code", "state")
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise StripeError(400, f"Received unknown parameter: {name}[{unknown[0]}]", code="parameter_unknown", param=f"{name}[{unknown[0]}]")
    return {f: given.get(f) or None for f in fields}


# ---------------------------------------------------------------------------------------------
# 3. Business rules: one function per API call, called with the state locked
# ---------------------------------------------------------------------------------------------

CUSTOMER_FIELDS = ("name", "email", "phone", "description", "address", "metadata")


def create_customer(s, p, _):
    p = Params(p, CUSTOMER_FIELDS)
    return s.add({
        "id": s.new_id("cus"), "object": "customer", "address": address(p), "balance": 0, "created": s.clock.now(),
        "currency": None, "default_source": None, "delinquent": False, "description": p.str("description"),
        "email": p.str("email"), "invoice_prefix": "".join(secrets.choice(string.ascii_uppercase) for _ in range(8)),
        "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None},
        "livemode": False, "metadata": metadata(p), "name": p.str("name"), "next_invoice_sequence": 1,
        "phone": p.str("phone"), "preferred_locales": [], "shipping": None, "tax_exempt": "none",
    }, "customer.created")


def update_customer(s, p, id):
    customer = s.get(id, "customer")
    p = Params(p, CUSTOMER_FIELDS)
    changes = {f: p.str(f) for f in ("name", "email", "phone", "description") if f in p}
    if "address" in p:
        changes["address"] = address(p)
    if "metadata" in p:
        changes["metadata"] = metadata(p, customer["metadata"])
    return s.update(customer, changes, "customer.updated")


def create_product(s, p, _):
    p = Params(p, ("id", "name", "description", "active", "metadata"))
    id = p.str("id") or s.new_id("prod")
    if id in s.objects:
        raise StripeError(400, f"Product already exists: {id}", code="resource_already_exists", param="id")
    now = s.clock.now()
    return s.add({
        "id": id, "object": "product", "active": p.bool("active", True), "created": now, "default_price": None,
        "description": p.str("description"), "images": [], "livemode": False, "metadata": metadata(p),
        "name": p.str("name", required=True), "tax_code": None, "type": "service", "unit_label": None,
        "updated": now, "url": None,
    }, "product.created")


def update_product(s, p, id):
    product = s.get(id, "product")
    p = Params(p, ("name", "description", "active", "metadata"))
    changes = {f: p.str(f) for f in ("name", "description") if f in p}
    if "active" in p:
        changes["active"] = p.bool("active")
    if "metadata" in p:
        changes["metadata"] = metadata(p, product["metadata"])
    if changes:
        changes["updated"] = s.clock.now()
    return s.update(product, changes, "product.updated")


def create_price(s, p, _):
    p = Params(p, ("currency", "product", "product_data", "unit_amount", "recurring", "nickname", "active",
                   "metadata", "lookup_key", "tax_behavior"))
    currency = p.currency()
    if "product" in p:
        product = s.get(p.str("product"), "product", param="product")["id"]
    elif p.hash("product_data"):
        name = p.hash("product_data").get("name") or None
        if not name:
            raise missing("product_data[name]")
        product = create_product(s, {"name": name}, None)["id"]
    else:
        raise missing("product")
    recurring = None
    if "recurring" in p:
        r = Params(p.hash("recurring"), ("interval", "interval_count", "usage_type"))
        interval = r.str("interval", required=True, choices=("day", "week", "month", "year"))
        recurring = {"aggregate_usage": None, "interval": interval,
                     "interval_count": r.int("interval_count", default=1, minimum=1, param="recurring[interval_count]"),
                     "trial_period_days": None, "usage_type": r.str("usage_type", default="licensed", choices=("licensed", "metered"))}
    amount = p.int("unit_amount", required=True, minimum=0)
    return s.add({
        "id": s.new_id("price"), "object": "price", "active": p.bool("active", True), "billing_scheme": "per_unit",
        "created": s.clock.now(), "currency": currency, "custom_unit_amount": None, "livemode": False,
        "lookup_key": p.str("lookup_key"), "metadata": metadata(p), "nickname": p.str("nickname"), "product": product,
        "recurring": recurring, "tax_behavior": p.str("tax_behavior", default="unspecified",
                                                      choices=("inclusive", "exclusive", "unspecified")),
        "tiers_mode": None, "transform_quantity": None, "type": "recurring" if recurring else "one_time",
        "unit_amount": amount, "unit_amount_decimal": str(amount),
    }, "price.created")


def create_tax_rate(s, p, _):
    p = Params(p, ("display_name", "percentage", "inclusive", "country", "jurisdiction", "description", "active", "metadata"))
    percentage = p.decimal("percentage", required=True)
    if not 0 <= percentage <= 100:
        raise StripeError(400, "Invalid percentage: must be between 0 and 100", param="percentage")
    if "inclusive" not in p:
        raise missing("inclusive")
    return s.add({
        "id": s.new_id("txr"), "object": "tax_rate", "active": p.bool("active", True), "country": p.str("country"),
        "created": s.clock.now(), "description": p.str("description"), "display_name": p.str("display_name", required=True),
        "effective_percentage": float(percentage), "inclusive": p.bool("inclusive"), "jurisdiction": p.str("jurisdiction"),
        "livemode": False, "metadata": metadata(p), "percentage": float(percentage), "state": None, "tax_type": None,
    }, "tax_rate.created")


def tax_rates(s, ids, param):
    return [copy.deepcopy(s.get(id, "tax_rate", param=param)) for id in ids]


def create_invoice_item(s, p, _):
    p = Params(p, ("customer", "price", "amount", "currency", "quantity", "description", "tax_rates", "invoice", "metadata"))
    customer = s.get(p.str("customer", required=True), "customer", param="customer")
    invoice = None
    if "invoice" in p:
        invoice = s.get(p.str("invoice"), "invoice", param="invoice")
        if invoice["status"] != "draft":
            raise StripeError(400, f"Invoice {invoice['id']} is {invoice['status']}: items can only be added to a draft", param="invoice")
    quantity = p.int("quantity", default=1, minimum=1)
    if "price" in p:
        price = copy.deepcopy(s.get(p.str("price"), "price", param="price"))
        amount, currency = price["unit_amount"] * quantity, price["currency"]
    elif "amount" in p:
        if quantity != 1:
            raise StripeError(400, "quantity can only be given with price (amount is the total)", param="quantity")
        amount, currency, price = p.int("amount"), p.currency(), None
    else:
        raise missing("price")
    if invoice and currency != invoice["currency"]:
        raise StripeError(400, f"Currency {currency} differs from invoice currency {invoice['currency']}", param="currency")
    now = s.clock.now()
    item = s.add({
        "id": s.new_id("ii"), "object": "invoiceitem", "amount": amount, "currency": currency, "customer": customer["id"],
        "date": now, "description": p.str("description") or (price and price["nickname"]), "discountable": True,
        "invoice": invoice and invoice["id"], "livemode": False, "metadata": metadata(p), "period": {"start": now, "end": now},
        "price": price, "proration": False, "quantity": quantity,
        "tax_rates": tax_rates(s, p.list("tax_rates"), "tax_rates"), "unit_amount": price and price["unit_amount"],
    }, "invoiceitem.created")
    if invoice:
        compute_invoice(s, invoice)
    return item


def _round(value):
    return int(value.quantize(Decimal(1), ROUND_HALF_UP))


def compute_invoice(s, invoice):
    """Lines from the invoice's items; tax per line and rate (exclusive added, inclusive contained)."""
    lines, totals, subtotal, exclusive_tax, inclusive_tax = [], {}, 0, 0, 0
    for item in (o for o in s.objects.values() if o["object"] == "invoiceitem" and o["invoice"] == invoice["id"]):
        rates = item["tax_rates"] or invoice["default_tax_rates"]
        inclusive_percent = sum(Decimal(str(r["percentage"])) for r in rates if r["inclusive"])
        taxable = _round(Decimal(item["amount"]) * 100 / (100 + inclusive_percent))
        tax_amounts = []
        for rate in rates:
            percent = Decimal(str(rate["percentage"]))
            tax = _round(Decimal(taxable) * percent / 100)
            tax_amounts.append({"amount": tax, "inclusive": rate["inclusive"], "tax_rate": rate["id"],
                                "taxability_reason": None, "taxable_amount": taxable})
            total = totals.setdefault(rate["id"], {"amount": 0, "inclusive": rate["inclusive"], "tax_rate": rate["id"],
                                                   "taxability_reason": None, "taxable_amount": 0})
            total["amount"] += tax
            total["taxable_amount"] += taxable
            if rate["inclusive"]:
                inclusive_tax += tax
            else:
                exclusive_tax += tax
        subtotal += item["amount"]
        lines.append({
            "id": "il_" + item["id"][3:], "object": "line_item", "amount": item["amount"], "currency": item["currency"],
            "description": item["description"], "discountable": True, "invoice": invoice["id"], "invoice_item": item["id"],
            "livemode": False, "metadata": item["metadata"], "period": item["period"], "price": item["price"],
            "proration": False, "quantity": item["quantity"], "tax_amounts": tax_amounts, "tax_rates": item["tax_rates"],
            "type": "invoiceitem",
        })
    total = subtotal + exclusive_tax
    invoice.update({
        "lines": {"object": "list", "data": lines, "has_more": False, "total_count": len(lines),
                  "url": f"/v1/invoices/{invoice['id']}/lines"},
        "subtotal": subtotal, "subtotal_excluding_tax": subtotal - inclusive_tax, "tax": exclusive_tax + inclusive_tax,
        "total": total, "total_excluding_tax": total - exclusive_tax - inclusive_tax,
        "total_tax_amounts": list(totals.values()), "amount_due": total, "amount_remaining": total - invoice["amount_paid"],
    })


def create_invoice(s, p, _):
    p = Params(p, ("customer", "currency", "default_tax_rates", "description", "metadata", "collection_method",
                   "days_until_due", "auto_advance", "pending_invoice_items_behavior"))
    customer = s.get(p.str("customer", required=True), "customer", param="customer")
    method = p.str("collection_method", default="charge_automatically", choices=("charge_automatically", "send_invoice"))
    days = p.int("days_until_due", minimum=0)
    if method == "send_invoice" and days is None:
        raise missing("days_until_due")
    now = s.clock.now()
    invoice = {
        "id": s.new_id("in"), "object": "invoice", "account_country": "BE", "account_name": "Fake Stripe account",
        "amount_due": 0, "amount_paid": 0, "amount_remaining": 0, "attempt_count": 0, "attempted": False,
        "auto_advance": p.bool("auto_advance", False), "billing_reason": "manual", "charge": None,
        "collection_method": method, "created": now, "currency": p.currency(False, customer["currency"] or "eur"),
        "customer": customer["id"], "customer_address": customer["address"], "customer_email": customer["email"],
        "customer_name": customer["name"], "default_tax_rates": tax_rates(s, p.list("default_tax_rates"), "default_tax_rates"),
        "description": p.str("description"), "due_date": None if days is None else now + days * 86400,
        "hosted_invoice_url": None, "invoice_pdf": None, "livemode": False, "metadata": metadata(p), "number": None,
        "paid": False, "paid_out_of_band": False, "payment_intent": None, "period_end": now, "period_start": now,
        "status": "draft", "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None, "paid_at": None,
                                                  "voided_at": None},
        "subscription": None, "webhooks_delivered_at": None,
    }
    s.objects[invoice["id"]] = invoice
    if p.str("pending_invoice_items_behavior", default="exclude", choices=("include", "exclude")) == "include":
        for item in s.objects.values():
            if item["object"] == "invoiceitem" and item["customer"] == customer["id"] and item["invoice"] is None:
                item["invoice"] = invoice["id"]
    compute_invoice(s, invoice)
    s.emit("invoice.created", invoice)
    return invoice


def finalize_invoice(s, p, id):
    Params(p, ("auto_advance",))
    invoice = s.get(id, "invoice")
    if invoice["status"] != "draft":
        raise StripeError(400, "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
                          code="invoice_not_editable")
    customer = s.objects[invoice["customer"]]
    number = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
    customer["next_invoice_sequence"] += 1
    now = s.clock.now()
    invoice.update({"number": number, "status": "open", "status_transitions": {**invoice["status_transitions"], "finalized_at": now}})
    if invoice["due_date"] is None and invoice["collection_method"] == "send_invoice":
        invoice["due_date"] = now
    s.emit("invoice.finalized", invoice)
    if invoice["amount_due"] == 0:  # Stripe marks a zero invoice paid when it is finalized
        _mark_paid(s, invoice, None)
    return invoice


def pay_invoice(s, p, id):
    p = Params(p, ("paid_out_of_band", "payment_method"))
    invoice = s.get(id, "invoice")
    if invoice["status"] == "draft":
        finalize_invoice(s, {}, id)
    if invoice["status"] == "paid":
        raise StripeError(400, "Invoice is already paid.")
    if invoice["status"] != "open":
        raise StripeError(400, f"You can only pay an open invoice; this one is {invoice['status']}.")
    charge = None
    if p.bool("paid_out_of_band"):
        invoice["paid_out_of_band"] = True
    else:
        intent = _new_intent(s, invoice["amount_remaining"], invoice["currency"], invoice["customer"],
                             f"Payment for Invoice {invoice['number']}", {}, p.str("payment_method"), invoice["id"])
        charge = _succeed(s, intent)
    _mark_paid(s, invoice, charge)
    return invoice


def _mark_paid(s, invoice, charge):
    now = s.clock.now()
    invoice.update({
        "amount_paid": invoice["amount_due"], "amount_remaining": 0, "attempt_count": 1 if charge else 0,
        "attempted": charge is not None, "charge": charge and charge["id"], "paid": True,
        "payment_intent": charge and charge["payment_intent"], "status": "paid",
        "status_transitions": {**invoice["status_transitions"], "paid_at": now},
    })
    s.emit("invoice.paid", invoice)


def void_invoice(s, p, id):
    Params(p, ())
    invoice = s.get(id, "invoice")
    if invoice["status"] != "open":
        raise StripeError(400, f"You can only void an open invoice; this one is {invoice['status']}.")
    invoice.update({"status": "void", "status_transitions": {**invoice["status_transitions"], "voided_at": s.clock.now()}})
    s.emit("invoice.voided", invoice)
    return invoice


def invoice_lines(s, p, id):
    invoice = s.get(id, "invoice")
    return page(s, invoice["lines"]["data"], p, (), f"/v1/invoices/{id}/lines", newest_first=False)


def _balance_transaction(s, amount, currency, source, kind):
    fee = s.fee(amount) if kind == "charge" else 0
    now = s.clock.now()
    return s.add({
        "id": s.new_id("txn"), "object": "balance_transaction", "amount": amount,
        "available_on": now + (2 * 86400 if kind == "charge" else 0), "created": now, "currency": currency,
        "description": None, "exchange_rate": None, "fee": fee,
        "fee_details": [{"amount": fee, "application": None, "currency": currency,
                         "description": "Stripe processing fees", "type": "stripe_fee"}] if fee else [],
        "net": amount - fee, "reporting_category": kind, "source": source,
        "status": "pending" if kind == "charge" else "available", "type": kind,
    })


def _new_charge(s, amount, currency, customer, description, meta, intent=None, invoice=None, payment_method=None):
    id = s.new_id("ch")
    return s.add({
        "id": id, "object": "charge", "amount": amount, "amount_captured": amount, "amount_refunded": 0,
        "balance_transaction": _balance_transaction(s, amount, currency, id, "charge")["id"],
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "calculated_statement_descriptor": "FAKE STRIPE", "captured": True, "created": s.clock.now(), "currency": currency,
        "customer": customer, "description": description, "disputed": False, "failure_code": None, "failure_message": None,
        "invoice": invoice, "livemode": False, "metadata": meta,
        "outcome": {"network_status": "approved_by_network", "reason": None, "risk_level": "normal",
                    "seller_message": "Payment complete.", "type": "authorized"},
        "paid": True, "payment_intent": intent, "payment_method": payment_method or s.new_id("pm"),
        "payment_method_details": {"card": {"brand": "visa", "country": "US", "exp_month": 12, "exp_year": 2030,
                                            "funding": "credit", "last4": "4242"}, "type": "card"},
        "receipt_url": None, "refunded": False,
        "refunds": {"object": "list", "data": [], "has_more": False, "total_count": 0, "url": f"/v1/charges/{id}/refunds"},
        "status": "succeeded",
    }, "charge.succeeded")


def create_charge(s, p, _):
    p = Params(p, ("amount", "currency", "customer", "source", "description", "metadata"))
    amount, currency = p.int("amount", required=True, minimum=1), p.currency()
    customer = p.str("customer") and s.get(p.str("customer"), "customer", param="customer")["id"]
    return _new_charge(s, amount, currency, customer, p.str("description"), metadata(p))


def _new_intent(s, amount, currency, customer, description, meta, payment_method, invoice=None):
    id = s.new_id("pi")
    return s.add({
        "id": id, "object": "payment_intent", "amount": amount, "amount_capturable": 0, "amount_received": 0,
        "capture_method": "automatic", "client_secret": f"{id}_secret_{secrets.token_hex(8)}",
        "confirmation_method": "automatic", "created": s.clock.now(), "currency": currency, "customer": customer,
        "description": description, "invoice": invoice, "last_payment_error": None, "latest_charge": None,
        "livemode": False, "metadata": meta, "payment_method": payment_method, "payment_method_types": ["card"],
        "status": "requires_confirmation" if payment_method else "requires_payment_method",
    }, "payment_intent.created")


def _succeed(s, intent):
    charge = _new_charge(s, intent["amount"], intent["currency"], intent["customer"], intent["description"],
                         intent["metadata"], intent["id"], intent["invoice"], intent["payment_method"])
    intent.update({"amount_received": intent["amount"], "latest_charge": charge["id"], "status": "succeeded",
                   "payment_method": charge["payment_method"]})
    s.emit("payment_intent.succeeded", intent)
    return charge


def create_payment_intent(s, p, _):
    p = Params(p, ("amount", "currency", "customer", "description", "metadata", "payment_method", "confirm",
                   "payment_method_types"))
    customer = p.str("customer") and s.get(p.str("customer"), "customer", param="customer")["id"]
    intent = _new_intent(s, p.int("amount", required=True, minimum=1), p.currency(), customer, p.str("description"),
                         metadata(p), p.str("payment_method"))
    if p.bool("confirm"):
        _confirm(intent, p.str("payment_method"))
        _succeed(s, intent)
    return intent


def _confirm(intent, payment_method):
    if intent["status"] == "succeeded":
        raise StripeError(400, "This PaymentIntent's status is succeeded; it cannot be confirmed again.",
                          code="payment_intent_unexpected_state")
    if not (payment_method or intent["payment_method"]):
        raise StripeError(400, "You cannot confirm this PaymentIntent because it's missing a payment method.",
                          code="payment_intent_unexpected_state", param="payment_method")


def confirm_payment_intent(s, p, id):
    p = Params(p, ("payment_method",))
    intent = s.get(id, "payment_intent")
    _confirm(intent, p.str("payment_method"))
    intent["payment_method"] = p.str("payment_method") or intent["payment_method"]
    _succeed(s, intent)
    return intent


def create_refund(s, p, _):
    p = Params(p, ("charge", "payment_intent", "amount", "reason", "metadata"))
    if "charge" in p:
        charge = s.get(p.str("charge"), "charge", param="charge")
    elif "payment_intent" in p:
        intent = s.get(p.str("payment_intent"), "payment_intent", param="payment_intent")
        if not intent["latest_charge"]:
            raise StripeError(400, f"PaymentIntent {intent['id']} has no successful charge to refund.", param="payment_intent")
        charge = s.objects[intent["latest_charge"]]
    else:
        raise missing("charge")
    left = charge["amount"] - charge["amount_refunded"]
    amount = p.int("amount", default=left, minimum=1)
    if amount > left:
        raise StripeError(400, f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                          code="amount_too_large", param="amount")
    id = s.new_id("re")
    refund = s.add({
        "id": id, "object": "refund", "amount": amount,
        "balance_transaction": _balance_transaction(s, -amount, charge["currency"], id, "refund")["id"],
        "charge": charge["id"], "created": s.clock.now(), "currency": charge["currency"], "metadata": metadata(p),
        "payment_intent": charge["payment_intent"],
        "reason": p.str("reason", choices=("duplicate", "fraudulent", "requested_by_customer")),
        "receipt_number": None, "source_transfer_reversal": None, "status": "succeeded", "transfer_reversal": None,
    }, "refund.created")
    refunds = charge["refunds"]
    s.update(charge, {
        "amount_refunded": charge["amount_refunded"] + amount, "refunded": charge["amount_refunded"] + amount == charge["amount"],
        "refunds": {**refunds, "data": [copy.deepcopy(refund)] + refunds["data"], "total_count": refunds["total_count"] + 1},
    }, "charge.refunded")
    return refund


def retrieve(kind):
    def handler(s, p, id):
        Params(p, ())  # only expand
        return s.get(id, kind)
    return handler


def lister(kind, filters, path):
    def handler(s, p, _):
        items = [o for o in s.objects.values() if o["object"] == kind]
        return page(s, items, p, filters, path)
    return handler


def list_events(s, p, _):
    return page(s, s.events, p, ("type", "types", "delivery_success"), "/v1/events")


# ---------------------------------------------------------------------------------------------
# 4. Lists (newest first, cursors, created filters) and expansion
# ---------------------------------------------------------------------------------------------


def page(s, items, data, filters, url, newest_first=True):
    p = Params(data, ("limit", "starting_after", "ending_before", "created") + tuple(filters))
    limit = p.int("limit", default=10, minimum=1, maximum=100)
    if "starting_after" in p and "ending_before" in p:
        raise StripeError(400, "You may only specify one of these parameters: starting_after, ending_before.", param="ending_before")
    # Stripe sorts by `created` (newest first); an object created "late" with an older time stamp (the
    # clock control moved back) lands behind newer ones, as an event that becomes visible late does.
    ordered = sorted(reversed(items), key=lambda o: o.get("created", 0), reverse=True) if newest_first else list(items)
    ordered = [o for o in ordered if _matches(o, p, filters)]
    if "created" in p:
        ordered = [o for o in ordered if _created_matches(o["created"], p)]
    if "starting_after" in p or "ending_before" in p:
        name = "starting_after" if "starting_after" in p else "ending_before"
        cursor = p.str(name)
        index = next((i for i, o in enumerate(ordered) if o["id"] == cursor), None)
        if index is None:
            kind = items[0]["object"] if items else "object"
            raise no_such(kind, cursor, param=name, status=400)
        if name == "starting_after":
            rest = ordered[index + 1:]
            chosen, has_more = rest[:limit], len(rest) > limit
        else:
            before = ordered[:index]
            chosen, has_more = before[-limit:], len(before) > limit
    else:
        chosen, has_more = ordered[:limit], len(ordered) > limit
    return {"object": "list", "data": copy.deepcopy(chosen), "has_more": has_more, "url": url}


def _matches(obj, p, filters):
    for name in filters:
        if name not in p:
            continue
        if name == "type":
            if "types" in p:
                raise StripeError(400, "You may only specify one of these parameters: type, types.", param="types")
            pattern = re.escape(p.str("type")).replace(r"\*", "[^ ]*")
            if not re.fullmatch(pattern, obj["type"]):
                return False
        elif name == "types":
            wanted = p.list("types")
            if len(wanted) > 20:
                raise StripeError(400, "Invalid types: at most 20 types", param="types")
            if obj["type"] not in wanted:
                return False
        elif name == "delivery_success":
            continue  # accepted, not modelled
        elif _text(obj.get(name)) != p.str(name):
            return False
    return True


def _text(value):
    return ("true" if value else "false") if isinstance(value, bool) else value


def _created_matches(created, p):
    value = p.data["created"]
    if isinstance(value, str):
        return created == p.int("created")
    bounds = Params(value, ("gt", "gte", "lt", "lte"))
    checks = {"gt": created.__gt__, "gte": created.__ge__, "lt": created.__lt__, "lte": created.__le__}
    return all(check(bounds.int(op, param=f"created[{op}]")) for op, check in checks.items() if op in bounds)


def expand(s, obj, paths):
    """expand[]=a.b: replace the id at a (and then b inside it) by a copy of the object it names."""
    for path in paths if isinstance(paths, list) else [paths]:
        _expand(s, obj, path.split("."), path)
    return obj


def _expand(s, node, parts, path):
    if isinstance(node, dict) and node.get("object") == "list" and parts[0] == "data":
        for item in node["data"]:
            _expand(s, item, parts[1:], path)
        return
    if not parts or not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    value = node.get(head)
    if isinstance(value, str):
        if value not in s.objects:
            raise StripeError(400, f"This property cannot be expanded ({path}).", param="expand")
        value = node[head] = copy.deepcopy(s.objects[value])
    elif value is None and head not in node:
        raise StripeError(400, f"This property cannot be expanded ({path}).", param="expand")
    if rest:
        _expand(s, value, rest, path)


# ---------------------------------------------------------------------------------------------
# 5. Routes, idempotency, faults, webhooks
# ---------------------------------------------------------------------------------------------

ID = r"([A-Za-z0-9_\-]+)"
ROUTES = [
    ("POST", "/v1/customers", create_customer),
    ("GET", "/v1/customers", lister("customer", ("email",), "/v1/customers")),
    ("GET", f"/v1/customers/{ID}", retrieve("customer")),
    ("POST", f"/v1/customers/{ID}", update_customer),
    ("POST", "/v1/products", create_product),
    ("GET", "/v1/products", lister("product", ("active",), "/v1/products")),
    ("GET", f"/v1/products/{ID}", retrieve("product")),
    ("POST", f"/v1/products/{ID}", update_product),
    ("POST", "/v1/prices", create_price),
    ("GET", "/v1/prices", lister("price", ("product", "currency", "type"), "/v1/prices")),
    ("GET", f"/v1/prices/{ID}", retrieve("price")),
    ("POST", "/v1/tax_rates", create_tax_rate),
    ("GET", "/v1/tax_rates", lister("tax_rate", (), "/v1/tax_rates")),
    ("GET", f"/v1/tax_rates/{ID}", retrieve("tax_rate")),
    ("POST", "/v1/invoiceitems", create_invoice_item),
    ("GET", "/v1/invoiceitems", lister("invoiceitem", ("customer", "invoice"), "/v1/invoiceitems")),
    ("GET", f"/v1/invoiceitems/{ID}", retrieve("invoiceitem")),
    ("POST", "/v1/invoices", create_invoice),
    ("GET", "/v1/invoices", lister("invoice", ("customer", "status", "subscription"), "/v1/invoices")),
    ("GET", f"/v1/invoices/{ID}", retrieve("invoice")),
    ("GET", f"/v1/invoices/{ID}/lines", invoice_lines),
    ("POST", f"/v1/invoices/{ID}/finalize", finalize_invoice),
    ("POST", f"/v1/invoices/{ID}/pay", pay_invoice),
    ("POST", f"/v1/invoices/{ID}/void", void_invoice),
    ("POST", "/v1/charges", create_charge),
    ("GET", "/v1/charges", lister("charge", ("customer", "payment_intent"), "/v1/charges")),
    ("GET", f"/v1/charges/{ID}", retrieve("charge")),
    ("POST", "/v1/payment_intents", create_payment_intent),
    ("GET", "/v1/payment_intents", lister("payment_intent", ("customer",), "/v1/payment_intents")),
    ("GET", f"/v1/payment_intents/{ID}", retrieve("payment_intent")),
    ("POST", f"/v1/payment_intents/{ID}/confirm", confirm_payment_intent),
    ("POST", "/v1/refunds", create_refund),
    ("GET", "/v1/refunds", lister("refund", ("charge", "payment_intent"), "/v1/refunds")),
    ("GET", f"/v1/refunds/{ID}", retrieve("refund")),
    ("GET", "/v1/balance_transactions", lister("balance_transaction", ("source", "type"), "/v1/balance_transactions")),
    ("GET", f"/v1/balance_transactions/{ID}", retrieve("balance_transaction")),
    ("GET", "/v1/events", list_events),
    ("GET", f"/v1/events/{ID}", retrieve("event")),
]

FAULTS = {  # kind → (status, type, code, message); 429/401/400/503 come before the idempotency layer, 500 inside it
    "rate_limit": (429, "invalid_request_error", "rate_limit",
                   "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests."),
    "lock_timeout": (429, "invalid_request_error", "lock_timeout",
                     "This object cannot be accessed right now because another API request or Stripe process is "
                     "currently accessing it. If you see this error intermittently, retry the request."),
    "api_error": (500, "api_error", None, "An unknown error occurred while processing your request (fake)."),
    "unavailable": (503, "api_error", None, "Stripe is temporarily unavailable (fake)."),
    "unauthorized": (401, "invalid_request_error", None, "Invalid API Key provided (fake fault)."),
    # A request that fails validation: Stripe saves no idempotent result for it (docs: idempotent requests).
    "invalid_request": (400, "invalid_request_error", "parameter_invalid_string", "Invalid string: the value is not valid here (fake fault)."),
}
# The base's kinds come after these: status, retry_after, delay (the call waits `seconds` or `ms`, then runs,
# while its idempotency key is in flight), drop, garbage. See ../common/loopback.py.


def check_fault(spec):
    if spec.get("should_retry") not in (None, True, False):
        raise FaultSpecError("field 'should_retry' must be true, false or null")


def should_retry_header(fault, headers):
    if fault.get("should_retry") is not None:
        headers["Stripe-Should-Retry"] = "true" if fault.get("should_retry") else "false"
    return headers


def fault_error(fault):
    status, type, code, message = FAULTS[fault.kind]
    headers = {}
    if fault.get("retry_after") is not None:
        headers["Retry-After"] = str(fault.get("retry_after"))
    return StripeError(status, message, type, code, headers=should_retry_header(fault, headers))


def _wanted(webhook, type):
    return not webhook["events"] or type in webhook["events"] or "*" in webhook["events"]


def sign(payload, secrets_, timestamp):
    signed = f"{timestamp}.".encode() + payload
    return ",".join([f"t={timestamp}"] + [f"v1={hmac.new(x.encode(), signed, hashlib.sha256).hexdigest()}" for x in secrets_])


def deliver(s, event_id, age=0, forge=False, unsigned=False, secrets_=None):
    """POSTs the event to the registered URL; returns and records what the receiver answered."""
    with s.lock:
        hook = s.webhook and dict(s.webhook)
        event = s.objects.get(event_id)
    if not hook:
        raise StripeError(400, "No webhook registered (POST /__fake__/webhooks first)")
    if not event or event["object"] != "event":
        raise no_such("event", event_id, "event", 400)
    payload = json.dumps(event).encode()
    timestamp = s.clock.now() - int(age)
    keys = [f"whsec_forged{secrets.token_hex(8)}"] if forge else (secrets_ or hook["secrets"])
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}
    if not unsigned:
        headers["Stripe-Signature"] = sign(payload, keys, timestamp)
    record = {"event": event_id, "type": event["type"], "timestamp": timestamp, "forged": bool(forge),
              "unsigned": bool(unsigned), "status": None, "error": None, "body": None}
    try:
        with urllib.request.urlopen(urllib.request.Request(hook["url"], payload, headers, method="POST"), timeout=10) as answer:
            record["status"], record["body"] = answer.status, answer.read(2000).decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        record["status"], record["body"] = e.code, e.read(2000).decode("utf-8", "replace")
    except OSError as e:
        record["error"] = str(e)
    with s.lock:
        s.deliveries.append(record)
        if record["status"] and 200 <= record["status"] < 300 and not (forge or unsigned or age):
            event["pending_webhooks"] = 0
    sys.stderr.write(f"fake-stripe webhook {event['type']} {event_id} -> {record['status'] or record['error']}\n")
    return record


DELIVERY: "queue.Queue[str]" = queue.Queue()


def delivery_worker(s):
    """Delivers events one at a time, in order, once each (no automatic retries)."""
    while True:
        event_id = DELIVERY.get()
        try:
            deliver(s, event_id)
        except StripeError:
            pass  # the webhook was removed or the state reset meanwhile


# ---------------------------------------------------------------------------------------------
# 6. The fake: the API (faults, authentication, routes, idempotency) and its controls
# ---------------------------------------------------------------------------------------------


def _status_type(status):
    return "api_error" if status >= 500 else "invalid_request_error"


class StripeFake(Fake):
    name = "fake-stripe"
    server_header = "fake-stripe (loopback)"
    default_headers = {"Stripe-Version": API_VERSION}
    json_indent = 2  # Stripe's answers are indented by two spaces

    def __init__(self, api_key, fee_percent, fee_fixed):
        super().__init__(fault_kinds=FAULTS, fault_fields=("should_retry",), fault_check=check_fault)
        self.api_key = api_key
        self.state = State(fee_percent, fee_fixed, self.clock)

    def reset(self):
        self.state.reset()
        super().reset()  # faults, calls, clock

    def error_reply(self, status, message, headers):
        """Stripe's error shape for a base fault that gives no body (status, retry_after)."""
        code = "rate_limit" if status == 429 else None
        return self.json_reply(status, StripeError(status, message, _status_type(status), code).body(), headers)

    def bug_reply(self, exc):
        return self.json_reply(500, StripeError(500, f"The fake failed: {type(exc).__name__} (traceback on its stderr).",
                                           "api_error").body())

    # -- the API ---------------------------------------------------------------------------

    def serve(self, request):
        s = self.state
        method, key = request.method, request.headers.get("Idempotency-Key")
        request_id = s.new_id("req")
        call = {"method": method, "path": request.path, "query": request.query, "idempotency_key": key, "status": None,
                "replayed": False, "fault": None, "stripe_version": request.headers.get("Stripe-Version"),
                "at": s.clock.now(), "connection": request.connection}
        self.calls.add(call)
        headers = {"Request-Id": request_id}
        reply = None
        try:
            status, answer, more = self._api_call(request, key, request_id, call)
            headers.update(more)
        except StripeError as e:
            status, answer = e.status, e.body()
            headers.update(e.headers)
        except _FaultReply as e:
            reply = e.reply
            if not reply.drop:
                reply.headers = {**headers, **reply.headers}
        if reply is None:
            reply = self.json_reply(status, answer, headers)
        fault = request.fault
        if fault and fault.phase == "after":  # the call ran (and is stored under its key); its answer is lost
            call["fault"] = fault.kind
            lost = self._base_fault_reply(fault)
            if not lost.drop:
                lost.headers = {"Request-Id": headers["Request-Id"], **lost.headers}
            reply = lost
        call["status"] = None if reply.drop else reply.status
        request.note = (f" idempotency-key={key}" if key else "") + (" (replayed)" if call["replayed"] else "") + \
                       (f" (fault {call['fault']})" if call["fault"] else "")
        return reply

    def _api_call(self, request, key, request_id, call):
        s = self.state
        method = request.method
        fault = request.fault = self.faults.take(method, request.path)
        if fault and fault.kind not in ("api_error", "delay") and fault.phase == "before":
            call["fault"] = fault.kind
            if fault.kind in FAULTS:
                raise fault_error(fault)
            raise _FaultReply(self._base_fault_reply(fault))
        self._authenticate(request)
        handler, id = self._route(method, request.path)
        params = parse_form(parse_qsl(request.body.decode("utf-8") if method == "POST" else request.query,
                                      keep_blank_values=True))
        if method != "POST" or key is None:
            return self._run(handler, params, id, None, request_id, fault, call)
        if len(key) > 255:
            raise StripeError(400, "Idempotency-Key is too long: at most 255 characters", param="Idempotency-Key")
        fingerprint = [method, request.path, copy.deepcopy(params)]
        with s.lock:
            seen = s.idempotency.get(key)
            if seen and s.clock.now() - seen["at"] > IDEMPOTENCY_TTL:  # keys expire after 24 hours
                del s.idempotency[key]
                seen = None
            if seen:
                if seen["fingerprint"] != fingerprint:
                    raise StripeError(400, "Keys for idempotent requests can only be used with the same parameters they "
                                           f"were first used with. Try using a key other than '{key}' if you meant to "
                                           "execute a different request.", type="idempotency_error")
                call["replayed"] = True
                return seen["status"], seen["body"], {"Idempotent-Replayed": "true", "Original-Request": seen["request_id"]}
            if key in s.in_flight:
                raise StripeError(409, "There is currently another in-progress request using this Idempotent Key (that "
                                       "probably means you submitted twice, and the other request is still going "
                                       "through). Please retry this request later.", type="idempotency_error",
                                  code="idempotency_key_in_use")
            s.in_flight.add(key)
        try:
            try:
                status, answer, headers = self._run(handler, params, id, key, request_id, fault, call)
            except StripeError as e:
                status, answer, headers = e.status, e.body(), e.headers
            with s.lock:
                s.idempotency[key] = {"fingerprint": fingerprint, "status": status, "body": answer,
                                      "request_id": request_id, "at": s.clock.now()}
            if status >= 400:
                raise StripeError(status, answer["error"]["message"], answer["error"]["type"],
                                  answer["error"].get("code"), answer["error"].get("param"), headers)
            return status, answer, headers
        finally:
            with s.lock:
                s.in_flight.discard(key)

    def _run(self, handler, params, id, key, request_id, fault, call):
        s = self.state
        if fault and fault.kind == "delay":
            call["fault"] = "delay"
            time.sleep(fault.delay_seconds())
        if fault and fault.kind == "api_error":  # began executing, then failed: cached under the key
            call["fault"] = "api_error"
            raise fault_error(fault)
        paths = params.pop("expand", [])
        with s.lock:
            s.request = {"id": request_id, "idempotency_key": key}
            try:
                obj = handler(s, params, id)
                return 200, expand(s, copy.deepcopy(obj), paths), {}
            finally:
                s.request = {"id": None, "idempotency_key": None}

    def _base_fault_reply(self, fault):
        return fault.reply(lambda status, message, headers: self.error_reply(
            status, message, should_retry_header(fault, headers)))

    def _authenticate(self, request):
        given = None
        auth = request.headers.get("Authorization") or ""
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer":
            given = value.strip()
        elif scheme.lower() == "basic":
            try:
                given = base64.b64decode(value.strip()).decode().split(":", 1)[0]
            except ValueError:
                given = None
        if not given:
            raise StripeError(401, "You did not provide an API key. You need to provide your API key in the "
                                   "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').")
        if not hmac.compare_digest(given.encode(), self.api_key.encode()):
            raise StripeError(401, "Invalid API Key provided.")  # Stripe shows a masked key; the fake shows none

    def _route(self, method, path):
        allowed = False
        for route_method, pattern, handler in ROUTES:
            match = re.fullmatch(pattern, path)
            if match:
                allowed = True
                if route_method == method:
                    return handler, (match.group(1) if match.groups() else None)
        raise StripeError(404, f"Unrecognized request URL ({method}: {path}). This fake covers only what its README.md "
                               "lists" + (" (known path, other method)." if allowed else "."))

    # -- controls (the base has fault, clock, calls; reset is the base's, extended above) ----

    def control(self, request, name, spec):
        s = self.state
        method = request.method
        try:
            if name == "state" and method == "GET":
                with s.lock:
                    grouped = {}
                    for obj in s.objects.values():
                        grouped.setdefault(obj["object"], []).append(obj)
                    return self.json_reply(200, {
                        "objects": grouped, "webhook": s.webhook and {**s.webhook, "secrets": len(s.webhook["secrets"])},
                        "faults": self.faults.pending(), "idempotency_keys": sorted(s.idempotency), "now": s.clock.now(),
                    })
            if name == "webhooks":
                return self.json_reply(*self._webhooks(method, spec))
            if name == "webhooks/send" and method == "POST":
                if not spec.get("event"):
                    return self.json_reply(400, {"error": "field 'event' (an event id) is required"})
                return self.json_reply(200, deliver(s, spec["event"], spec.get("age", 0), spec.get("forge", False),
                                               spec.get("unsigned", False), spec.get("secrets")))
            if name == "invoice" and method == "POST":
                return self.json_reply(200, self._invoice(spec))
        except StripeError as e:
            return self.json_reply(e.status, e.body())
        return None

    def _webhooks(self, method, spec):
        s = self.state
        with s.lock:
            if method == "DELETE":
                s.webhook = None
            elif method == "POST":
                url, keys = spec.get("url"), spec.get("secrets") or ([spec["secret"]] if spec.get("secret") else [])
                host = urlsplit(url or "").hostname
                if not url or not url.startswith("http://") or host not in LOOPBACK_HOSTS:
                    return 400, {"error": "field 'url' must be an http:// URL on loopback (127.0.0.1, localhost, ::1)"}
                if not keys or len(keys) > 2 or not all(isinstance(k, str) and k for k in keys):
                    return 400, {"error": "field 'secrets' must list one or two secrets (two while rolling)"}
                events = spec.get("events") or []
                if not isinstance(events, list):
                    return 400, {"error": "field 'events' must be a list of event types"}
                s.webhook = {"url": url, "secrets": keys, "events": events}
            return 200, {"webhook": s.webhook and {"url": s.webhook["url"], "events": s.webhook["events"],
                                                   "secrets": len(s.webhook["secrets"])},
                         "deliveries": list(s.deliveries)}

    def _invoice(self, spec):
        """A finalized invoice (paid with "paid": true) from JSON: customer (id, or fields to create one),
        currency, lines [{price | amount, quantity, description, tax_rates}], default_tax_rates,
        collection_method, days_until_due. Runs the same rules (and emits the same events) as the API."""
        s = self.state
        with s.lock:
            s.request = {"id": None, "idempotency_key": None}
            customer = spec.get("customer")
            if isinstance(customer, dict) or customer is None:
                customer = create_customer(s, {k: v for k, v in (customer or {"name": "Fake customer"}).items()}, None)["id"]
            form = {"customer": customer, "default_tax_rates": spec.get("default_tax_rates", [])}
            for name in ("currency", "collection_method", "days_until_due", "description"):
                if name in spec:
                    form[name] = str(spec[name])
            invoice = create_invoice(s, form, None)
            if not spec.get("lines"):
                raise StripeError(400, "field 'lines' must list at least one line", param="lines")
            for line in spec["lines"]:
                item = {"customer": customer, "invoice": invoice["id"], "tax_rates": line.get("tax_rates", [])}
                for name in ("price", "amount", "quantity", "description"):
                    if name in line:
                        item[name] = str(line[name])
                if "amount" in line:
                    item["currency"] = invoice["currency"]
                create_invoice_item(s, item, None)
            finalize_invoice(s, {}, invoice["id"])
            if spec.get("paid"):
                pay_invoice(s, {}, invoice["id"])
            return copy.deepcopy(invoice)


class _FaultReply(Exception):
    """A base fault (status, retry_after, drop, garbage) answering instead of the API."""

    def __init__(self, reply):
        super().__init__(reply.status)
        self.reply = reply


# ---------------------------------------------------------------------------------------------
# 7. main
# ---------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake Stripe API (what localstripe lacks) for tests; binds 127.0.0.1 only.")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 picks a free one (printed first)")
    ap.add_argument("--api-key", required=True, help="the one secret key accepted (sk_test_…), as Bearer or Basic user")
    ap.add_argument("--fee-percent", type=Decimal, default=Decimal("2.9"), help="processing fee on charges, percent")
    ap.add_argument("--fee-fixed", type=int, default=30, help="processing fee on charges, fixed part in minor units")
    args = ap.parse_args(argv)
    if not args.api_key.startswith("sk_test_"):
        ap.error("--api-key must start with sk_test_ (a test secret key)")

    fake = StripeFake(args.api_key, args.fee_percent, args.fee_fixed)
    threading.Thread(target=delivery_worker, args=(fake.state,), daemon=True).start()
    return run(fake, args.port, f"fake Stripe (API {API_VERSION}, fee {args.fee_percent}% + {args.fee_fixed}) on {{address}}")


if __name__ == "__main__":
    sys.exit(main())
