#!/usr/bin/env python3
"""A fake of HubSpot for tests: CRM v3 objects, search, associations v4, properties, OAuth v1 tokens, rate
limits and signed webhooks (Python standard library only; binds 127.0.0.1 only).

Wire facts come from the team's reference notes on HubSpot (shared/reference/hubspot.md) and HubSpot's OpenAPI specs;
what rests on an UNCONFIRMED item or on this fake's own choice is listed under "Assumptions" in README.md.

Layout, top to bottom: 1. object types, properties and association types; 2. errors and time; 3. the store
(records, unique indexes, associations, changes); 4. CRM calls (objects, batch, properties); 5. search;
6. associations v4; 7. tokens and rate limits; 8. webhooks; 9. seeding; 10. the fake (routes and controls);
11. main. HTTP, the fault queue, the clock, the call log and the request log are the loopback fakes' common
base, ../common/loopback.py. See README.md next to this file. Run ``python3 fake_hubspot.py --help``.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import collections
import fnmatch
import hashlib
import hmac
import http.client
import json
import math
import re
import secrets
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

# The common base, ../common/loopback.py. Tests/Fakes goes on sys.path only for this import: a test may import
# this module, and a test must not keep Tests/Fakes on its path (this folder, hubspot/, would stand in for the
# official hubspot-api-client: see ../README.md).
_FAKES = str(Path(__file__).resolve().parent.parent)
sys.path.insert(0, _FAKES)
try:
    from common.loopback import Fake, FaultSpecError, Reply, run  # noqa: E402
finally:
    if sys.path and sys.path[0] == _FAKES:
        del sys.path[0]

SEARCH_CAP = 10_000  # HubSpot answers at most 10,000 results per search query (--search-cap lowers it for a test)


def set_search_cap(cap: int):
    global SEARCH_CAP
    SEARCH_CAP = cap
BATCH_MAX = 100
SEARCH_LIMIT_MAX = 200
LIST_LIMIT_MAX = 100
ASSOC_LIMIT_MAX = 500
MAX_FILTER_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS_TOTAL = 5, 10, 25
WEBHOOK_BATCH_MAX = 100
USER_AGENT = "HubSpot Connect 2.0 (http://dev.hubspot.com/) - WebhooksExecutorDaemon-executor"
JSON_TYPE = "application/json;charset=utf-8"

# ---------------------------------------------------------------------------------------------
# 1. Object types, properties, association types
# ---------------------------------------------------------------------------------------------


class Prop:
    """One property of an object type: its HubSpot type (string, number, datetime, enumeration, bool),
    options for an enumeration, read-only, unique (usable as idProperty)."""

    __slots__ = ("name", "type", "options", "readonly", "unique", "label", "custom", "group")

    def __init__(self, name, type="string", options=None, readonly=False, unique=False, label=None, custom=False,
                 group="information"):
        self.name, self.type, self.options, self.readonly, self.unique = name, type, options, readonly, unique
        self.label, self.custom, self.group = label or name.replace("_", " ").title(), custom, group

    @property
    def numeric(self):
        return self.type in ("number", "datetime")

    def describe(self, now_iso):
        field = {"string": "text", "number": "number", "datetime": "date", "enumeration": "select",
                 "bool": "booleancheckbox"}[self.type]
        options = [{"label": o, "value": o, "displayOrder": i, "hidden": False} for i, o in enumerate(self.options or [])]
        return {"name": self.name, "label": self.label, "type": self.type, "fieldType": field, "description": "",
                "groupName": self.group, "options": options, "displayOrder": -1, "calculated": False,
                "externalOptions": False, "hasUniqueValue": self.unique, "hidden": False,
                "hubspotDefined": not self.custom, "formField": not self.readonly,
                "modificationMetadata": {"archivable": self.custom, "readOnlyDefinition": not self.custom,
                                         "readOnlyValue": self.readonly},
                "createdAt": now_iso, "updatedAt": now_iso, "archived": False}


LIFECYCLE = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
             "evangelist", "other"]
DEAL_STAGES = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin",
               "contractsent", "closedwon", "closedlost"]
CURRENCIES = ["EUR", "USD", "GBP", "CHF", "JPY", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN", "CZK", "BRL", "MXN",
              "INR", "CNY"]


class ObjType:
    """An object type: its path name, type id, the singular used in webhooks and messages, its modified-date
    property, the properties returned when none are asked for, its properties."""

    def __init__(self, name, type_id, singular, modified, defaults, props, required=()):
        self.name, self.type_id, self.singular, self.modified = name, type_id, singular, modified
        self.defaults, self.required = defaults, required
        self.upper = singular.upper()
        system = [Prop("hs_object_id", "number", readonly=True, group="system"),
                  Prop("createdate", "datetime", group="system"),
                  Prop("hs_lastmodifieddate", "datetime", readonly=True, group="system")]
        if modified != "hs_lastmodifieddate":
            system.append(Prop(modified, "datetime", readonly=True, group="system"))
        self.props = {p.name: p for p in system + props}

    def modified_props(self):
        return ("lastmodifieddate", "hs_lastmodifieddate") if self.modified == "lastmodifieddate" else ("hs_lastmodifieddate",)


def build_types():
    S = lambda *names: [Prop(n) for n in names]  # noqa: E731
    N = lambda *names: [Prop(n, "number") for n in names]  # noqa: E731
    return {
        "contacts": ObjType("contacts", "0-1", "contact", "lastmodifieddate",
                            ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"],
                            [Prop("email", unique=True)] + S("firstname", "lastname", "phone", "mobilephone", "company",
                                                              "jobtitle", "website", "address", "city", "zip", "state",
                                                              "country", "hs_language")
                            + [Prop("lifecyclestage", "enumeration", LIFECYCLE)]),
        "companies": ObjType("companies", "0-2", "company", "hs_lastmodifieddate",
                             ["createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"],
                             S("name", "domain", "phone", "address", "address2", "city", "zip", "state", "country",
                               "website", "industry", "description", "vat_number")
                             + N("numberofemployees", "annualrevenue")
                             + [Prop("lifecyclestage", "enumeration", LIFECYCLE)]),
        "deals": ObjType("deals", "0-3", "deal", "hs_lastmodifieddate",
                         ["amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate",
                          "hs_object_id", "pipeline"],
                         S("dealname", "description", "dealtype") + N("amount")
                         + [Prop("dealstage", "enumeration", list(DEAL_STAGES)),
                            Prop("pipeline", "enumeration", ["default"]),
                            Prop("closedate", "datetime"),
                            Prop("deal_currency_code", "enumeration", list(CURRENCIES))],
                         required=("dealname", "dealstage")),
        "products": ObjType("products", "0-7", "product", "hs_lastmodifieddate",
                            ["createdate", "description", "hs_lastmodifieddate", "hs_object_id", "name", "price"],
                            S("name", "description", "hs_sku", "hs_recurring_billing_period", "recurringbillingfrequency",
                              "hs_product_type", "hs_url")
                            + N("price", "hs_cost_of_goods_sold", "tax")),
        "line_items": ObjType("line_items", "0-8", "line_item", "hs_lastmodifieddate",
                              ["amount", "createdate", "hs_lastmodifieddate", "hs_object_id", "hs_product_id", "name",
                               "price", "quantity"],
                              S("name", "description", "hs_sku", "hs_recurring_billing_period",
                                "recurringbillingfrequency", "hs_product_id")
                              + N("quantity", "price", "amount", "discount", "hs_discount_percentage", "tax")
                              + [Prop("hs_line_item_currency_code", "enumeration", list(CURRENCIES))]),
    }


TYPE_NAMES = ("contacts", "companies", "deals", "products", "line_items")
_TYPE_ALIASES = {}
for _t, _id, _s in (("contacts", "0-1", "contact"), ("companies", "0-2", "company"), ("deals", "0-3", "deal"),
                    ("products", "0-7", "product"), ("line_items", "0-8", "line_item")):
    _TYPE_ALIASES.update({_t: _t, _id: _t, _s: _t})

# HUBSPOT_DEFINED association types: id → (from, to, label, v3 name). Both directions are kept together.
ASSOC_TYPES = {
    279: ("contacts", "companies", None, "contact_to_company_unlabeled"),
    280: ("companies", "contacts", None, "company_to_contact_unlabeled"),
    1: ("contacts", "companies", "Primary", "contact_to_company"),
    2: ("companies", "contacts", "Primary", "company_to_contact"),
    3: ("deals", "contacts", None, "deal_to_contact"),
    4: ("contacts", "deals", None, "contact_to_deal"),
    341: ("deals", "companies", None, "deal_to_company_unlabeled"),
    342: ("companies", "deals", None, "company_to_deal_unlabeled"),
    5: ("deals", "companies", "Primary", "deal_to_company"),
    6: ("companies", "deals", "Primary", "company_to_deal"),
    19: ("deals", "line_items", None, "deal_to_line_item"),
    20: ("line_items", "deals", None, "line_item_to_deal"),
}
REVERSE = {279: 280, 280: 279, 1: 2, 2: 1, 3: 4, 4: 3, 341: 342, 342: 341, 5: 6, 6: 5, 19: 20, 20: 19}
DEFAULT_ASSOC = {(f, t): i for i, (f, t, label, _) in ASSOC_TYPES.items() if label is None}
CATEGORIES = ("HUBSPOT_DEFINED", "INTEGRATOR_DEFINED", "USER_DEFINED", "WORK")

# ---------------------------------------------------------------------------------------------
# 2. Errors and time
# ---------------------------------------------------------------------------------------------


def correlation_id():
    return str(uuid.uuid4())


class HubSpotError(Exception):
    """An answer in HubSpot's error shape: status "error", message, correlationId, category, and where known
    subCategory, context, errors (or a whole body of its own, for OAuth and rate limits)."""

    def __init__(self, status, message, category="VALIDATION_ERROR", context=None, sub_category=None, errors=None,
                 headers=None, body=None):
        super().__init__(message)
        self.status, self.message, self.category = status, message, category
        self.context, self.sub_category, self.errors = context, sub_category, errors
        self.headers = dict(headers or {})
        self._body = body

    def body(self):
        if self._body is not None:
            return self._body
        body = {"status": "error", "message": self.message, "correlationId": correlation_id(), "category": self.category}
        if self.sub_category:
            body["subCategory"] = self.sub_category
        if self.context:
            body["context"] = self.context
        if self.errors:
            body["errors"] = self.errors
        return body

    def standard(self):
        """The StandardError of a 207 answer's errors[] (status is a string there)."""
        error = {"status": "error", "category": self.category, "message": self.message, "context": self.context or {},
                 "errors": self.errors or [], "links": {}}
        if self.sub_category:
            error["subCategory"] = self.sub_category
        return error


def bad_json(message):
    return HubSpotError(400, f"Invalid input JSON on line 1, column 1: {message}")


def unknown_field(name, cls):
    return bad_json(f'Unrecognized field "{name}" (class {cls}), not marked as ignorable')


def not_found(message="resource not found"):
    return HubSpotError(404, message, "OBJECT_NOT_FOUND")


def iso(ms):
    """Epoch milliseconds → 2024-05-02T10:00:00.000Z (HubSpot's createdAt/updatedAt form)."""
    dt = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=int(ms))
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ms) % 1000:03d}Z"


_MS_RE = re.compile(r"-?\d+")


def parse_time_ms(value):
    """Epoch milliseconds (digits) or ISO 8601 (date, or date-time with Z or an offset) → epoch ms; None if
    neither."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if _MS_RE.fullmatch(text):
        return int(text)
    try:
        if len(text) == 10:
            dt = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        else:
            dt = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return int(round(dt.timestamp() * 1000))


def parse_number(value):
    try:
        number = Decimal(value.strip())
    except (InvalidOperation, AttributeError):
        return None
    return number if number.is_finite() else None


_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


# ---------------------------------------------------------------------------------------------
# 3. The store
# ---------------------------------------------------------------------------------------------


class Rec:
    """One CRM record. ``props`` holds the wire strings (only set values); ``num`` the numbers of its number
    and datetime properties (datetimes in epoch ms), for search."""

    __slots__ = ("id", "type", "props", "num", "created", "updated", "archived", "archived_at")

    def __init__(self, id, type, created):
        self.id, self.type = id, type
        self.props, self.num = {}, {}
        self.created = self.updated = created
        self.archived, self.archived_at = False, None


class Store:
    """All the fake's data, guarded by one lock: records per type, unique indexes, associations (both
    directions), the changes not yet sent as webhooks."""

    def __init__(self, clock, extra_props=()):
        self.lock = threading.RLock()
        self.clock = clock
        self.extra_props = list(extra_props)  # (type, Prop) from the CLI, kept across resets
        self.reset()

    def reset(self):
        with self.lock:
            self.records = {t: {} for t in TYPE_NAMES}
            self.order = {t: [] for t in TYPE_NAMES}  # int ids, sorted
            self.unique = {t: {} for t in TYPE_NAMES}  # type → prop → key → id (live records only)
            self.types = build_types()
            for type_name, prop in self.extra_props:
                self.add_property(type_name, Prop(prop.name, prop.type, prop.options, unique=prop.unique, custom=True))
            self.assoc = {}  # (type, id) → {to_type: {to_id: set(type ids)}}
            self.next_id = 1001  # one sequence for all types: an id of one type is never an id of another
            self.changes = []  # what webhooks would report, oldest first, not yet sent
            self.event_id = 0
            self.seed_counter = 0
            self.deliveries = []

    def now_ms(self):
        return int(round(self.clock.time() * 1000))

    def type(self, name):
        t = _TYPE_ALIASES.get(name)
        if t is None:
            raise HubSpotError(400, f"Unable to infer object type from: {name}", "OBJECT_NOT_FOUND")
        return self.types[t]

    def add_property(self, type_name, prop):
        self.types[type_name].props[prop.name] = prop
        if prop.unique:
            self.unique[type_name].setdefault(prop.name, {})
        return prop

    @staticmethod
    def unique_key(prop_name, value):
        return value.lower() if prop_name == "email" else value

    # -- lookups -----------------------------------------------------------------------------

    def get(self, t, id, archived=False, id_property=None):
        """The record with this id (or this unique value of ``id_property``); None if none (of that archived
        state)."""
        if id_property and id_property != "hs_object_id":
            prop = t.props.get(id_property)
            if prop is None or not prop.unique:
                raise HubSpotError(400, f"{id_property} is not a unique property of {t.name}; idProperty must name a "
                                        f"property with unique values", context={"idProperty": [id_property]})
            if archived:
                return next((r for r in self.records[t.name].values()
                             if r.archived and self.unique_key(id_property, r.props.get(id_property) or "")
                             == self.unique_key(id_property, id)), None)
            found = self.unique[t.name].get(id_property, {}).get(self.unique_key(id_property, id))
            return self.records[t.name].get(found) if found else None
        rec = self.records[t.name].get(id)
        if rec is None or rec.archived != archived:
            return None
        return rec

    # -- writes --------------------------------------------------------------------------------

    def check_unique(self, t, props, own_id=None):
        for name, value in props.items():
            prop = t.props.get(name)
            if value is None or prop is None or not prop.unique:
                continue
            existing = self.unique[t.name].get(name, {}).get(self.unique_key(name, value))
            if existing and existing != own_id:
                if name == "email":
                    message = f"{t.singular.capitalize()} already exists. Existing ID: {existing}"
                else:
                    message = (f"{t.singular.capitalize()} with {name} '{value}' already exists: {name} must be "
                               f"unique. Existing ID: {existing}")
                raise HubSpotError(409, message, "CONFLICT", context={"id": [existing]})

    def _index(self, t, rec, add):
        for name, prop in t.props.items():
            if prop.unique and name in rec.props:
                index = self.unique[t.name].setdefault(name, {})
                key = self.unique_key(name, rec.props[name])
                if add:
                    index[key] = rec.id
                elif index.get(key) == rec.id:
                    del index[key]

    def _set(self, t, rec, name, value):
        """Sets (or with None clears) one normalized value and its number for search."""
        prop = t.props[name]
        if value is None:
            rec.props.pop(name, None)
            rec.num.pop(name, None)
            return
        if prop.type == "datetime":
            ms = parse_time_ms(value)
            rec.props[name], rec.num[name] = iso(ms), ms
        elif prop.type == "number":
            rec.props[name], rec.num[name] = value, float(Decimal(value))
        else:
            rec.props[name] = value

    def create(self, t, props, at=None, source="INTEGRATION", record=True, id=None):
        """A new record from validated properties (None values are dropped)."""
        self.check_unique(t, props)
        now = self.now_ms() if at is None else at
        if id is None:
            id = str(self.next_id)
            self.next_id += 1
        else:
            if id in self.records[t.name]:
                raise HubSpotError(409, f"{t.singular} {id} already exists", "CONFLICT")
            self.next_id = max(self.next_id, int(id) + 1)
        created = now
        if props.get("createdate") is not None:
            created = parse_time_ms(props["createdate"])
        rec = Rec(id, t.name, created)
        rec.updated = now
        for name, value in props.items():
            if value is not None:
                self._set(t, rec, name, value)
        self._stamp(t, rec, now)
        self._set(t, rec, "createdate", str(created))
        self._set(t, rec, "hs_object_id", id)
        self.records[t.name][id] = rec
        order = self.order[t.name]
        if not order or order[-1] < int(id):
            order.append(int(id))
        else:
            bisect.insort(order, int(id))
        self._index(t, rec, True)
        if record:
            self.change(t, rec, "creation", changeFlag="CREATED", source=source, at=now)
            for name, value in sorted(props.items()):
                if value is not None:
                    self.change(t, rec, "propertyChange", propertyName=name, propertyValue=rec.props[name],
                                source=source, at=now)
        return rec

    def _stamp(self, t, rec, now):
        rec.updated = now
        for name in t.modified_props():
            self._set(t, rec, name, str(now))

    def update(self, t, rec, props, at=None, source="INTEGRATION", record=True):
        self.check_unique(t, props, own_id=rec.id)
        now = self.now_ms() if at is None else at
        self._index(t, rec, False)
        changed = []
        for name, value in props.items():
            before = rec.props.get(name)
            self._set(t, rec, name, value)
            if rec.props.get(name) != before:
                changed.append(name)
        if "createdate" in props and props["createdate"] is not None:
            rec.created = rec.num["createdate"]
        self._stamp(t, rec, now)  # every write moves the modified date, a write of the same values too
        self._index(t, rec, True)
        if record:
            for name in changed:
                self.change(t, rec, "propertyChange", propertyName=name, propertyValue=rec.props.get(name, ""),
                            source=source, at=now)
        return rec

    def archive(self, t, rec, source="INTEGRATION", at=None, record=True):
        if rec.archived:
            return
        now = self.now_ms() if at is None else at
        self._index(t, rec, False)
        rec.archived, rec.archived_at = True, now
        if record:
            self.change(t, rec, "deletion", changeFlag="DELETED", source=source, at=now)

    def restore(self, t, rec, source="CRM_UI"):
        if not rec.archived:
            return
        self.check_unique(t, rec.props, own_id=rec.id)
        rec.archived, rec.archived_at = False, None
        self._index(t, rec, True)
        self._stamp(t, rec, self.now_ms())
        self.change(t, rec, "restore", changeFlag="RESTORED", source=source)

    # -- associations ---------------------------------------------------------------------------

    def associate(self, from_t, from_id, to_t, to_id, type_id, record=True, source="INTEGRATION"):
        """Adds one association type and its reverse; returns True if it was new."""
        reverse = REVERSE[type_id]
        forward = self.assoc.setdefault((from_t, from_id), {}).setdefault(to_t, {}).setdefault(to_id, set())
        new = type_id not in forward
        forward.add(type_id)
        self.assoc.setdefault((to_t, to_id), {}).setdefault(from_t, {}).setdefault(from_id, set()).add(reverse)
        if new and record:
            self._association_change(from_t, from_id, to_t, to_id, type_id, False, source)
        return new

    def dissociate(self, from_t, from_id, to_t, to_id, type_ids=None, source="INTEGRATION"):
        targets = self.assoc.get((from_t, from_id), {}).get(to_t, {})
        types = targets.get(to_id, set())
        removing = set(types) if type_ids is None else types & set(type_ids)
        for type_id in removing:
            types.discard(type_id)
            back = self.assoc.get((to_t, to_id), {}).get(from_t, {}).get(from_id, set())
            back.discard(REVERSE[type_id])
            if not back:
                self.assoc[(to_t, to_id)][from_t].pop(from_id, None)
            self._association_change(from_t, from_id, to_t, to_id, type_id, True, source)
        if not types:
            targets.pop(to_id, None)
        return bool(removing)

    def associations(self, from_t, from_id, to_t):
        """{to_id: sorted type ids} of the live records of ``to_t`` associated with the record."""
        targets = self.assoc.get((from_t, from_id), {}).get(to_t, {})
        live = self.records[to_t]
        return {to_id: sorted(types) for to_id, types in sorted(targets.items(), key=lambda kv: int(kv[0]))
                if types and to_id in live and not live[to_id].archived}

    def _association_change(self, from_t, from_id, to_t, to_id, type_id, removed, source):
        t = self.types[from_t]
        rec = self.records[from_t].get(from_id)
        if rec is None:
            return
        self.change(t, rec, "associationChange", source=source,
                    associationType=f"{t.upper}_TO_{self.types[to_t].upper}", fromObjectId=int(from_id),
                    toObjectId=int(to_id), associationRemoved=removed,
                    isPrimaryAssociation=ASSOC_TYPES[type_id][2] == "Primary", associationTypeId=type_id)

    # -- changes (for webhooks) -------------------------------------------------------------------

    def change(self, t, rec, kind, source="INTEGRATION", at=None, **fields):
        change = {"subscriptionType": f"{t.singular}.{kind}", "objectId": int(rec.id),
                  "occurredAt": self.now_ms() if at is None else at, "changeSource": source,
                  "sourceId": "userId:42" if source == "CRM_UI" else "fake-hubspot", **fields}
        self.changes.append(change)
        if len(self.changes) > 200_000:
            del self.changes[:100_000]


# ---------------------------------------------------------------------------------------------
# 4. CRM calls: input checks, output shapes, objects, batch, properties
# ---------------------------------------------------------------------------------------------


def want_object(value, cls):
    if not isinstance(value, dict):
        raise bad_json(f"Cannot deserialize value of type `{cls}` from {type(value).__name__}")
    return value


def check_fields(body, allowed, cls):
    want_object(body, cls)
    for name in body:
        if name not in allowed:
            raise unknown_field(name, cls)
    return body


def want_list(value, name):
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_json(f'field "{name}" must be an array')
    return value


def want_string(value, name, required=True):
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and value == ""):
        raise bad_json(f'field "{name}" must be a string') if value is not None else \
            HubSpotError(400, f"{name} is required", context={"missing": [name]})
    return value


def invalid_properties(problems):
    """400 VALIDATION_ERROR as HubSpot words a write with invalid properties: the message carries the
    per-property list as JSON."""
    listed = [{"isValid": False, "message": m, "error": code, "name": name, "localizedErrorMessage": m}
              for name, code, m in problems]
    errors = [{"message": m, "code": code, "context": {"propertyName": [name]}} for name, code, m in problems]
    return HubSpotError(400, "Property values were not valid: " + json.dumps(listed, separators=(",", ":")),
                        context={"propertyName": [name for name, _, _ in problems]}, errors=errors)


def validate_properties(t, given, creating, store=None):
    """The properties of a write, normalized (None clears a value); raises 400 VALIDATION_ERROR listing every
    invalid one."""
    if not isinstance(given, dict):
        raise bad_json('field "properties" must be an object of property names to string values')
    problems, out = [], {}
    for name, value in given.items():
        prop = t.props.get(name)
        if prop is None:
            problems.append((name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
            continue
        if prop.readonly:
            problems.append((name, "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.'))
            continue
        if not isinstance(value, str):
            problems.append((name, "INVALID_TYPE", f'Property "{name}": property values are strings on the wire; got '
                                                   f'{json.dumps(value)}'))
            continue
        if value == "":
            out[name] = None
            continue
        if prop.type == "number" and parse_number(value) is None:
            problems.append((name, "INVALID_DECIMAL", f"{value} was not a valid number."))
        elif prop.type == "datetime" and parse_time_ms(value) is None:
            problems.append((name, "INVALID_DATE", f"{value} was not a valid date: use epoch milliseconds or ISO 8601"))
        elif prop.type == "enumeration" and value not in (prop.options or []):
            problems.append((name, "INVALID_OPTION", f"{value} was not one of the allowed options: "
                                                     f"[{', '.join(prop.options or [])}]"))
        elif prop.type == "bool" and value.lower() not in ("true", "false"):
            problems.append((name, "INVALID_BOOLEAN", f"{value} was not a valid boolean: true or false"))
        elif name == "email" and t.name == "contacts" and not _EMAIL_RE.fullmatch(value):
            problems.append((name, "INVALID_EMAIL", f"Email address {value} is invalid"))
        elif name == "hs_product_id" and store is not None and store.get(store.types["products"], value) is None:
            problems.append((name, "INVALID_PROPERTY_VALUE", f"Product with id {value} does not exist"))
        else:
            out[name] = value.lower() if prop.type == "bool" else value
    if creating:
        for name in t.required:
            if out.get(name) is None:
                problems.append((name, "REQUIRED_PROPERTY", f'Property "{name}" is required'))
    if problems:
        raise invalid_properties(problems)
    return out


def query_list(query, name):
    """?properties=a,b and ?properties=a&properties=b alike."""
    values = []
    for raw in query.get(name, []):
        values.extend(v for v in raw.split(",") if v)
    return values


def query_bool(query, name):
    raw = (query.get(name) or ["false"])[-1]
    if raw.lower() not in ("true", "false"):  # any case: hubspot-api-client sends archived=True
        raise HubSpotError(400, f"{name} must be true or false; got {raw}")
    return raw.lower() == "true"


def query_int(query, name, default, maximum, minimum=1):
    raw = (query.get(name) or [None])[-1]
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HubSpotError(400, f"{name} must be an integer; got {raw}") from None
    if value < minimum or value > maximum:
        raise HubSpotError(400, f"{name} must be between {minimum} and {maximum}; got {value}")
    return value


def show(store, t, rec, wanted=None, history=None, associations=None, all_set=False, trace=None, new=None):
    """A record as SimplePublicObject. ``wanted`` None: the type's default properties; a list: those (known
    but unset ones as null; unknown names left out); ``all_set``: every property with a value (write answers).
    hs_object_id, createdate and the modified date(s) are always there."""
    props = {}
    if all_set:
        names = list(rec.props)
    else:
        names = [n for n in (t.defaults if wanted is None else wanted) if n in t.props]
        names += ["hs_object_id", "createdate", t.modified]
    for name in names:
        props[name] = rec.props.get(name)
    out = {"id": rec.id, "properties": dict(sorted(props.items())), "createdAt": iso(rec.created),
           "updatedAt": iso(rec.updated), "archived": rec.archived}
    if rec.archived:
        out["archivedAt"] = iso(rec.archived_at)
    if history:
        out["propertiesWithHistory"] = {
            n: [{"value": rec.props[n], "timestamp": iso(rec.updated), "sourceType": "API", "sourceId": "fake-hubspot",
                 "updatedByUserId": 0}] for n in history if n in t.props and n in rec.props}
    if associations:
        found = {}
        for to_name in associations:
            to = _TYPE_ALIASES.get(to_name)
            if to is None:
                continue
            linked = store.associations(t.name, rec.id, to)
            results = [{"id": to_id, "type": ASSOC_TYPES[type_id][3]} for to_id, types in linked.items() for type_id in types]
            if results:
                found[to_name] = {"results": results}
        if found:
            out["associations"] = found
    if trace is not None:
        out["objectWriteTraceId"] = trace
    if new is not None:
        out["new"] = new
    return out


def batch_answer(store, results, errors=None, status_ok=200, started=None):
    now = iso(store.now_ms())
    body = {"status": "COMPLETE", "results": results, "requestedAt": started or now, "startedAt": started or now,
            "completedAt": now, "links": {}}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
        return 207, body
    return status_ok, body


def association_inputs(store, t, items, cls="PublicAssociationsForObject"):
    """The associations of a create: [{"to": {"id"}, "types": [{associationCategory, associationTypeId}]}] →
    [(to_type, to_id, type_id)]; 400 for an unknown type id, a type id of another object type, a missing target."""
    pairs = []
    for item in want_list(items, "associations"):
        check_fields(item, ("to", "types"), cls)
        to = check_fields(item.get("to"), ("id",), "PublicObjectId")
        to_id = want_string(to.get("id"), "to.id")
        for spec in want_list(item.get("types"), "types"):
            check_fields(spec, ("associationCategory", "associationTypeId"), "AssociationSpec")
            type_id = spec.get("associationTypeId")
            if spec.get("associationCategory") not in CATEGORIES:
                raise bad_json(f"associationCategory must be one of {', '.join(CATEGORIES)}")
            known = ASSOC_TYPES.get(type_id) if isinstance(type_id, int) and not isinstance(type_id, bool) else None
            if known is None or spec["associationCategory"] != "HUBSPOT_DEFINED" or known[0] != t.name:
                raise HubSpotError(400, f"{spec.get('associationCategory')} association type {type_id} is not valid "
                                        f"from {t.name}", context={"associationTypeId": [str(type_id)]})
            if store.get(store.types[known[1]], to_id) is None:
                raise HubSpotError(400, f"No {known[1]} with id {to_id} to associate", "VALIDATION_ERROR",
                                   context={"toObjectId": [to_id]})
            pairs.append((known[1], to_id, type_id))
    return pairs


def create_one(store, t, body, cls="SimplePublicObjectInputForCreate", source="INTEGRATION"):
    check_fields(body, ("properties", "associations", "objectWriteTraceId"), cls)
    props = validate_properties(t, body.get("properties", {}), True, store)
    pairs = association_inputs(store, t, body.get("associations"))
    rec = store.create(t, props, source=source)
    for to_t, to_id, type_id in pairs:
        store.associate(t.name, rec.id, to_t, to_id, type_id)
    return rec


def batch_inputs(body, allowed, cls, item_fields, item_cls):
    check_fields(body, allowed, cls)
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise bad_json('field "inputs" must be an array') if inputs is not None else \
            HubSpotError(400, "inputs is required", context={"missing": ["inputs"]})
    if len(inputs) > BATCH_MAX:
        raise HubSpotError(400, f"Batch input size {len(inputs)} is over the limit of {BATCH_MAX} inputs per call",
                           context={"inputs": [str(len(inputs))]})
    for item in inputs:
        check_fields(item, item_fields, item_cls)
    return inputs


def partial_ok(inputs):
    """HubSpot answers 207 with per-input errors only when each input carries its own objectWriteTraceId;
    otherwise one invalid input fails the whole call."""
    traces = [i.get("objectWriteTraceId") for i in inputs]
    return bool(inputs) and all(isinstance(x, str) and x for x in traces) and len(set(traces)) == len(traces)


def no_duplicates(inputs, key="id"):
    seen, dupes = set(), []
    for item in inputs:
        value = item.get(key)
        if value in seen:
            dupes.append(value)
        seen.add(value)
    if dupes:
        raise HubSpotError(400, f"Duplicate IDs found in batch input: {dupes}", context={"ids": [str(d) for d in dupes]})


def batch_create(store, t, body):
    inputs = batch_inputs(body, ("inputs",), "BatchInputSimplePublicObjectBatchInputForCreate",
                          ("properties", "associations", "objectWriteTraceId"), "SimplePublicObjectBatchInputForCreate")
    started = iso(store.now_ms())
    partial = partial_ok(inputs)
    checked, errors = [], []
    for item in inputs:
        try:
            props = validate_properties(t, item.get("properties", {}), True, store)
            pairs = association_inputs(store, t, item.get("associations"))
            checked.append((item, props, pairs))
        except HubSpotError as e:
            if not partial:
                raise
            e.context = {**(e.context or {}), "objectWriteTraceId": [item["objectWriteTraceId"]]}
            errors.append(e.standard())
    pending = {}
    for item, props, _ in checked:  # unique values: against the store and within the call
        for name, value in props.items():
            prop = t.props[name]
            if prop.unique and value is not None:
                key = (name, store.unique_key(name, value))
                if key in pending and not partial:
                    raise HubSpotError(409, f"Duplicate {name} in batch input: {value}", "CONFLICT")
                pending.setdefault(key, item)
    results = []
    for item, props, pairs in checked:
        try:
            rec = store.create(t, props)
        except HubSpotError as e:
            if not partial:
                raise
            errors.append(e.standard())
            continue
        for to_t, to_id, type_id in pairs:
            store.associate(t.name, rec.id, to_t, to_id, type_id)
        results.append(show(store, t, rec, all_set=True, trace=item.get("objectWriteTraceId")))
    return batch_answer(store, results, errors, 201, started)


def batch_read(store, t, body, query):
    inputs = batch_inputs(body, ("inputs", "properties", "propertiesWithHistory", "idProperty"),
                          "BatchReadInputSimplePublicObjectId", ("id",), "SimplePublicObjectId")
    archived = query_bool(query, "archived")
    wanted = body.get("properties") or None
    history = body.get("propertiesWithHistory") or None
    id_property = body.get("idProperty")
    results, missing, seen = [], [], set()
    for item in inputs:
        id = want_string(item.get("id"), "id")
        rec = store.get(t, id, archived, id_property)
        if rec is None:
            missing.append(id)
        elif rec.id not in seen:
            seen.add(rec.id)
            results.append(show(store, t, rec, wanted, history))
    errors = None
    if missing:
        errors = [HubSpotError(404, f"Could not get some {t.upper} objects, they may be deleted or not exist. Check "
                                    f"that ids are valid.", "OBJECT_NOT_FOUND", context={"ids": missing}).standard()]
    return batch_answer(store, results, errors)


def batch_update(store, t, body, upsert=False):
    cls = "BatchInputSimplePublicObjectBatchInputUpsert" if upsert else "BatchInputSimplePublicObjectBatchInput"
    inputs = batch_inputs(body, ("inputs",), cls, ("id", "idProperty", "properties", "objectWriteTraceId"),
                          "SimplePublicObjectBatchInput")
    started = iso(store.now_ms())
    partial = partial_ok(inputs)
    no_duplicates(inputs)
    plan, errors = [], []
    for item in inputs:
        try:
            id = want_string(item.get("id"), "id")
            id_property = item.get("idProperty")
            if upsert:
                if not id_property:
                    raise HubSpotError(400, "idProperty is required for an upsert: the name of a property with unique "
                                            "values", context={"idProperty": []})
                prop = t.props.get(id_property)
                if prop is None or not prop.unique or id_property == "hs_object_id":
                    raise HubSpotError(400, f"{id_property} is not a unique property of {t.name}; idProperty must name "
                                            "a property with unique values", context={"idProperty": [id_property]})
            rec = store.get(t, id, False, id_property)
            props = validate_properties(t, item.get("properties", {}), upsert and rec is None, store)
            if rec is None and not upsert:
                raise HubSpotError(404, f"Could not get some {t.upper} objects, they may be deleted or not exist. "
                                        "Check that ids are valid.", "OBJECT_NOT_FOUND", context={"ids": [id]})
            if upsert and rec is None:
                if props.get(id_property) not in (None, id):
                    raise invalid_properties([(id_property, "INVALID_PROPERTY_VALUE",
                                               f"{id_property} in properties ({props[id_property]}) differs from the id "
                                               f"of the upsert ({id})")])
                validate_properties(t, {id_property: id}, False, store)
                props[id_property] = id
            plan.append((item, rec, props))
        except HubSpotError as e:
            if e.status == 404 and not upsert:  # missing records do not fail the others
                errors.append(e.standard())
                continue
            if not partial:
                raise
            e.context = {**(e.context or {}), "objectWriteTraceId": [item["objectWriteTraceId"]]}
            errors.append(e.standard())
    results = []
    for item, rec, props in plan:
        try:
            new = rec is None
            rec = store.create(t, props) if new else store.update(t, rec, props)
        except HubSpotError as e:
            if not partial:
                raise
            errors.append(e.standard())
            continue
        results.append(show(store, t, rec, all_set=True, trace=item.get("objectWriteTraceId"),
                            new=new if upsert else None))
    return batch_answer(store, results, errors, 200, started)


def batch_archive(store, t, body):
    inputs = batch_inputs(body, ("inputs",), "BatchInputSimplePublicObjectId", ("id",), "SimplePublicObjectId")
    for item in inputs:
        rec = store.get(t, want_string(item.get("id"), "id"))
        if rec is not None:
            store.archive(t, rec)
    return 204, None


def list_objects(store, t, query, base_url, path):
    limit = query_int(query, "limit", 10, LIST_LIMIT_MAX)
    archived = query_bool(query, "archived")
    wanted = query_list(query, "properties") or None
    history = query_list(query, "propertiesWithHistory") or None
    associations = query_list(query, "associations") or None
    after = (query.get("after") or [None])[-1]
    order = store.order[t.name]
    start = 0
    if after is not None:
        if not after.isdigit():
            raise HubSpotError(400, f"after must be a paging cursor from paging.next.after; got {after}")
        start = bisect.bisect_left(order, int(after))
    records = store.records[t.name]
    results, next_after = [], None
    for i in range(start, len(order)):
        rec = records[str(order[i])]
        if rec.archived != archived:
            continue
        if len(results) == limit:
            next_after = rec.id
            break
        results.append(show(store, t, rec, wanted, history, associations))
    body = {"results": results}
    if next_after is not None:
        body["paging"] = {"next": {"after": next_after, "link": f"{base_url}{path}?after={next_after}"}}
    return 200, body


def properties_api(store, t, method, name, body):
    now = iso(store.now_ms())
    if method == "GET" and name is None:
        return 200, {"results": [p.describe(now) for p in t.props.values()]}
    if method == "GET":
        prop = t.props.get(name)
        if prop is None:
            raise not_found(f"Unable to find property {name} on {t.name}")
        return 200, prop.describe(now)
    if method == "POST" and name is None:
        check_fields(body, ("name", "label", "type", "fieldType", "groupName", "hasUniqueValue", "options", "description",
                            "displayOrder", "formField", "hidden", "calculationFormula", "externalOptions",
                            "referencedObjectType", "dataSensitivity"), "PropertyCreate")
        for required in ("name", "label", "type", "fieldType", "groupName"):
            want_string(body.get(required), required)
        if body["name"] in t.props:
            raise HubSpotError(409, f"Property named '{body['name']}' already exists.", "CONFLICT")
        kind = {"date": "datetime"}.get(body["type"], body["type"])
        if kind not in ("string", "number", "datetime", "enumeration", "bool"):
            raise HubSpotError(400, f"type must be one of string, number, date, datetime, enumeration, bool; got {body['type']}")
        options = [o.get("value") for o in want_list(body.get("options"), "options") if isinstance(o, dict)]
        prop = store.add_property(t.name, Prop(body["name"], kind, options or None, unique=bool(body.get("hasUniqueValue")),
                                               label=body["label"], custom=True, group=body["groupName"]))
        return 201, prop.describe(now)
    raise HubSpotError(405, f"HTTP {method} is not supported here", "VALIDATION_ERROR")


# ---------------------------------------------------------------------------------------------
# 5. Search
# ---------------------------------------------------------------------------------------------

OPERATORS = ("EQ", "NEQ", "GT", "GTE", "LT", "LTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY",
             "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN")
_TOKEN_SPLIT = re.compile(r"[^\w]+", re.UNICODE)


def _operand(t, prop, value, field):
    """A filter's value as the property compares it: epoch ms for a datetime, a float for a number, lower case
    text otherwise."""
    if not isinstance(value, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        else:
            raise HubSpotError(400, f"{field} of a filter on {prop.name} must be a string")
    if prop.type == "datetime":
        ms = parse_time_ms(value)
        if ms is None:
            raise HubSpotError(400, f"{value} is not a valid time for {prop.name}: use epoch milliseconds (or ISO 8601)",
                               context={"propertyName": [prop.name]})
        return ms
    if prop.type == "number":
        number = parse_number(value)
        if number is None:
            raise HubSpotError(400, f"{value} is not a valid number for {prop.name}", context={"propertyName": [prop.name]})
        return float(number)
    return value.lower()


def compile_filter(t, f):
    check_fields(f, ("propertyName", "operator", "value", "values", "highValue"), "Filter")
    name = f.get("propertyName")
    operator = f.get("operator")
    if operator not in OPERATORS:
        raise bad_json(f"Cannot deserialize value of type `FilterOperatorEnum` from String \"{operator}\": not one of "
                       f"the values accepted for Enum class: [{', '.join(OPERATORS)}]")
    prop = t.props.get(name) if isinstance(name, str) else None
    if prop is None:
        raise HubSpotError(400, f"There was a problem with the request: property {name!r} does not exist on {t.name}",
                           context={"propertyName": [str(name)]})
    numeric = prop.numeric

    def getter(rec):
        return rec.num.get(name) if numeric else (rec.props[name].lower() if name in rec.props else None)

    if operator in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        want = operator == "HAS_PROPERTY"
        return lambda rec: (name in rec.props) == want
    if operator in ("IN", "NOT_IN"):
        values = f.get("values")
        if not isinstance(values, list) or not values:
            raise HubSpotError(400, f"{operator} on {name} needs \"values\": a non-empty array")
        wanted = {_operand(t, prop, v, "values") for v in values}
        if operator == "IN":
            return lambda rec: getter(rec) in wanted
        return lambda rec: getter(rec) not in wanted
    if "value" not in f or f["value"] is None:
        raise HubSpotError(400, f"{operator} on {name} needs \"value\"")
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = str(f["value"]).lower()
        if "*" in pattern:
            match = lambda text: fnmatch.fnmatchcase(text, pattern)  # noqa: E731
        else:
            wanted = [x for x in _TOKEN_SPLIT.split(pattern) if x]
            match = lambda text: all(w in set(_TOKEN_SPLIT.split(text)) for w in wanted)  # noqa: E731
        if operator == "CONTAINS_TOKEN":
            return lambda rec: name in rec.props and match(rec.props[name].lower())
        return lambda rec: name not in rec.props or not match(rec.props[name].lower())
    value = _operand(t, prop, f["value"], "value")
    if operator == "BETWEEN":
        if f.get("highValue") is None:
            raise HubSpotError(400, f"BETWEEN on {name} needs \"highValue\"")
        high = _operand(t, prop, f["highValue"], "highValue")
        return lambda rec: (lambda v: v is not None and value <= v <= high)(getter(rec))
    compare = {"EQ": lambda v: v == value, "NEQ": lambda v: v != value, "GT": lambda v: v is not None and v > value,
               "GTE": lambda v: v is not None and v >= value, "LT": lambda v: v is not None and v < value,
               "LTE": lambda v: v is not None and v <= value}[operator]
    return lambda rec: compare(getter(rec))


def parse_sorts(t, sorts):
    """[{"propertyName", "direction"}] or the string form "name" / "-name" (descending); one sort at most."""
    sorts = want_list(sorts, "sorts")
    if len(sorts) > 1:
        raise HubSpotError(400, f"Search request has {len(sorts)} sorts; only one sort is allowed per search")
    out = []
    for sort in sorts:
        if isinstance(sort, str):
            name, descending = (sort[1:], True) if sort.startswith("-") else (sort, False)
        else:
            check_fields(sort, ("propertyName", "direction"), "Sort")
            name = sort.get("propertyName")
            direction = sort.get("direction", "ASCENDING")
            if direction not in ("ASCENDING", "DESCENDING"):
                raise bad_json(f"direction must be ASCENDING or DESCENDING; got {direction!r}")
            descending = direction == "DESCENDING"
        if name not in t.props:
            raise HubSpotError(400, f"There was a problem with the request: cannot sort by {name!r}: no such property "
                                    f"on {t.name}", context={"propertyName": [str(name)]})
        out.append((t.props[name], descending))
    return out


def search(store, t, body):
    check_fields(body, ("filterGroups", "sorts", "properties", "limit", "after", "query"), "PublicObjectSearchRequest")
    limit = body.get("limit", 10)
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise bad_json("limit must be an integer")
    if limit < 0 or limit > SEARCH_LIMIT_MAX:
        raise HubSpotError(400, f"limit must be between 0 and {SEARCH_LIMIT_MAX}; got {limit}",
                           context={"limit": [str(limit)]})
    after = body.get("after", 0)
    if isinstance(after, str) and after.strip() == "":
        after = 0
    try:
        after = int(after) if not isinstance(after, bool) else None
    except (TypeError, ValueError):
        after = None
    if after is None or after < 0:
        raise HubSpotError(400, f"after must be a number from paging.next.after; got {body.get('after')!r}")
    if after >= SEARCH_CAP:
        raise HubSpotError(400, f"There was a problem with the request: paging past {SEARCH_CAP} results is not "
                                f"supported (after={after}); narrow the query instead", context={"after": [str(after)]})
    groups = want_list(body.get("filterGroups"), "filterGroups")
    if len(groups) > MAX_FILTER_GROUPS:
        raise HubSpotError(400, f"Search request has {len(groups)} filterGroups; at most {MAX_FILTER_GROUPS} are allowed")
    compiled, total_filters = [], 0
    for group in groups:
        check_fields(group, ("filters",), "FilterGroup")
        filters = want_list(group.get("filters"), "filters")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise HubSpotError(400, f"A filterGroup has {len(filters)} filters; at most {MAX_FILTERS_PER_GROUP} are "
                                    "allowed per group")
        total_filters += len(filters)
        compiled.append([compile_filter(t, f) for f in filters])
    if total_filters > MAX_FILTERS_TOTAL:
        raise HubSpotError(400, f"Search request has {total_filters} filters; at most {MAX_FILTERS_TOTAL} are allowed "
                                "across all filterGroups")
    sorts = parse_sorts(t, body.get("sorts"))
    wanted = body.get("properties")
    if wanted is not None and (not isinstance(wanted, list) or not all(isinstance(p, str) for p in wanted)):
        raise bad_json('field "properties" must be an array of strings')
    text = body.get("query")
    if text is not None and not isinstance(text, str):
        raise bad_json('field "query" must be a string')
    if text is not None and len(text) > 3000:
        raise HubSpotError(400, "query is longer than 3000 characters")
    terms = [w for w in (text or "").lower().split() if w]

    def matches(rec):
        if compiled and not any(all(f(rec) for f in group) for group in compiled):
            return False
        if terms:
            blob = " ".join(rec.props.get(n, "") for n in t.defaults).lower()
            return all(term in blob for term in terms)
        return True

    found = [r for r in store.records[t.name].values() if not r.archived and matches(r)]
    found.sort(key=lambda r: int(r.id))  # ties (and no sort) by id, ascending
    for prop, descending in sorts:
        name = prop.name
        present = [r for r in found if (name in r.num if prop.numeric else name in r.props)]
        absent = [r for r in found if not (name in r.num if prop.numeric else name in r.props)]
        key = (lambda r: r.num[name]) if prop.numeric else (lambda r: r.props[name].lower())
        if descending:  # stable sort: equal values keep id order
            present.sort(key=key, reverse=True)
            present = _stable_desc(present, key)
        else:
            present.sort(key=key)
        found = present + absent
    total = len(found)
    page = found[after:min(after + limit, SEARCH_CAP)]
    results = [show(store, t, r, wanted or None) for r in page]
    answer = {"total": total, "results": results}
    if after + len(page) < total and limit > 0:
        answer["paging"] = {"next": {"after": str(after + len(page))}}
    return 200, answer


def _stable_desc(records, key):
    """Descending by key, equal keys in ascending id order."""
    out, i = [], 0
    while i < len(records):
        j = i
        while j < len(records) and key(records[j]) == key(records[i]):
            j += 1
        out.extend(sorted(records[i:j], key=lambda r: int(r.id)))
        i = j
    return out


# ---------------------------------------------------------------------------------------------
# 6. Associations v4
# ---------------------------------------------------------------------------------------------


def _assoc_types(type_ids):
    return [{"category": "HUBSPOT_DEFINED", "typeId": i, "label": ASSOC_TYPES[i][2]} for i in type_ids]


def _live(store, t, id, what="object"):
    rec = store.get(t, id)
    if rec is None:
        raise HubSpotError(404, f"No {t.singular} with id {id} exists", "OBJECT_NOT_FOUND",
                           context={f"{what}Id": [id]})
    return rec


def assoc_list(store, from_t, id, to_t, query, base_url, path):
    limit = query_int(query, "limit", ASSOC_LIMIT_MAX, ASSOC_LIMIT_MAX)
    after = (query.get("after") or ["0"])[-1]
    if not after.isdigit():
        raise HubSpotError(400, f"after must be a paging cursor from paging.next.after; got {after}")
    linked = list(store.associations(from_t.name, id, to_t.name).items())
    start = int(after)
    page = linked[start:start + limit]
    body = {"results": [{"toObjectId": to_id, "associationTypes": _assoc_types(types)} for to_id, types in page]}
    if start + limit < len(linked):
        body["paging"] = {"next": {"after": str(start + limit), "link": f"{base_url}{path}?after={start + limit}"}}
    return 200, body


def assoc_batch_read(store, from_t, to_t, body):
    inputs = batch_inputs(body, ("inputs",), "BatchInputPublicFetchAssociationsBatchRequest", ("id", "after"),
                          "PublicFetchAssociationsBatchRequest")
    results, errors = [], []
    for item in inputs:
        id = want_string(item.get("id"), "id")
        after = item.get("after") or "0"
        linked = list(store.associations(from_t.name, id, to_t.name).items())
        if not str(after).isdigit():
            raise HubSpotError(400, f"after must be a paging cursor; got {after}")
        start = int(after)
        page = linked[start:start + ASSOC_LIMIT_MAX]
        if not page:
            errors.append(HubSpotError(404, f"No {to_t.singular} is associated with {from_t.singular} {id}.",
                                       "OBJECT_NOT_FOUND", context={"fromObjectId": [id]},
                                       sub_category="crm.associations.NO_ASSOCIATIONS_FOUND").standard())
            continue
        result = {"from": {"id": id}, "to": [{"toObjectId": to_id, "associationTypes": _assoc_types(types)}
                                             for to_id, types in page]}
        if start + ASSOC_LIMIT_MAX < len(linked):
            result["paging"] = {"next": {"after": str(start + ASSOC_LIMIT_MAX)}}
        results.append(result)
    return batch_answer(store, results, errors)


def _default_type(from_t, to_t):
    type_id = DEFAULT_ASSOC.get((from_t.name, to_t.name))
    if type_id is None:
        raise HubSpotError(400, f"{from_t.name} cannot be associated with {to_t.name} in this fake",
                           context={"toObjectType": [to_t.name]})
    return type_id


def _specs(from_t, to_t, specs, cls="AssociationSpec"):
    type_ids = []
    for spec in want_list(specs, "types"):
        check_fields(spec, ("associationCategory", "associationTypeId"), cls)
        type_id = spec.get("associationTypeId")
        known = ASSOC_TYPES.get(type_id) if isinstance(type_id, int) and not isinstance(type_id, bool) else None
        if spec.get("associationCategory") not in CATEGORIES:
            raise bad_json(f"associationCategory must be one of {', '.join(CATEGORIES)}")
        if known is None or known[:2] != (from_t.name, to_t.name) or spec["associationCategory"] != "HUBSPOT_DEFINED":
            raise HubSpotError(400, f"{spec.get('associationCategory')} association type {type_id} is not valid from "
                                    f"{from_t.name} to {to_t.name}", context={"associationTypeId": [str(type_id)]})
        type_ids.append(type_id)
    if not type_ids:
        raise HubSpotError(400, "at least one association type is needed")
    return type_ids


def _pair(from_t, from_id, to_t, to_id, type_ids):
    labels = [ASSOC_TYPES[i][2] for i in type_ids if ASSOC_TYPES[i][2]]
    return {"fromObjectTypeId": from_t.type_id, "fromObjectId": from_id, "toObjectTypeId": to_t.type_id,
            "toObjectId": to_id, "labels": labels}


def _default_results(from_t, from_id, to_t, to_id, type_id):
    spec = lambda i: {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": i}  # noqa: E731
    return [{"from": {"id": from_id}, "to": {"id": to_id}, "associationSpec": spec(type_id)},
            {"from": {"id": to_id}, "to": {"id": from_id}, "associationSpec": spec(REVERSE[type_id])}]


def assoc_put_default(store, from_t, from_id, to_t, to_id):
    type_id = _default_type(from_t, to_t)
    _live(store, from_t, from_id, "fromObject")
    _live(store, to_t, to_id, "toObject")
    store.associate(from_t.name, from_id, to_t.name, to_id, type_id)
    return batch_answer(store, _default_results(from_t, from_id, to_t, to_id, type_id))


def assoc_put_labelled(store, from_t, from_id, to_t, to_id, body):
    if not isinstance(body, list):
        raise bad_json("the body must be an array of AssociationSpec")
    type_ids = _specs(from_t, to_t, body)
    _live(store, from_t, from_id, "fromObject")
    _live(store, to_t, to_id, "toObject")
    for type_id in type_ids:
        store.associate(from_t.name, from_id, to_t.name, to_id, type_id)
    all_types = store.associations(from_t.name, from_id, to_t.name).get(to_id, [])
    return 201, _pair(from_t, from_id, to_t, to_id, all_types)


def assoc_batch_create(store, from_t, to_t, body):
    inputs = batch_inputs(body, ("inputs",), "BatchInputPublicAssociationMultiPost", ("from", "to", "types"),
                          "PublicAssociationMultiPost")
    plan = []
    for item in inputs:
        from_id = want_string(check_fields(item.get("from"), ("id",), "PublicObjectId").get("id"), "from.id")
        to_id = want_string(check_fields(item.get("to"), ("id",), "PublicObjectId").get("id"), "to.id")
        type_ids = _specs(from_t, to_t, item.get("types"))
        _live(store, from_t, from_id, "fromObject")
        _live(store, to_t, to_id, "toObject")
        plan.append((from_id, to_id, type_ids))
    results = []
    for from_id, to_id, type_ids in plan:
        for type_id in type_ids:
            store.associate(from_t.name, from_id, to_t.name, to_id, type_id)
        results.append(_pair(from_t, from_id, to_t, to_id, store.associations(from_t.name, from_id, to_t.name)[to_id]))
    return batch_answer(store, results, None, 201)


def assoc_batch_default(store, from_t, to_t, body):
    inputs = batch_inputs(body, ("inputs",), "BatchInputPublicDefaultAssociationMultiPost", ("from", "to"),
                          "PublicDefaultAssociationMultiPost")
    type_id = _default_type(from_t, to_t)
    plan = []
    for item in inputs:
        from_id = want_string(check_fields(item.get("from"), ("id",), "PublicObjectId").get("id"), "from.id")
        to_id = want_string(check_fields(item.get("to"), ("id",), "PublicObjectId").get("id"), "to.id")
        _live(store, from_t, from_id, "fromObject")
        _live(store, to_t, to_id, "toObject")
        plan.append((from_id, to_id))
    results = []
    for from_id, to_id in plan:
        store.associate(from_t.name, from_id, to_t.name, to_id, type_id)
        results.extend(_default_results(from_t, from_id, to_t, to_id, type_id))
    return batch_answer(store, results)


def assoc_batch_archive(store, from_t, to_t, body, labels_only=False):
    if labels_only:
        inputs = batch_inputs(body, ("inputs",), "BatchInputPublicAssociationMultiPost", ("from", "to", "types"),
                              "PublicAssociationMultiPost")
    else:
        inputs = batch_inputs(body, ("inputs",), "BatchInputPublicAssociationMultiArchive", ("from", "to"),
                              "PublicAssociationMultiArchive")
    for item in inputs:
        from_id = want_string(check_fields(item.get("from"), ("id",), "PublicObjectId").get("id"), "from.id")
        if labels_only:
            to_id = want_string(check_fields(item.get("to"), ("id",), "PublicObjectId").get("id"), "to.id")
            store.dissociate(from_t.name, from_id, to_t.name, to_id, _specs(from_t, to_t, item.get("types")))
            continue
        for to in want_list(item.get("to"), "to"):
            to_id = want_string(check_fields(to, ("id",), "PublicObjectId").get("id"), "to.id")
            store.dissociate(from_t.name, from_id, to_t.name, to_id)
    return 204, None


# ---------------------------------------------------------------------------------------------
# 7. Tokens (private apps, OAuth) and rate limits
# ---------------------------------------------------------------------------------------------


class Auth:
    """Private-app tokens (never expire), OAuth access tokens (expire by the fake's clock), refresh tokens,
    authorization codes; a token can be revoked."""

    def __init__(self, clock, private_tokens, client_id, client_secret, refresh_tokens, ttl, rotate, scopes):
        self.lock = threading.Lock()
        self.clock = clock
        self.config = {"private": list(private_tokens), "refresh": list(refresh_tokens)}
        self.client_id, self.client_secret, self.ttl, self.rotate = client_id, client_secret, ttl, rotate
        self.scopes = scopes
        self.reset()

    def reset(self):
        with self.lock:
            self.tokens = {t: {"kind": "private", "revoked": False} for t in self.config["private"]}
            self.refresh = {t: {"client_id": self.client_id, "revoked": False} for t in self.config["refresh"]}
            self.codes = {}
            self.issued = 0

    def now_ms(self):
        return int(round(self.clock.time() * 1000))

    def issue(self, ttl=None, token=None):
        token = token or "CN" + secrets.token_hex(24)
        ttl = self.ttl if ttl is None else ttl
        self.tokens[token] = {"kind": "oauth", "client_id": self.client_id, "revoked": False,
                              "expires": self.now_ms() + int(ttl * 1000)}
        self.issued += 1
        return token, ttl

    def new_refresh(self, token=None):
        token = token or str(uuid.uuid4())
        self.refresh[token] = {"client_id": self.client_id, "revoked": False}
        return token

    def authenticate(self, header):
        """The token's record and its rate-limit bucket, or 401 as HubSpot answers."""
        scheme, _, value = (header or "").partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else ""
        with self.lock:
            entry = self.tokens.get(token) if token else None
            if entry is None or entry["revoked"]:
                raise HubSpotError(401, "Authentication credentials not found. This API supports OAuth 2.0 "
                                        "authentication and you can find more details at "
                                        "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                                   "INVALID_AUTHENTICATION")
            if entry["kind"] == "oauth":
                now = self.now_ms()
                if now >= entry["expires"]:
                    ago = (now - entry["expires"]) // 1000
                    raise HubSpotError(401, f"The OAuth token used to make this call expired {ago} second(s) ago.",
                                       "EXPIRED_AUTHENTICATION", context={"expire time": [iso(entry["expires"])]})
                return entry, "oauth:" + entry["client_id"]
            return entry, "private:" + token

    def token_call(self, form):
        """POST /oauth/v1/token (form-encoded)."""
        def refuse(status, message):
            return HubSpotError(400, message, body={"status": status, "message": message,
                                                    "correlationId": correlation_id(), "requestId": correlation_id()})
        grant = form.get("grant_type")
        if grant not in ("refresh_token", "authorization_code"):
            raise refuse("BAD_GRANT_TYPE", "missing or invalid grant_type: refresh_token or authorization_code")
        with self.lock:
            if form.get("client_id") != self.client_id:
                raise refuse("BAD_CLIENT_ID", "missing or unknown client id")
            if not hmac.compare_digest((form.get("client_secret") or "").encode(), self.client_secret.encode()):
                raise refuse("BAD_CLIENT_SECRET", "missing or invalid client secret")
            if grant == "refresh_token":
                old = form.get("refresh_token") or ""
                entry = self.refresh.get(old)
                if entry is None or entry["revoked"]:
                    raise refuse("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
                if self.rotate:
                    entry["revoked"] = True
            else:
                code = self.codes.pop(form.get("code") or "", None)
                if code is None:
                    raise refuse("BAD_AUTH_CODE", "missing or unknown auth code")
                if form.get("redirect_uri") != code["redirect_uri"]:
                    raise refuse("BAD_REDIRECT_URI", "redirect_uri does not match the one the code was issued for")
            access, ttl = self.issue()
            refresh = self.new_refresh()
        return {"token_type": "bearer", "access_token": access, "refresh_token": refresh, "expires_in": int(ttl),
                "hub_id": None, "scopes": list(self.scopes), "user_id": 42, "token_use": "access_token"}

    def revoke(self, token):
        with self.lock:
            found = False
            for table in (self.tokens, self.refresh):
                if token in table:
                    table[token]["revoked"] = found = True
            return found

    def describe(self):
        with self.lock:
            now = self.now_ms()
            return {"client_id": self.client_id, "rotate_refresh_tokens": self.rotate, "access_token_ttl": self.ttl,
                    "private_app_tokens": [t for t, e in self.tokens.items() if e["kind"] == "private" and not e["revoked"]],
                    "access_tokens": {t: {"expires_in": (e["expires"] - now) // 1000, "revoked": e["revoked"]}
                                      for t, e in self.tokens.items() if e["kind"] == "oauth"},
                    "refresh_tokens": {t: {"revoked": e["revoked"]} for t, e in self.refresh.items()},
                    "codes": sorted(self.codes), "issued": self.issued}


class RateLimiter:
    """Per bucket (a private-app token, or an OAuth client), ``max`` requests per rolling ``interval_ms`` of
    real (monotonic) time; a daily count per account by the fake's clock (UTC day); search: ``search_per_second``
    per account per rolling second."""

    def __init__(self, clock, max_requests=190, interval_ms=10_000, search_per_second=5, daily=625_000):
        self.lock = threading.Lock()
        self.clock = clock
        self.max, self.interval_ms, self.search_per_second, self.daily = max_requests, interval_ms, search_per_second, daily
        self.reset()

    def reset(self):
        with self.lock:
            self.windows = {}
            self.search_window = collections.deque()
            self.day, self.day_count = None, 0

    def configure(self, spec):
        allowed = {"max", "interval_ms", "search_per_second", "daily", "reset"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}; the rate-limit control takes {sorted(allowed)}")
        for name in ("max", "interval_ms", "search_per_second", "daily"):
            if name in spec:
                value = spec[name]
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"field '{name}' must be a whole number >= 0")
        with self.lock:
            self.max = spec.get("max", self.max)
            self.interval_ms = spec.get("interval_ms", self.interval_ms) or 1
            self.search_per_second = spec.get("search_per_second", self.search_per_second)
            self.daily = spec.get("daily", self.daily)
        if spec.get("reset"):
            self.reset()
        return self.describe()

    def describe(self):
        return {"max": self.max, "interval_ms": self.interval_ms, "search_per_second": self.search_per_second,
                "daily": self.daily}

    def _today(self):
        return datetime.fromtimestamp(self.clock.time(), timezone.utc).date()

    def _daily(self, private):
        """(headers, error or None) of the account's daily count; counts this request when it passes."""
        today = self._today()
        if today != self.day:
            self.day, self.day_count = today, 0
        headers = {}
        if self.day_count >= self.daily:
            midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), timezone.utc).timestamp()
            wait = max(1, math.ceil(midnight - self.clock.time()))
            if private:
                headers = {"X-HubSpot-RateLimit-Daily": str(self.daily), "X-HubSpot-RateLimit-Daily-Remaining": "0"}
            return headers, rate_limit_error("DAILY", wait, headers)
        self.day_count += 1
        if private:
            headers = {"X-HubSpot-RateLimit-Daily": str(self.daily),
                       "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily - self.day_count))}
        return headers, None

    def take(self, bucket):
        """Counts one request of a normal endpoint: its headers, or raises 429."""
        now = time.monotonic()
        with self.lock:
            window = self.windows.setdefault(bucket, collections.deque())
            horizon = now - self.interval_ms / 1000
            while window and window[0] <= horizon:
                window.popleft()
            headers = {"X-HubSpot-RateLimit-Interval-Milliseconds": str(self.interval_ms),
                       "X-HubSpot-RateLimit-Max": str(self.max)}
            if len(window) >= self.max:
                headers["X-HubSpot-RateLimit-Remaining"] = "0"
                wait = max(1, math.ceil(window[0] + self.interval_ms / 1000 - now)) if window else 1
                raise rate_limit_error("TEN_SECONDLY_ROLLING", wait, headers)
            daily_headers, error = self._daily(bucket.startswith("private:"))
            headers.update(daily_headers)
            if error:
                error.headers.update(headers)
                raise error
            window.append(now)
            headers["X-HubSpot-RateLimit-Remaining"] = str(max(0, self.max - len(window)))
            return headers

    def take_search(self, bucket):
        """Counts one search request (per account, per rolling second; no X-HubSpot-RateLimit headers)."""
        now = time.monotonic()
        with self.lock:
            window = self.search_window
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= self.search_per_second:
                raise rate_limit_error("SECONDLY", 1, {})
            _, error = self._daily(False)
            if error:
                raise error
            window.append(now)


def rate_limit_error(policy, retry_after, headers):
    message = {"TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
               "SECONDLY": "You have reached your secondly limit.",
               "DAILY": "You have reached your daily limit."}[policy]
    body = {"status": "error", "message": message, "errorType": "RATE_LIMIT", "correlationId": correlation_id(),
            "policyName": policy, "requestId": correlation_id(), "category": "RATE_LIMITS"}
    return HubSpotError(429, message, "RATE_LIMITS", headers={**headers, "Retry-After": str(retry_after)}, body=body)


# ---------------------------------------------------------------------------------------------
# 8. Webhooks
# ---------------------------------------------------------------------------------------------

SUBSCRIPTION_KINDS = ("creation", "deletion", "propertyChange", "associationChange", "restore", "merge",
                      "privacyDeletion")


def subscription_id(subscription_type):
    """A stable subscriptionId per subscription type (HubSpot gives one per subscription of the app)."""
    return 100_000 + int(hashlib.sha256(subscription_type.encode()).hexdigest()[:6], 16) % 900_000


def sign_v3(secret, method, uri, body, timestamp):
    """X-HubSpot-Signature-v3: base64(HMAC-SHA256(secret, method + uri + body + timestamp))."""
    source = method.encode() + uri.encode() + body + str(timestamp).encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def sign_v2(secret, method, uri, body):
    """X-HubSpot-Signature (version v2): hex(SHA-256(secret + method + uri + body))."""
    return hashlib.sha256(secret.encode() + method.encode() + uri.encode() + body).hexdigest()


def sign_v1(secret, body):
    """X-HubSpot-Signature (version v1): hex(SHA-256(secret + body))."""
    return hashlib.sha256(secret.encode() + body).hexdigest()


WEBHOOK_FIELDS = {"url", "client_secret", "events", "signature_version", "age", "forge", "unsigned", "batch_size",
                  "subscriptionTypes", "properties", "keep", "attempt_number", "raw", "timeout"}


def post_webhook(url, body, headers, timeout):
    """POSTs with http.client, which sends header names as written (urllib.request would send
    X-hubspot-signature-v3); returns the target's status and body, or the connection error."""
    record = {"status": None, "body": None, "error": None}
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        connection.request("POST", target, body, headers)
        answer = connection.getresponse()
        record["status"], record["body"] = answer.status, answer.read(4000).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as e:
        record["error"] = f"{type(e).__name__}: {e}"
    finally:
        connection.close()
    return record


# ---------------------------------------------------------------------------------------------
# 9. Seeding
# ---------------------------------------------------------------------------------------------

COUNTRIES = ("BE", "NL", "FR", "DE", "US", "GB", "ES", "IT")


def generated(type_name, n):
    """Valid properties for the n-th generated record of a type."""
    if type_name == "companies":
        return {"name": f"Company {n}", "domain": f"company{n}.example", "city": f"City {n % 97}",
                "country": COUNTRIES[n % len(COUNTRIES)], "phone": f"+32 2 555 {n:05d}"}
    if type_name == "contacts":
        return {"email": f"contact{n}@example.test", "firstname": f"First{n}", "lastname": f"Last{n}",
                "phone": f"+32 470 {n:06d}", "lifecyclestage": "lead"}
    if type_name == "deals":
        return {"dealname": f"Deal {n}", "amount": f"{1000 + n % 9000}.50", "dealstage": DEAL_STAGES[n % 5],
                "pipeline": "default", "deal_currency_code": "EUR"}
    if type_name == "products":
        return {"name": f"Product {n}", "price": f"{10 + n % 90}.00", "hs_sku": f"SKU-{n:06d}",
                "description": f"Generated product {n}"}
    return {"name": f"Line {n}", "quantity": str(1 + n % 5), "price": "10.00", "amount": f"{10 * (1 + n % 5)}.00"}


def _fast_create(store, t, props, at):
    """store.create without the checks (generated values are valid and unique); no webhook changes."""
    id = str(store.next_id)
    store.next_id += 1
    rec = Rec(id, t.name, at)
    rec.props = dict(props)
    for name, value in props.items():
        if t.props[name].type == "number":
            rec.num[name] = float(value)
    iso_at = iso(at)
    rec.props["hs_object_id"], rec.num["hs_object_id"] = id, float(id)
    rec.props["createdate"], rec.num["createdate"] = iso_at, at
    for name in t.modified_props():
        rec.props[name], rec.num[name] = iso_at, at
    store.records[t.name][id] = rec
    store.order[t.name].append(int(id))
    if t.name == "contacts":
        store.unique["contacts"].setdefault("email", {})[props["email"].lower()] = id
    return rec


def seed(store, spec):
    """POST /__fake__/seed: counts of generated records and/or explicit objects (see README.md)."""
    allowed = set(TYPE_NAMES) | {"objects", "associate", "step_ms", "start", "record_changes"}
    unknown = set(spec) - allowed
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}; seed takes counts per type ({', '.join(TYPE_NAMES)}), "
                         "objects, associate, step_ms, start, record_changes")
    created = {}
    refs = {}
    with store.lock:
        now = store.now_ms()
        step = spec.get("step_ms", 1)
        counts = {t: spec.get(t, 0) for t in TYPE_NAMES}
        for name, count in counts.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(f"field '{name}' must be a whole number of records")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError("field 'step_ms' must be a whole number of milliseconds")
        total = sum(counts.values())
        start = now - (total - 1) * step if spec.get("start") is None else _control_time(spec["start"], now)
        i = 0
        for name in TYPE_NAMES:
            t = store.types[name]
            ids = created.setdefault(name, [])
            for _ in range(counts[name]):
                store.seed_counter += 1
                n = store.seed_counter
                props = generated(name, n)
                if name == "contacts":
                    while props["email"].lower() in store.unique["contacts"].get("email", {}):
                        store.seed_counter += 1
                        n = store.seed_counter
                        props = generated(name, n)
                ids.append(_fast_create(store, t, props, start + i * step).id)
                i += 1
        if spec.get("associate"):
            companies = created.get("companies") or [r.id for r in store.records["companies"].values() if not r.archived]
            contacts = created.get("contacts") or []
            deals = created.get("deals") or []
            if companies:
                for k, id in enumerate(contacts):
                    store.associate("contacts", id, "companies", companies[k % len(companies)], 279, record=False)
                for k, id in enumerate(deals):
                    store.associate("deals", id, "companies", companies[k % len(companies)], 341, record=False)
            if contacts:
                for k, id in enumerate(deals):
                    store.associate("deals", id, "contacts", contacts[k % len(contacts)], 3, record=False)
            if deals:
                for k, id in enumerate(created.get("line_items") or []):
                    store.associate("line_items", id, "deals", deals[k % len(deals)], 20, record=False)
        record = bool(spec.get("record_changes"))
        pending_links = []
        for obj in spec.get("objects") or []:
            if not isinstance(obj, dict):
                raise ValueError("each of 'objects' is an object: {type, properties, id, ref, associations, "
                                 "createdAt, updatedAt, archived}")
            extra = set(obj) - {"type", "properties", "id", "ref", "associations", "createdAt", "updatedAt", "archived"}
            if extra:
                raise ValueError(f"unknown object fields {sorted(extra)}")
            t = store.type(obj.get("type", ""))
            props = validate_properties(t, obj.get("properties", {}), True, store)
            created_at = _control_time(obj.get("createdAt"), now)
            updated_at = _control_time(obj.get("updatedAt"), created_at)
            if obj.get("id") is not None and not str(obj["id"]).isdigit():
                raise ValueError("an object's 'id' must be digits")
            rec = store.create(t, props, at=created_at, source="CRM_UI", record=record,
                               id=None if obj.get("id") is None else str(int(obj["id"])))
            if props.get("createdate") is None:
                rec.created = created_at
                store._set(t, rec, "createdate", str(created_at))
            store._stamp(t, rec, updated_at)
            created.setdefault(t.name, []).append(rec.id)
            if obj.get("ref"):
                refs[str(obj["ref"])] = (t, rec.id)
            pending_links.append((t, rec, obj.get("associations") or []))
            if obj.get("archived"):
                store.archive(t, rec, source="CRM_UI", at=updated_at, record=record)
        for t, rec, links in pending_links:
            for link in links:
                to_t, to_id = _link_target(store, link, refs)
                type_id = link.get("typeId") or DEFAULT_ASSOC.get((t.name, to_t.name))
                if type_id not in ASSOC_TYPES or ASSOC_TYPES[type_id][:2] != (t.name, to_t.name):
                    raise ValueError(f"no association type {type_id} from {t.name} to {to_t.name}")
                store.associate(t.name, rec.id, to_t.name, to_id, type_id, record=record, source="CRM_UI")
    return {"created": created, "refs": {k: v[1] for k, v in refs.items()},
            "counts": {t: sum(1 for r in store.records[t].values() if not r.archived) for t in TYPE_NAMES}}


def _link_target(store, link, refs):
    if not isinstance(link, dict):
        raise ValueError("an association is {\"type\", \"id\" or \"ref\", \"typeId\"}")
    if link.get("ref") is not None:
        if str(link["ref"]) not in refs:
            raise ValueError(f"no object with ref {link['ref']!r} in this seed")
        return refs[str(link["ref"])]
    to_t = store.type(link.get("type", ""))
    to_id = str(link.get("id"))
    if to_id not in store.records[to_t.name]:
        raise ValueError(f"no {to_t.name} with id {to_id}")
    return to_t, to_id


def _control_time(value, default):
    """A time given to a control: epoch ms (int or digits) or ISO 8601; ``default`` when None."""
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    ms = parse_time_ms(value) if isinstance(value, str) else None
    if ms is None:
        raise ValueError(f"a time is epoch milliseconds or ISO 8601; got {value!r}")
    return ms


# ---------------------------------------------------------------------------------------------
# 10. The fake: routes, faults, controls
# ---------------------------------------------------------------------------------------------

SEG = r"([^/]+)"
ROUTES = [  # (method, pattern, handler name); checked in order
    ("POST", r"/oauth/v1/token", "oauth_token"),
    ("GET", rf"/oauth/v1/access-tokens/{SEG}", "oauth_access_info"),
    ("GET", rf"/oauth/v1/refresh-tokens/{SEG}", "oauth_refresh_info"),
    ("DELETE", rf"/oauth/v1/refresh-tokens/{SEG}", "oauth_refresh_delete"),
    ("POST", rf"/crm/v3/objects/{SEG}/search", "crm_search"),
    ("POST", rf"/crm/v3/objects/{SEG}/batch/(read|create|update|upsert|archive)", "crm_batch"),
    ("GET", rf"/crm/v3/objects/{SEG}", "crm_list"),
    ("POST", rf"/crm/v3/objects/{SEG}", "crm_create"),
    ("GET", rf"/crm/v3/objects/{SEG}/{SEG}", "crm_get"),
    ("PATCH", rf"/crm/v3/objects/{SEG}/{SEG}", "crm_update"),
    ("DELETE", rf"/crm/v3/objects/{SEG}/{SEG}", "crm_archive"),
    ("GET", rf"/crm/v3/properties/{SEG}", "crm_properties"),
    ("POST", rf"/crm/v3/properties/{SEG}", "crm_properties"),
    ("GET", rf"/crm/v3/properties/{SEG}/{SEG}", "crm_property"),
    ("PUT", rf"/crm/v4/objects/{SEG}/{SEG}/associations/default/{SEG}/{SEG}", "assoc_default"),
    ("GET", rf"/crm/v4/objects/{SEG}/{SEG}/associations/{SEG}", "assoc_get"),
    ("PUT", rf"/crm/v4/objects/{SEG}/{SEG}/associations/{SEG}/{SEG}", "assoc_labelled"),
    ("DELETE", rf"/crm/v4/objects/{SEG}/{SEG}/associations/{SEG}/{SEG}", "assoc_delete"),
    ("POST", rf"/crm/v4/associations/{SEG}/{SEG}/batch/(read|create|archive|associate/default|labels/archive)",
     "assoc_batch"),
]
ROUTES = [(m, re.compile(p), h) for m, p, h in ROUTES]
UNAUTHENTICATED = ("oauth_token", "oauth_access_info", "oauth_refresh_info", "oauth_refresh_delete")

FAULT_KINDS = ("rate_limit", "expired_token", "invalid_token")
_TOKEN_PATH = re.compile(r"(/oauth/v1/(?:access|refresh)-tokens/)(.+)")
POLICIES = ("TEN_SECONDLY_ROLLING", "SECONDLY", "DAILY")


def check_fault(spec):
    if spec.get("policy") is not None and spec["policy"] not in POLICIES:
        raise FaultSpecError(f"field 'policy' must be one of {', '.join(POLICIES)}; got {spec['policy']!r}")


class HubSpotFake(Fake):
    name = "fake-hubspot"
    server_header = "fake-hubspot (loopback)"
    http_methods = ("GET", "POST", "PUT", "PATCH", "DELETE")

    def __init__(self, auth_config, limits, portal_id=12345678, app_id=987654, extra_props=(), webhook_secret=None):
        super().__init__(fault_kinds=FAULT_KINDS, fault_fields=("policy",), fault_check=check_fault)
        self.store = Store(self.clock, extra_props)
        self.auth = Auth(self.clock, **auth_config)
        self.limits_config = dict(limits)
        self.limits = RateLimiter(self.clock, **limits)
        self.portal_id, self.app_id = portal_id, app_id
        self.webhook_secret = webhook_secret or self.auth.client_secret

    def reset(self):
        self.store.reset()
        self.auth.reset()
        self.limits = RateLimiter(self.clock, **self.limits_config)
        super().reset()  # faults, calls, clock

    def log(self, request, status, elapsed):
        """The base's request-log line, with the token of an OAuth introspection path masked."""
        path = request.path
        masked = _TOKEN_PATH.match(path)
        if masked:
            request.path = masked.group(1) + "…"
        try:
            super().log(request, status, elapsed)
        finally:
            request.path = path

    # -- answers ---------------------------------------------------------------------------------

    def hubspot_reply(self, status, body, headers=None):
        headers = {"X-HubSpot-Correlation-Id": correlation_id(), **(headers or {})}
        if status == 204 or body is None:
            return Reply(status, b"", JSON_TYPE, headers)
        return Reply(status, json.dumps(body, ensure_ascii=False).encode("utf-8"), JSON_TYPE, headers)

    def error_reply(self, status, message, headers):
        """HubSpot's shape for a base fault that gives no body."""
        if status == 429:
            error = rate_limit_error("TEN_SECONDLY_ROLLING", 1, {})
            return self.hubspot_reply(429, error.body(), headers)
        category = {401: "INVALID_AUTHENTICATION", 403: "MISSING_SCOPES", 404: "OBJECT_NOT_FOUND",
                    409: "CONFLICT"}.get(status, "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR")
        return self.hubspot_reply(status, HubSpotError(status, message, category).body(), headers)

    def bug_reply(self, exc):
        return self.hubspot_reply(500, HubSpotError(500, f"The fake failed: {type(exc).__name__} (traceback on its "
                                                         "stderr)", "INTERNAL_ERROR").body())

    def _fault_reply(self, fault):
        if fault.kind == "rate_limit":
            policy = fault.get("policy", "TEN_SECONDLY_ROLLING")
            headers = {} if policy == "SECONDLY" else {
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(self.limits.interval_ms),
                "X-HubSpot-RateLimit-Max": str(self.limits.max), "X-HubSpot-RateLimit-Remaining": "0"}
            error = rate_limit_error(policy, fault.get("retry_after", 1), headers)
        elif fault.kind == "expired_token":
            expired = self.store.now_ms() - 1000
            error = HubSpotError(401, "The OAuth token used to make this call expired 1 second(s) ago.",
                                 "EXPIRED_AUTHENTICATION", context={"expire time": [iso(expired)]})
        else:
            error = HubSpotError(401, "Authentication credentials not found. This API supports OAuth 2.0 "
                                      "authentication and you can find more details at "
                                      "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                                 "INVALID_AUTHENTICATION")
        return self.hubspot_reply(error.status, error.body(), {**error.headers, **fault.get("headers", {})})

    # -- the API -------------------------------------------------------------------------------------

    def handle(self, request):
        fault = request.fault
        if fault and fault.kind in FAULT_KINDS:
            return self._fault_reply(fault)
        headers = {}
        try:
            handler, groups = self._route(request)
            if handler not in UNAUTHENTICATED:
                _, bucket = self.auth.authenticate(request.headers.get("Authorization"))
                if handler == "crm_search":
                    self.limits.take_search(bucket)
                else:
                    headers = self.limits.take(bucket)
            status, body = getattr(self, handler)(request, *groups)
            return self.hubspot_reply(status, body, headers)
        except HubSpotError as e:
            return self.hubspot_reply(e.status, e.body(), {**headers, **e.headers})

    def _route(self, request):
        known = False
        for method, pattern, handler in ROUTES:
            match = pattern.fullmatch(request.path)
            if match:
                known = True
                if method == request.method:
                    return handler, [unquote(g) for g in match.groups()]
        if known:
            raise HubSpotError(405, f"HTTP {request.method} is not supported on {request.path}", "VALIDATION_ERROR")
        raise HubSpotError(404, f"No route {request.method} {request.path}: this fake covers only what its README.md "
                                "lists", "OBJECT_NOT_FOUND")

    def _body(self, request):
        try:
            return request.json()
        except (ValueError, UnicodeDecodeError) as e:
            raise bad_json(f"the body is not JSON ({e})") from None

    def _base_url(self, request):
        return f"http://{request.headers.get('Host') or '127.0.0.1'}"

    # OAuth
    def oauth_token(self, request):
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise HubSpotError(415, f"Content-Type must be application/x-www-form-urlencoded; got {content_type or 'none'}",
                               body={"status": "error", "message": "Unsupported Media Type: the token endpoint takes "
                                                                   "application/x-www-form-urlencoded",
                                     "correlationId": correlation_id(), "category": "VALIDATION_ERROR"})
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        answer = self.auth.token_call(form)
        answer["hub_id"] = self.portal_id
        return 200, answer

    def oauth_access_info(self, request, token):
        with self.auth.lock:
            entry = self.auth.tokens.get(token)
            if entry is None or entry["kind"] != "oauth" or entry["revoked"] or entry["expires"] <= self.store.now_ms():
                raise not_found("Token not found")
            remaining = (entry["expires"] - self.store.now_ms()) // 1000
        return 200, {"token": token, "user": "fake@example.test", "hub_domain": "fake-hubspot.example",
                     "scopes": list(self.auth.scopes), "hub_id": self.portal_id, "app_id": self.app_id,
                     "expires_in": remaining, "user_id": 42, "token_type": "access"}

    def oauth_refresh_info(self, request, token):
        with self.auth.lock:
            entry = self.auth.refresh.get(token)
            if entry is None or entry["revoked"]:
                raise not_found("Token not found")
        return 200, {"token": token, "user": "fake@example.test", "hub_domain": "fake-hubspot.example",
                     "scopes": list(self.auth.scopes), "hub_id": self.portal_id, "client_id": self.auth.client_id,
                     "user_id": 42, "token_type": "refresh"}

    def oauth_refresh_delete(self, request, token):
        if token not in self.auth.refresh:
            raise not_found("Token not found")
        self.auth.revoke(token)
        return 204, None

    # CRM v3
    def crm_search(self, request, type_name):
        with self.store.lock:
            return search(self.store, self.store.type(type_name), self._body(request))

    def crm_batch(self, request, type_name, op):
        body = self._body(request)
        query = parse_qs(request.query, keep_blank_values=True)
        with self.store.lock:
            t = self.store.type(type_name)
            if op == "read":
                return batch_read(self.store, t, body, query)
            if op == "create":
                return batch_create(self.store, t, body)
            if op == "archive":
                return batch_archive(self.store, t, body)
            return batch_update(self.store, t, body, upsert=op == "upsert")

    def crm_list(self, request, type_name):
        with self.store.lock:
            return list_objects(self.store, self.store.type(type_name), parse_qs(request.query, keep_blank_values=True),
                                self._base_url(request), request.path)

    def crm_create(self, request, type_name):
        body = self._body(request)
        with self.store.lock:
            t = self.store.type(type_name)
            rec = create_one(self.store, t, body)
            return 201, show(self.store, t, rec, all_set=True, trace=body.get("objectWriteTraceId"))

    def crm_get(self, request, type_name, id):
        query = parse_qs(request.query, keep_blank_values=True)
        with self.store.lock:
            t = self.store.type(type_name)
            rec = self.store.get(t, id, query_bool(query, "archived"), (query.get("idProperty") or [None])[-1])
            if rec is None:
                raise not_found()
            return 200, show(self.store, t, rec, query_list(query, "properties") or None,
                             query_list(query, "propertiesWithHistory") or None,
                             query_list(query, "associations") or None)

    def crm_update(self, request, type_name, id):
        body = check_fields(self._body(request), ("properties", "objectWriteTraceId"), "SimplePublicObjectInput")
        query = parse_qs(request.query, keep_blank_values=True)
        with self.store.lock:
            t = self.store.type(type_name)
            rec = self.store.get(t, id, False, (query.get("idProperty") or [None])[-1])
            if rec is None:
                raise not_found()
            props = validate_properties(t, body.get("properties", {}), False, self.store)
            self.store.update(t, rec, props)
            return 200, show(self.store, t, rec, all_set=True, trace=body.get("objectWriteTraceId"))

    def crm_archive(self, request, type_name, id):
        with self.store.lock:
            t = self.store.type(type_name)
            rec = self.store.get(t, id)
            if rec is not None:
                self.store.archive(t, rec)
            return 204, None

    def crm_properties(self, request, type_name):
        body = self._body(request) if request.method == "POST" else None
        with self.store.lock:
            return properties_api(self.store, self.store.type(type_name), request.method, None, body)

    def crm_property(self, request, type_name, name):
        with self.store.lock:
            return properties_api(self.store, self.store.type(type_name), "GET", name, None)

    # Associations v4
    def assoc_get(self, request, from_name, id, to_name):
        with self.store.lock:
            return assoc_list(self.store, self.store.type(from_name), id, self.store.type(to_name),
                              parse_qs(request.query), self._base_url(request), request.path)

    def assoc_default(self, request, from_name, from_id, to_name, to_id):
        with self.store.lock:
            return assoc_put_default(self.store, self.store.type(from_name), from_id, self.store.type(to_name), to_id)

    def assoc_labelled(self, request, from_name, from_id, to_name, to_id):
        body = self._body(request)
        with self.store.lock:
            return assoc_put_labelled(self.store, self.store.type(from_name), from_id, self.store.type(to_name), to_id,
                                      body)

    def assoc_delete(self, request, from_name, from_id, to_name, to_id):
        with self.store.lock:
            self.store.dissociate(self.store.type(from_name).name, from_id, self.store.type(to_name).name, to_id)
            return 204, None

    def assoc_batch(self, request, from_name, to_name, op):
        body = self._body(request)
        with self.store.lock:
            from_t, to_t = self.store.type(from_name), self.store.type(to_name)
            if op == "read":
                return assoc_batch_read(self.store, from_t, to_t, body)
            if op == "create":
                return assoc_batch_create(self.store, from_t, to_t, body)
            if op == "associate/default":
                return assoc_batch_default(self.store, from_t, to_t, body)
            return assoc_batch_archive(self.store, from_t, to_t, body, labels_only=op == "labels/archive")

    # -- controls -------------------------------------------------------------------------------------

    def control(self, request, name, spec):
        method = request.method
        if name == "seed" and method == "POST":
            return self.json_reply(200, self._control_errors(lambda: seed(self.store, spec)))
        if name == "set" and method == "POST":
            return self.json_reply(200, self._control_errors(lambda: self._set_control(spec)))
        if name == "properties":
            if method == "POST":
                return self.json_reply(200, self._control_errors(lambda: self._property_control(spec)))
            if method == "GET":
                with self.store.lock:
                    return self.json_reply(200, {t: [p.describe("") for p in self.store.types[t].props.values() if p.custom]
                                                 for t in TYPE_NAMES})
        if name == "tokens":
            if method == "POST":
                return self.json_reply(200, self._control_errors(lambda: self._tokens_control(spec)))
            if method == "GET":
                return self.json_reply(200, self.auth.describe())
        if name == "tokens/revoke" and method == "POST":
            token = spec.get("token")
            if not isinstance(token, str) or not self.auth.revoke(token):
                return self.json_reply(404, {"error": "field 'token' must name a token the fake knows"})
            return self.json_reply(200, {"revoked": True})
        if name == "oauth" and method == "POST":
            return self.json_reply(200, self._control_errors(lambda: self._oauth_control(spec)))
        if name == "ratelimit":
            if method == "POST":
                return self.json_reply(200, self.limits.configure(spec))
            if method == "GET":
                return self.json_reply(200, self.limits.describe())
        if name == "webhooks":
            if method == "POST":
                return self._webhooks_control(spec)
            if method == "GET":
                with self.store.lock:
                    return self.json_reply(200, {"pending": list(self.store.changes),
                                                 "deliveries": list(self.store.deliveries)})
            if method == "DELETE":
                with self.store.lock:
                    self.store.changes.clear()
                    self.store.deliveries.clear()
                return self.json_reply(200, {"pending": [], "deliveries": []})
        if name == "state" and method == "GET":
            with self.store.lock:
                return self.json_reply(200, {
                    "counts": {t: sum(1 for r in self.store.records[t].values() if not r.archived) for t in TYPE_NAMES},
                    "archived": {t: sum(1 for r in self.store.records[t].values() if r.archived) for t in TYPE_NAMES},
                    "pending_changes": len(self.store.changes), "now_ms": self.store.now_ms(),
                    "faults": self.faults.pending(), "ratelimit": self.limits.describe()})
        return None

    def _control_errors(self, call):
        try:
            return call()
        except HubSpotError as e:
            raise ValueError(f"{e.status} {e.category}: {e.message}") from None

    def _set_control(self, spec):
        """{"type", "id", "properties", "archived", "at"}: a change as a user in HubSpot's UI makes it."""
        extra = set(spec) - {"type", "id", "properties", "archived", "at"}
        if extra:
            raise ValueError(f"unknown fields {sorted(extra)}; set takes type, id, properties, archived, at")
        with self.store.lock:
            t = self.store.type(spec.get("type", ""))
            rec = self.store.records[t.name].get(str(spec.get("id")))
            if rec is None:
                raise ValueError(f"no {t.name} with id {spec.get('id')!r}")
            at = _control_time(spec.get("at"), self.store.now_ms())
            if spec.get("archived") is False:
                self.store.restore(t, rec)
            if "properties" in spec:
                if rec.archived:
                    raise ValueError("the record is archived: restore it first with \"archived\": false")
                props = validate_properties(t, spec["properties"], False, self.store)
                self.store.update(t, rec, props, at=at, source="CRM_UI")
            if spec.get("archived") is True:
                self.store.archive(t, rec, source="CRM_UI", at=at)
            return show(self.store, t, rec, all_set=True)

    def _property_control(self, spec):
        """{"type", "name", "type_of_value"?: string|number|datetime|enumeration|bool, "options"?, "unique"?}."""
        extra = set(spec) - {"type", "name", "value_type", "options", "unique"}
        if extra:
            raise ValueError(f"unknown fields {sorted(extra)}; properties takes type, name, value_type, options, unique")
        with self.store.lock:
            t = self.store.type(spec.get("type", ""))
            name = spec.get("name")
            if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError("field 'name' must be a property name: lower case letters, digits, _")
            value_type = spec.get("value_type", "string")
            if value_type not in ("string", "number", "datetime", "enumeration", "bool"):
                raise ValueError("field 'value_type' must be string, number, datetime, enumeration or bool")
            existing = t.props.get(name)
            if existing is not None and not existing.custom:
                if "options" in spec and existing.type == "enumeration":
                    existing.options = list(dict.fromkeys((existing.options or []) + list(spec["options"])))
                    return existing.describe("")
                raise ValueError(f"{name} is one of HubSpot's own properties of {t.name}")
            prop = self.store.add_property(t.name, Prop(name, value_type, spec.get("options"),
                                                         unique=bool(spec.get("unique")), custom=True))
            if prop.unique:
                self.store.unique[t.name].setdefault(name, {})
                for rec in self.store.records[t.name].values():
                    if not rec.archived and name in rec.props:
                        self.store.unique[t.name][name][rec.props[name]] = rec.id
            return prop.describe("")

    def _tokens_control(self, spec):
        """{"private_app_token"} | {"access_token"?, "expires_in"?} | {"refresh_token"} | {"code", "redirect_uri"}."""
        extra = set(spec) - {"private_app_token", "access_token", "expires_in", "refresh_token", "code", "redirect_uri"}
        if extra:
            raise ValueError(f"unknown fields {sorted(extra)}")
        out = {}
        with self.auth.lock:
            if spec.get("private_app_token"):
                self.auth.tokens[spec["private_app_token"]] = {"kind": "private", "revoked": False}
                out["private_app_token"] = spec["private_app_token"]
            if "access_token" in spec or "expires_in" in spec:
                ttl = spec.get("expires_in")
                if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float))):
                    raise ValueError("field 'expires_in' must be a number of seconds")
                token, ttl = self.auth.issue(ttl, spec.get("access_token") or None)
                out.update({"access_token": token, "expires_in": ttl})
            if spec.get("refresh_token"):
                out["refresh_token"] = self.auth.new_refresh(spec["refresh_token"])
            if spec.get("code"):
                self.auth.codes[spec["code"]] = {"redirect_uri": spec.get("redirect_uri")}
                out["code"] = spec["code"]
        if not out:
            raise ValueError("give private_app_token, access_token/expires_in, refresh_token or code")
        return out

    def _oauth_control(self, spec):
        extra = set(spec) - {"client_id", "client_secret", "rotate_refresh_tokens", "access_token_ttl", "scopes"}
        if extra:
            raise ValueError(f"unknown fields {sorted(extra)}")
        with self.auth.lock:
            self.auth.client_id = spec.get("client_id", self.auth.client_id)
            self.auth.client_secret = spec.get("client_secret", self.auth.client_secret)
            self.auth.rotate = bool(spec.get("rotate_refresh_tokens", self.auth.rotate))
            self.auth.ttl = spec.get("access_token_ttl", self.auth.ttl)
            self.auth.scopes = spec.get("scopes", self.auth.scopes)
        return self.auth.describe()

    def _webhooks_control(self, spec):
        extra = set(spec) - WEBHOOK_FIELDS
        if extra:
            return self.json_reply(400, {"error": f"unknown fields {sorted(extra)}; webhooks takes {sorted(WEBHOOK_FIELDS)}"})
        url = spec.get("url")
        host = urlsplit(url or "").hostname
        if not isinstance(url, str) or not url.startswith("http://") or host not in ("127.0.0.1", "localhost", "::1"):
            return self.json_reply(400, {"error": "field 'url' must be an http:// URL on loopback (127.0.0.1, localhost, ::1)"})
        version = spec.get("signature_version", "v1")
        if version not in ("v1", "v2"):
            return self.json_reply(400, {"error": "field 'signature_version' (of X-HubSpot-Signature) is v1 or v2; "
                                                  "X-HubSpot-Signature-v3 is always sent"})
        batch_size = spec.get("batch_size", WEBHOOK_BATCH_MAX)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= WEBHOOK_BATCH_MAX:
            return self.json_reply(400, {"error": f"field 'batch_size' must be 1-{WEBHOOK_BATCH_MAX}"})
        secret = spec.get("client_secret") or self.webhook_secret
        with self.store.lock:
            if spec.get("events") is not None:
                if not isinstance(spec["events"], list) or not all(isinstance(e, dict) for e in spec["events"]):
                    return self.json_reply(400, {"error": "field 'events' must be a list of event objects"})
                events = [e if spec.get("raw") else self._event(e, spec) for e in spec["events"]]
            else:
                kinds = spec.get("subscriptionTypes")
                props = spec.get("properties")
                chosen = [c for c in self.store.changes
                          if (not kinds or c["subscriptionType"] in kinds)
                          and (not props or "propertyName" not in c or c["propertyName"] in props)]
                if not spec.get("keep"):
                    self.store.changes.clear()
                events = [self._event(c, spec) for c in chosen]
        deliveries = []
        for i in range(0, len(events), batch_size):
            deliveries.append(self._deliver(url, events[i:i + batch_size], secret, version, spec))
        last = deliveries[-1] if deliveries else {"status": None, "body": None, "error": None}
        return self.json_reply(200, {"sent": len(events), "status": last["status"], "body": last["body"],
                                     "error": last["error"], "deliveries": deliveries})

    def _event(self, fields, spec):
        self.store.event_id += 1
        event = {"eventId": self.store.event_id, "subscriptionId": 0, "portalId": self.portal_id, "appId": self.app_id,
                 "occurredAt": self.store.now_ms(), "subscriptionType": "", "attemptNumber": spec.get("attempt_number", 0)}
        event.update(fields)
        if not event["subscriptionId"]:
            event["subscriptionId"] = subscription_id(event["subscriptionType"])
        return event

    def _deliver(self, url, events, secret, version, spec):
        body = json.dumps(events, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        timestamp = self.store.now_ms() - int(float(spec.get("age", 0)) * 1000)
        key = "forged-" + secrets.token_hex(8) if spec.get("forge") else secret
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "X-HubSpot-Timeout-Millis": "10000",
                   "X-HubSpot-Request-Timestamp": str(timestamp)}
        if not spec.get("unsigned"):
            headers["X-HubSpot-Signature-Version"] = version
            headers["X-HubSpot-Signature"] = sign_v1(key, body) if version == "v1" else sign_v2(key, "POST", url, body)
            headers["X-HubSpot-Signature-v3"] = sign_v3(key, "POST", url, body, timestamp)
        record = post_webhook(url, body, headers, float(spec.get("timeout", 10)))
        record.update({"events": len(events), "timestamp": timestamp, "forged": bool(spec.get("forge")),
                       "unsigned": bool(spec.get("unsigned"))})
        with self.store.lock:
            self.store.deliveries.append(record)
        sys.stderr.write(f"fake-hubspot webhook POST {urlsplit(url).path} ({len(events)} events) -> "
                         f"{record['status'] or record['error']}\n")
        return record


# ---------------------------------------------------------------------------------------------
# 11. main
# ---------------------------------------------------------------------------------------------

DEFAULT_PRIVATE_TOKEN = "pat-na1-00000000-0000-4000-8000-000000000000"
DEFAULT_CLIENT_ID = "fake-client-id"
DEFAULT_CLIENT_SECRET = "fake-client-secret"
DEFAULT_REFRESH_TOKEN = "fake-refresh-token"


def parse_property(text, unique):
    """TYPE:NAME[:VALUE_TYPE] → (type, Prop)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or _TYPE_ALIASES.get(parts[0]) is None:
        raise argparse.ArgumentTypeError(f"expected OBJECTTYPE:NAME[:VALUE_TYPE]; got {text!r}")
    value_type = parts[2] if len(parts) == 3 else "string"
    if value_type not in ("string", "number", "datetime", "bool"):
        raise argparse.ArgumentTypeError(f"value type must be string, number, datetime or bool; got {value_type!r}")
    return _TYPE_ALIASES[parts[0]], Prop(parts[1], value_type, unique=unique, custom=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake HubSpot (CRM v3, associations v4, OAuth, webhooks) for tests; "
                                             "binds 127.0.0.1 only. See README.md.")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 picks a free one (printed first)")
    ap.add_argument("--private-app-token", action="append", default=None,
                    help=f"a private-app token accepted as Bearer (repeatable; default {DEFAULT_PRIVATE_TOKEN})")
    ap.add_argument("--client-id", default=DEFAULT_CLIENT_ID, help="the OAuth app's client_id")
    ap.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET,
                    help="the OAuth app's client_secret (also the default webhook signing secret)")
    ap.add_argument("--refresh-token", action="append", default=None,
                    help=f"a refresh token the token endpoint accepts (repeatable; default {DEFAULT_REFRESH_TOKEN})")
    ap.add_argument("--access-token-ttl", type=int, default=1800, help="expires_in of OAuth access tokens, seconds")
    ap.add_argument("--rotate-refresh-tokens", action="store_true",
                    help="a refresh makes the refresh token it used invalid (default: it stays valid)")
    ap.add_argument("--portal-id", type=int, default=12345678, help="hub_id / portalId")
    ap.add_argument("--app-id", type=int, default=987654, help="appId in webhook events")
    ap.add_argument("--rate-limit", type=int, default=190, help="requests per token per 10 s (X-HubSpot-RateLimit-Max)")
    ap.add_argument("--search-rate-limit", type=int, default=5, help="search requests per second per account")
    ap.add_argument("--daily-limit", type=int, default=625_000, help="requests per account per day")
    ap.add_argument("--property", action="append", default=[], type=lambda s: parse_property(s, False),
                    help="a custom property OBJECTTYPE:NAME[:string|number|datetime|bool] (repeatable)")
    ap.add_argument("--unique-property", action="append", default=[], type=lambda s: parse_property(s, True),
                    help="a custom property with unique values, usable as idProperty: OBJECTTYPE:NAME (repeatable)")
    ap.add_argument("--webhook-secret", default=None, help="the webhook signing secret (default: --client-secret)")
    ap.add_argument("--search-cap", type=int, default=SEARCH_CAP,
                    help=f"results one search query returns at most (HubSpot: {SEARCH_CAP}); lower, a test crosses it with fewer records")
    args = ap.parse_args(argv)
    if args.search_cap < 1:
        ap.error("--search-cap must be positive")
    set_search_cap(args.search_cap)

    auth = {"private_tokens": args.private_app_token or [DEFAULT_PRIVATE_TOKEN],
            "client_id": args.client_id, "client_secret": args.client_secret,
            "refresh_tokens": args.refresh_token or [DEFAULT_REFRESH_TOKEN], "ttl": args.access_token_ttl,
            "rotate": args.rotate_refresh_tokens, "scopes": ["crm.objects.contacts.read", "crm.objects.contacts.write",
                                                            "crm.objects.companies.read", "crm.objects.companies.write",
                                                            "crm.objects.deals.read", "crm.objects.deals.write",
                                                            "e-commerce"]}
    limits = {"max_requests": args.rate_limit, "search_per_second": args.search_rate_limit, "daily": args.daily_limit}
    fake = HubSpotFake(auth, limits, args.portal_id, args.app_id, args.property + args.unique_property,
                       args.webhook_secret)
    return run(fake, args.port, f"fake HubSpot (portal {args.portal_id}, {args.rate_limit}/10 s per token) on {{address}}")


if __name__ == "__main__":
    sys.exit(main())
