#!/usr/bin/env python3
"""A strict fake Salesforce (REST API v46.0-v62.0, OAuth token endpoint, SOQL, Bulk API 2.0 query jobs, sObject
Collections and Composite) on 127.0.0.1 for the tests. Python 3 standard library only (the JWT check verifies
RS256 with pure-Python RSA).

What it answers, its controls and its assumptions: README.md beside it. Run:

    python3 Tests/Fakes/salesforce/fake_salesforce.py --port 0 [--certificate cert.pem] [--multi-currency]

The first stdout line is ``listening 127.0.0.1:PORT``; ``http://127.0.0.1:PORT`` is both the login host
(``/services/oauth2/token``) and the instance (``/services/data/vXX.X/...``).
"""

from __future__ import annotations

import argparse
import base64
import calendar
import copy
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import signal
import sys
import threading
import time
import urllib.parse
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # Tests/Fakes
from common.loopback import LOOPBACK, Fake, FaultSpecError, LoopbackServer, Reply  # noqa: E402

JSON_TYPE = "application/json;charset=UTF-8"
MIN_VERSION, MAX_VERSION = 46, 62
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_AUDIENCES = ["https://login.salesforce.com", "https://test.salesforce.com"]
CURRENCIES = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0}
LOCATOR_IDLE_S = 15 * 60
MAX_COLLECTION = 200
MAX_COMPOSITE = 25
BULK_JOBS_MAX = 10000
NOT_FOUND_MESSAGE = "The requested resource does not exist"
SESSION_MESSAGE = "Session expired or invalid"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")
DT_BODY_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# ---------------------------------------------------------------------------------------------
# Errors, ids, times, numbers
# ---------------------------------------------------------------------------------------------


class SFError(Exception):
    """A Salesforce REST error: answered as ``[{"message", "errorCode", "fields"?}]``."""

    def __init__(self, status, code, message, fields=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields
        self.headers = headers or {}

    def item(self):
        item = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            item["fields"] = list(self.fields)
        return item

    def body(self):
        return [self.item()]

    def collection_item(self):
        return {"statusCode": self.code, "message": self.message, "fields": list(self.fields or [])}


class OAuthError(Exception):
    def __init__(self, error, description, status=400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def not_found():
    return SFError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)


def id_suffix(id15: str) -> str:
    out = ""
    for i in range(3):
        bits = 0
        for j, c in enumerate(id15[i * 5:i * 5 + 5]):
            if "A" <= c <= "Z":
                bits |= 1 << j
        out += SUFFIX_CHARS[bits]
    return out


def make_id(prefix: str, number: int) -> str:
    digits = ""
    while number:
        number, r = divmod(number, 62)
        digits = BASE62[r] + digits
    id15 = prefix + "Dn0" + digits.rjust(9, "0")
    return id15 + id_suffix(id15)


def to18(value):
    """An id of 15 or 18 characters as 18 (None when it is not id-shaped)."""
    if not isinstance(value, str) or not ID_RE.match(value):
        return None
    if len(value) == 15:
        return value + id_suffix(value)
    return value[:15] + id_suffix(value[:15])


def fmt_dt(t) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".000+0000"


def fmt_dt_z(t) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".000Z"


def parse_dt(text, soql=False):
    """ISO 8601 datetime -> Unix seconds (float, fractions kept); None when it is not one."""
    m = DT_BODY_RE.match(text)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, zone = m.groups()
    if soql and zone != "Z" and ":" not in zone:
        return None
    try:
        base = calendar.timegm(dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s)).timetuple())
    except ValueError:
        return None
    offset = 0
    if zone != "Z":
        zone = zone.replace(":", "")
        offset = (int(zone[1:3]) * 3600 + int(zone[3:5]) * 60) * (1 if zone[0] == "+" else -1)
    return base - offset + (float("0." + frac) if frac else 0)


def valid_date(text):
    if not isinstance(text, str) or not DATE_RE.match(text):
        return False
    try:
        dt.date.fromisoformat(text)
        return True
    except ValueError:
        return False


def day_str(t, days=0):
    return (dt.datetime.fromtimestamp(t, dt.timezone.utc).date() + dt.timedelta(days=days)).isoformat()


def day_start(t, days=0):
    d = dt.datetime.fromtimestamp(t, dt.timezone.utc).date() + dt.timedelta(days=days)
    return calendar.timegm(d.timetuple())


def dec_text(d: Decimal) -> str:
    """Plain decimal text, no exponent, no trailing zeros after the point."""
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def json_default(value):
    if isinstance(value, Decimal):
        return float(value)  # a JSON number in major units (Salesforce writes e.g. 1500.0)
    raise TypeError(f"not JSON: {type(value).__name__}")


def dumps(value) -> bytes:
    return json.dumps(value, default=json_default, ensure_ascii=False).encode("utf-8")


def quantize(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------------------------------------
# RS256 (pure Python): PEM -> DER -> (n, e); EMSA-PKCS1-v1_5 with SHA-256
# ---------------------------------------------------------------------------------------------

SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
RSA_OID = bytes.fromhex("2a864886f70d010101")


def der_read(data: bytes, pos: int = 0):
    """One TLV at ``pos``: (tag, content start, content end)."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise ValueError("DER runs past its end")
    return tag, pos, end


def der_children(data: bytes, start: int, end: int):
    out = []
    while start < end:
        tag, s, e = der_read(data, start)
        out.append((tag, s, e))
        start = e
    return out


def rsa_from_spki(data: bytes, start: int, end: int):
    algorithm, key = der_children(data, start, end)[:2]
    if algorithm[0] != 0x30 or key[0] != 0x03:
        raise ValueError("not a SubjectPublicKeyInfo")
    oid = der_children(data, algorithm[1], algorithm[2])[0]
    if data[oid[1]:oid[2]] != RSA_OID:
        raise ValueError("not an RSA key")
    bits = data[key[1] + 1:key[2]]  # skip the unused-bits byte
    return rsa_from_pkcs1(bits, 0, len(bits))


def rsa_from_pkcs1(data: bytes, start: int, end: int):
    tag, s, e = der_read(data, start)
    n, exp = der_children(data, s, e)[:2]
    return int.from_bytes(data[n[1]:n[2]], "big"), int.from_bytes(data[exp[1]:exp[2]], "big")


def public_key_from_pem(text: str):
    """(n, e) of an X.509 ``CERTIFICATE``, a ``PUBLIC KEY`` (SubjectPublicKeyInfo) or an ``RSA PUBLIC KEY``."""
    m = re.search(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", text, re.S)
    if not m:
        raise ValueError("no PEM block")
    kind, der = m.group(1), base64.b64decode("".join(m.group(2).split()))
    if kind == "CERTIFICATE":
        _, s, e = der_read(der, 0)
        tbs = der_children(der, s, e)[0]
        fields = der_children(der, tbs[1], tbs[2])
        if fields and fields[0][0] == 0xA0:  # [0] version
            fields = fields[1:]
        spki = fields[5]  # serial, signature, issuer, validity, subject, subjectPublicKeyInfo
        return rsa_from_spki(der, spki[1], spki[2])
    if kind == "PUBLIC KEY":
        _, s, e = der_read(der, 0)
        return rsa_from_spki(der, s, e)
    if kind == "RSA PUBLIC KEY":
        return rsa_from_pkcs1(der, 0, len(der))
    raise ValueError(f"unsupported PEM block {kind}")


def rs256_verify(key, signing_input: bytes, signature: bytes) -> bool:
    n, e = key
    k = (n.bit_length() + 7) // 8
    if len(signature) != k:
        return False
    s = int.from_bytes(signature, "big")
    if s >= n:
        return False
    em = pow(s, e, n).to_bytes(k, "big")
    t = SHA256_DIGEST_INFO + hashlib.sha256(signing_input).digest()
    expected = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return hmac.compare_digest(em, expected)


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ---------------------------------------------------------------------------------------------
# Schema
# ---------------------------------------------------------------------------------------------

TEXT_TYPES = {"id", "reference", "string", "picklist", "email", "phone", "url", "textarea"}
NUMBER_TYPES = {"currency", "double", "percent", "int"}
CUSTOM_TYPES = {"string", "currency", "double", "percent", "date", "datetime", "boolean"}
STAGES = {"Prospecting": (False, False, 10), "Qualification": (False, False, 10),
          "Needs Analysis": (False, False, 20), "Value Proposition": (False, False, 50),
          "Id. Decision Makers": (False, False, 60), "Perception Analysis": (False, False, 70),
          "Proposal/Price Quote": (False, False, 75), "Negotiation/Review": (False, False, 90),
          "Closed Won": (True, True, 100), "Closed Lost": (True, False, 0)}
PREFIXES = {"Account": "001", "Contact": "003", "Opportunity": "006", "OpportunityLineItem": "00k",
            "Product2": "01t", "Pricebook2": "01s", "PricebookEntry": "01u"}
LABELS = {"Account": ("Account", "Accounts"), "Contact": ("Contact", "Contacts"),
          "Opportunity": ("Opportunity", "Opportunities"),
          "OpportunityLineItem": ("Opportunity Product", "Opportunity Product"),
          "Product2": ("Product", "Products"), "Pricebook2": ("Price Book", "Price Books"),
          "PricebookEntry": ("Price Book Entry", "Price Book Entries")}


class FieldDef:
    __slots__ = ("name", "type", "createable", "updateable", "nillable", "required", "custom", "external_id",
                 "unique", "reference_to", "picklist", "restricted", "default")

    def __init__(self, name, type_, createable=True, updateable=True, required=False, custom=False,
                 external_id=False, unique=False, reference_to=None, picklist=None, restricted=False, default=None):
        self.name, self.type = name, type_
        self.createable, self.updateable, self.required = createable, updateable, required
        self.nillable = not required and type_ != "boolean" and (createable or updateable)
        self.custom, self.external_id, self.unique = custom, external_id, unique
        self.reference_to, self.picklist, self.restricted, self.default = reference_to, picklist, restricted, default

    def describe(self):
        scale = {"currency": 2, "percent": 2, "double": 2}.get(self.type, 0)
        return {"name": self.name, "label": self.name.replace("__c", "").replace("_", " "), "type": self.type,
                "soapType": {"id": "tns:ID", "reference": "tns:ID", "currency": "xsd:double", "double": "xsd:double",
                             "percent": "xsd:double", "int": "xsd:int", "boolean": "xsd:boolean", "date": "xsd:date",
                             "datetime": "xsd:dateTime"}.get(self.type, "xsd:string"),
                "createable": self.createable, "updateable": self.updateable, "nillable": self.nillable,
                "custom": self.custom, "externalId": self.external_id, "idLookup": self.external_id or self.name == "Id",
                "unique": self.unique, "calculated": False, "defaultedOnCreate": self.type == "boolean" or
                self.name in ("Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "CurrencyIsoCode"),
                "referenceTo": list(self.reference_to or []), "length": 255 if self.type in TEXT_TYPES else 0,
                "precision": 18 if self.type in NUMBER_TYPES and self.type != "int" else 0,
                "scale": scale, "restrictedPicklist": self.restricted,
                "picklistValues": [{"value": v, "label": v, "active": True, "defaultValue": False}
                                   for v in (self.picklist or [])]}


def standard_fields(obj):
    F = FieldDef
    ro = {"createable": False, "updateable": False}
    head = [F("Id", "id", **ro)]
    tail = [F("IsDeleted", "boolean", **ro), F("CreatedDate", "datetime", **ro),
            F("LastModifiedDate", "datetime", **ro), F("SystemModstamp", "datetime", **ro)]
    addr = lambda p: [F(p + s, "string") for s in ("Street", "City", "State", "PostalCode", "Country")]  # noqa: E731
    body = {
        "Account": [F("Name", "string", required=True), F("AccountNumber", "string"), F("Phone", "phone"),
                    F("Website", "url"), F("Industry", "picklist"), F("Type", "picklist"),
                    F("Description", "textarea"), F("ParentId", "reference", reference_to=["Account"])]
                   + addr("Billing") + addr("Shipping"),
        "Contact": [F("LastName", "string", required=True), F("FirstName", "string"), F("Name", "string", **ro),
                    F("AccountId", "reference", reference_to=["Account"]), F("Email", "email"), F("Phone", "phone"),
                    F("MobilePhone", "phone"), F("Title", "string")] + addr("Mailing"),
        "Opportunity": [F("Name", "string", required=True),
                        F("StageName", "picklist", required=True, picklist=list(STAGES), restricted=True),
                        F("CloseDate", "date", required=True), F("AccountId", "reference", reference_to=["Account"]),
                        F("Amount", "currency"), F("Probability", "percent"), F("Description", "textarea"),
                        F("Type", "picklist"), F("Pricebook2Id", "reference", reference_to=["Pricebook2"]),
                        F("IsWon", "boolean", **ro), F("IsClosed", "boolean", **ro)],
        "OpportunityLineItem": [F("OpportunityId", "reference", updateable=False, required=True,
                                  reference_to=["Opportunity"]),
                                F("PricebookEntryId", "reference", updateable=False, required=True,
                                  reference_to=["PricebookEntry"]),
                                F("Product2Id", "reference", reference_to=["Product2"], **ro),
                                F("ProductCode", "string", **ro), F("Name", "string", **ro),
                                F("Quantity", "double", required=True), F("UnitPrice", "currency"),
                                F("ListPrice", "currency", **ro), F("Subtotal", "currency", **ro),
                                F("TotalPrice", "currency"), F("Discount", "percent"), F("Description", "string"),
                                F("ServiceDate", "date"), F("SortOrder", "int")],
        "Product2": [F("Name", "string", required=True), F("ProductCode", "string"), F("Description", "textarea"),
                     F("IsActive", "boolean"), F("Family", "picklist")],
        "Pricebook2": [F("Name", "string", required=True), F("IsActive", "boolean"), F("Description", "string"),
                       F("IsStandard", "boolean", **ro)],
        "PricebookEntry": [F("Pricebook2Id", "reference", updateable=False, required=True,
                             reference_to=["Pricebook2"]),
                           F("Product2Id", "reference", updateable=False, required=True, reference_to=["Product2"]),
                           F("UnitPrice", "currency"), F("IsActive", "boolean"), F("UseStandardPrice", "boolean"),
                           F("ProductCode", "string", **ro), F("Name", "string", **ro)],
    }[obj]
    return head + body + tail


# ---------------------------------------------------------------------------------------------
# The org: records, indexes, writes
# ---------------------------------------------------------------------------------------------


class Org:
    """All records and the schema; every method runs under the fake's lock."""

    def __init__(self, clock, multi_currency=False, currency="USD"):
        self.clock = clock
        self.multi_currency, self.currency = multi_currency, currency
        self.custom = {obj: {} for obj in PREFIXES}  # obj -> name -> FieldDef
        self.records = {obj: {} for obj in PREFIXES}  # obj -> id -> record (internal values)
        self.counters = {obj: 0 for obj in PREFIXES}
        self.ext_index = {obj: {} for obj in PREFIXES}  # obj -> field -> key -> set(ids)
        self.rejects = []
        self.items_by_opp = {}  # opportunity id -> [line item ids] (OpportunityId is create-only)
        self.rebuild_schema()
        self.standard_pricebook = self.insert_raw("Pricebook2", {"Name": "Standard Price Book", "IsActive": True,
                                                                "IsStandard": True})

    # -- schema ---------------------------------------------------------------------------------

    def rebuild_schema(self):
        self.schema = {}
        for obj in PREFIXES:
            fields = standard_fields(obj)
            if self.multi_currency:
                ro = obj == "OpportunityLineItem"
                fields.insert(1, FieldDef("CurrencyIsoCode", "picklist", createable=not ro, updateable=not ro,
                                          picklist=list(CURRENCIES), restricted=True))
            fields += list(self.custom[obj].values())
            self.schema[obj] = {"list": fields, "by_lower": {f.name.lower(): f for f in fields}}
        for obj in PREFIXES:
            for f in self.schema[obj]["list"]:
                if f.external_id or f.unique:
                    self.ext_index[obj].setdefault(f.name, None)

    def field(self, obj, name):
        return self.schema[obj]["by_lower"].get(name.lower())

    def add_custom_fields(self, obj, specs):
        if obj not in PREFIXES:
            raise ValueError(f"unknown object {obj!r}; one of {', '.join(PREFIXES)}")
        new = {}
        for name, spec in specs.items():
            if isinstance(spec, str):
                spec = {"type": spec}
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*__c", name) or "__" in name[:-3]:
                raise ValueError(f"a custom field name ends with __c (letters, digits, single underscores): {name!r}")
            if spec.get("type") not in CUSTOM_TYPES:
                raise ValueError(f"field {name}: type must be one of {', '.join(sorted(CUSTOM_TYPES))}")
            if set(spec) - {"type", "external_id", "unique"}:
                raise ValueError(f"field {name}: unknown keys {sorted(set(spec) - {'type', 'external_id', 'unique'})}")
            if self.field(obj, name):
                raise ValueError(f"{obj}.{name} exists already")
            ext = bool(spec.get("external_id"))
            if ext and spec["type"] not in ("string", "double"):
                raise ValueError(f"field {name}: an external id is a string or a number")
            new[name] = FieldDef(name, spec["type"], custom=True, external_id=ext, unique=bool(spec.get("unique")))
        self.custom[obj].update(new)
        self.rebuild_schema()
        for name, f in new.items():
            for record in self.records[obj].values():
                record[name] = False if f.type == "boolean" else None
            if f.external_id or f.unique:
                self.ext_index[obj][name] = {}
        return [f.describe() for f in new.values()]

    def set_multi_currency(self, on, currency):
        if currency not in CURRENCIES:
            raise ValueError(f"currency must be one of {', '.join(CURRENCIES)}")
        self.currency = currency
        if on != self.multi_currency:
            self.multi_currency = on
            self.rebuild_schema()
            for records in self.records.values():
                for record in records.values():
                    if on:
                        record["CurrencyIsoCode"] = currency
                    else:
                        record.pop("CurrencyIsoCode", None)

    def decimals(self, record=None):
        code = (record or {}).get("CurrencyIsoCode") if self.multi_currency else None
        return CURRENCIES[code or self.currency]

    # -- reading --------------------------------------------------------------------------------

    def get(self, obj, rid, deleted_ok=False):
        record = self.records[obj].get(rid)
        if record is None:
            raise not_found()
        if record["IsDeleted"] and not deleted_ok:
            raise SFError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return record

    def find(self, rid):
        rid = to18(rid)
        if not rid:
            return None, None
        for obj, prefix in PREFIXES.items():
            if rid.startswith(prefix):
                return obj, self.records[obj].get(rid)
        return None, None

    def by_external(self, obj, fname, value, include_deleted=False):
        index = self.ext_index[obj].get(fname)
        key = self.ext_key(value)
        if index is None:
            return [r for r in self.records[obj].values() if self.ext_key(r.get(fname)) == key and key is not None
                    and (include_deleted or not r["IsDeleted"])]
        return [self.records[obj][i] for i in sorted(index.get(key, ()))
                if include_deleted or not self.records[obj][i]["IsDeleted"]]

    @staticmethod
    def ext_key(value):
        if value is None:
            return None
        if isinstance(value, Decimal):
            return dec_text(value)
        return str(value).lower()  # text external ids match case-insensitively (assumption)

    def to_json(self, obj, record, version, fields=None):
        out = {"attributes": {"type": obj, "url": f"/services/data/v{version}/sobjects/{obj}/{record['Id']}"}}
        for f in fields or self.schema[obj]["list"]:
            out[f.name] = self.json_value(f, record.get(f.name))
        return out

    @staticmethod
    def json_value(f, value):
        if value is None:
            return None
        if f.type == "datetime":
            return fmt_dt(value)
        return value

    @staticmethod
    def csv_value(f, value):
        if value is None:
            return ""
        if f.type == "datetime":
            return fmt_dt_z(value)
        if f.type == "boolean":
            return "true" if value else "false"
        if isinstance(value, Decimal):
            return dec_text(value)
        return str(value)

    # -- writing --------------------------------------------------------------------------------

    def new_id(self, obj):
        self.counters[obj] += 1
        return make_id(PREFIXES[obj], self.counters[obj])

    def insert_raw(self, obj, values):
        now = self.clock.now()
        rid = self.new_id(obj)
        record = {}
        for f in self.schema[obj]["list"]:
            record[f.name] = False if f.type == "boolean" else None
        record.update(values)
        record.update({"Id": rid, "IsDeleted": False, "CreatedDate": now, "LastModifiedDate": now,
                       "SystemModstamp": now})
        if self.multi_currency and record.get("CurrencyIsoCode") is None:
            record["CurrencyIsoCode"] = self.currency
        self.records[obj][rid] = record
        self.reindex(obj, rid, None, record)
        if obj == "OpportunityLineItem":
            self.items_by_opp.setdefault(record["OpportunityId"], []).append(rid)
        return rid

    def reindex(self, obj, rid, old, new):
        for fname, index in self.ext_index[obj].items():
            if index is None:
                index = self.ext_index[obj][fname] = {}
            before = self.ext_key(old.get(fname)) if old else None
            after = self.ext_key(new.get(fname)) if new else None
            if before == after and old is not None and new is not None:
                continue
            if before is not None:
                index.get(before, set()).discard(rid)
            if after is not None:
                index.setdefault(after, set()).add(rid)

    def coerce(self, obj, f, value):
        """A JSON value for field ``f`` as stored; JSON_PARSER_ERROR when its JSON type is wrong."""
        if value is None:
            return None
        if isinstance(value, float):  # a control's body (parsed without Decimal)
            value = Decimal(repr(value))
        token = ("VALUE_TRUE" if value is True else "VALUE_FALSE" if value is False else
                 "VALUE_STRING" if isinstance(value, str) else "VALUE_NUMBER_INT" if isinstance(value, int) else
                 "VALUE_NUMBER_FLOAT" if isinstance(value, Decimal) else
                 "START_OBJECT" if isinstance(value, dict) else "START_ARRAY")

        def bad():
            shown = json.dumps(value, default=str) if not isinstance(value, str) else value
            return SFError(400, "JSON_PARSER_ERROR",
                           f"Cannot deserialize instance of {f.type} from {token} value {shown} or request may be "
                           f"missing a required field", [f.name])

        t = f.type
        if t in TEXT_TYPES:
            if not isinstance(value, str):
                raise bad()
            if t in ("id", "reference"):
                if value == "":
                    return None
                rid = to18(value)
                if rid is None:
                    label = LABELS.get((f.reference_to or [obj])[0], (obj,))[0]
                    raise SFError(400, "MALFORMED_ID", f"{label} ID: id value of incorrect type: {value}", [f.name])
                return rid
            return value
        if t in NUMBER_TYPES:
            if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
                raise bad()
            number = Decimal(value)
            if t == "int":
                if number != number.to_integral_value():
                    raise bad()
                return int(number)
            return quantize(number, 2) if t == "currency" else number
        if t == "boolean":
            if not isinstance(value, bool):
                raise bad()
            return value
        if t == "date":
            if not valid_date(value):
                raise bad()
            return value
        if t == "datetime":
            parsed = parse_dt(value) if isinstance(value, str) else None
            if parsed is None:
                raise bad()
            return int(parsed // 1)  # second precision (assumption)
        raise bad()

    def validate(self, obj, body, existing):
        """Checks a JSON body for a create (existing None) or an update; the changes as stored values."""
        if not isinstance(body, dict):
            raise SFError(400, "JSON_PARSER_ERROR", "The body must be a JSON object", [])
        changes = {}
        for key, value in body.items():
            if key == "attributes":
                continue
            f = self.field(obj, key)
            if f is None:
                raise SFError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj}", [key])
            if existing is None and not f.createable or existing is not None and not f.updateable:
                verb = "create" if existing is None else "update"
                raise SFError(400, "INVALID_FIELD_FOR_INSERT_UPDATE",
                              f"Unable to {verb}/update fields: {f.name}. Please check the security settings of "
                              f"this field and verify that it is read/write for your profile or permission set.",
                              [f.name])
            changes[f.name] = self.coerce(obj, f, value)
        for name, value in changes.items():
            f = self.field(obj, name)
            if f.restricted and value is not None and value not in f.picklist:
                if name == "CurrencyIsoCode":
                    message = f"Currency ISO Code: invalid currency code: {value}"
                else:
                    message = f"{name.replace('Name', ' Name') if name == 'StageName' else name}: bad value for " \
                              f"restricted picklist field: {value}"
                raise SFError(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", message, [name])
            if f.type == "reference" and value is not None:
                target_obj, target = self.find(value)
                if target is None or target["IsDeleted"] or target_obj not in (f.reference_to or []):
                    raise SFError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [name])
        merged = dict(existing or {})
        merged.update(changes)
        missing = [f.name for f in self.schema[obj]["list"] if f.required and merged.get(f.name) is None
                   and (existing is None or f.name in changes)]
        if missing and not (obj == "PricebookEntry" and missing == ["UnitPrice"]):
            raise SFError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                          missing)
        return changes

    def check_unique(self, obj, rid, merged):
        for f in self.schema[obj]["list"]:
            if f.unique and merged.get(f.name) is not None:
                for other in self.by_external(obj, f.name, merged[f.name], include_deleted=False):
                    if other["Id"] != rid:
                        raise SFError(400, "DUPLICATE_VALUE", f"duplicate value found: {f.name} duplicates value "
                                      f"on record with id: {other['Id']}", [f.name])

    def check_reject(self, obj, merged):
        for rule in self.rejects:
            if rule["object"] != obj:
                continue
            if all(self.ext_key(merged.get(k)) == self.ext_key(v if k != "Id" else to18(v) or v)
                   for k, v in rule.get("match", {}).items()):
                rule["count"] -= 1
                if rule["count"] <= 0:
                    self.rejects.remove(rule)
                raise SFError(400, rule["statusCode"], rule["message"], rule.get("fields", []))

    def write(self, obj, rid, body, undo, stamp=None):
        """Create (rid None) or update one record from a JSON body: validation, derived fields, rejects, unique
        checks, then the change (logged in ``undo`` for rollback). Returns the id."""
        existing = None
        if rid is not None:
            existing = self.get(obj, rid)
        changes = self.validate(obj, body, existing)
        merged = dict(existing or {})
        merged.update(changes)
        if rid is not None:
            merged["Id"] = rid
        touched_opps = self.derive(obj, merged, changes, existing)
        self.check_reject(obj, merged)
        self.check_unique(obj, rid, merged)
        now = self.clock.now() if stamp is None else stamp
        if existing is None:
            values = {k: v for k, v in merged.items() if k != "Id"}
            rid = self.insert_raw(obj, values)
            record = self.records[obj][rid]
            if stamp is not None:
                record["CreatedDate"] = record["LastModifiedDate"] = record["SystemModstamp"] = stamp
            undo.append((obj, rid, None))
        else:
            undo.append((obj, rid, dict(existing)))
            old = dict(existing)
            existing.update(merged)
            existing["LastModifiedDate"] = existing["SystemModstamp"] = now
            self.reindex(obj, rid, old, existing)
        for opp_id in touched_opps:
            self.rollup(opp_id, undo, now)
        return rid

    def derive(self, obj, merged, changes, existing):
        """Object rules: derived fields and cross-record checks. Returns opportunity ids needing a roll-up."""
        if obj == "Contact":
            merged["Name"] = " ".join(p for p in (merged.get("FirstName"), merged.get("LastName")) if p)
        elif obj == "Opportunity":
            stage = merged.get("StageName")
            if stage in STAGES:
                merged["IsClosed"], merged["IsWon"], probability = STAGES[stage]
                if "Probability" not in changes and (existing is None or "StageName" in changes):
                    merged["Probability"] = Decimal(probability)
            if existing is not None and self.line_items(existing["Id"]):
                for name in ("Amount", "CurrencyIsoCode", "Pricebook2Id"):
                    if name in changes and changes[name] != existing.get(name):
                        raise SFError(400, "FIELD_INTEGRITY_EXCEPTION",
                                      f"field integrity exception: {name} (cannot be changed on an opportunity "
                                      f"with line items)", [name])
        elif obj == "OpportunityLineItem":
            return self.derive_line_item(merged, changes, existing)
        elif obj == "PricebookEntry":
            self.derive_pricebook_entry(merged, changes, existing)
        return []

    def line_items(self, opp_id):
        items = self.records["OpportunityLineItem"]
        return [items[i] for i in self.items_by_opp.get(opp_id, ()) if not items[i]["IsDeleted"]]

    def derive_line_item(self, merged, changes, existing):
        opp = self.records["Opportunity"][merged["OpportunityId"]]
        pbe = self.records["PricebookEntry"][merged["PricebookEntryId"]]
        if existing is None:
            if not pbe["IsActive"]:
                raise SFError(400, "FIELD_INTEGRITY_EXCEPTION", "field integrity exception: PricebookEntryId "
                              "(pricebook entry is inactive)", ["PricebookEntryId"])
            if opp["Pricebook2Id"] is not None and opp["Pricebook2Id"] != pbe["Pricebook2Id"]:
                raise SFError(400, "FIELD_INTEGRITY_EXCEPTION", "field integrity exception: PricebookEntryId "
                              "(pricebook entry is in a different pricebook than the one assigned to the "
                              "opportunity)", ["PricebookEntryId"])
            if self.multi_currency and pbe["CurrencyIsoCode"] != opp["CurrencyIsoCode"]:
                raise SFError(400, "FIELD_INTEGRITY_EXCEPTION", "field integrity exception: PricebookEntryId "
                              "(pricebook entry currency code does not match opportunity currency code)",
                              ["PricebookEntryId"])
            product = self.records["Product2"][pbe["Product2Id"]]
            merged.update({"Product2Id": pbe["Product2Id"], "ProductCode": product["ProductCode"],
                           "Name": f"{opp['Name']} {product['Name']}", "ListPrice": pbe["UnitPrice"]})
            if self.multi_currency:
                merged["CurrencyIsoCode"] = opp["CurrencyIsoCode"]
        given_unit, given_total = "UnitPrice" in changes, "TotalPrice" in changes
        if given_unit and given_total and changes["UnitPrice"] is not None and changes["TotalPrice"] is not None:
            raise SFError(400, "FIELD_INTEGRITY_EXCEPTION", "field integrity exception: TotalPrice (you may not "
                          "specify both unit price and total price)", ["TotalPrice"])
        places = self.decimals(opp)
        quantity = merged["Quantity"]
        if quantity is not None and quantity <= 0 and (existing is None or "Quantity" in changes):
            raise SFError(400, "FIELD_INTEGRITY_EXCEPTION", "field integrity exception: Quantity (quantity must be "
                          "greater than zero)", ["Quantity"])
        discount = merged.get("Discount") or Decimal(0)
        if given_total and changes["TotalPrice"] is not None:
            factor = quantity * (1 - discount / 100)
            if factor == 0:
                raise SFError(400, "FIELD_INTEGRITY_EXCEPTION", "field integrity exception: TotalPrice", ["TotalPrice"])
            merged["UnitPrice"] = quantize(changes["TotalPrice"] / factor, 2)
        if merged.get("UnitPrice") is None:
            raise SFError(400, "FIELD_INTEGRITY_EXCEPTION", "field integrity exception: unknown (must specify "
                          "either UnitPrice or TotalPrice)", ["UnitPrice", "TotalPrice"])
        subtotal = quantize(quantity * merged["UnitPrice"], places)
        merged["Subtotal"] = subtotal
        merged["TotalPrice"] = quantize(subtotal * (1 - discount / 100), places)
        return [merged["OpportunityId"]]

    def derive_pricebook_entry(self, merged, changes, existing):
        product = self.records["Product2"][merged["Product2Id"]]
        merged["ProductCode"], merged["Name"] = product["ProductCode"], product["Name"]
        currency = merged.get("CurrencyIsoCode") or (self.currency if self.multi_currency else None)
        if self.multi_currency:
            merged["CurrencyIsoCode"] = currency
        standard = self.standard_pricebook
        standard_entry = None
        for r in self.records["PricebookEntry"].values():
            if (not r["IsDeleted"] and r["Product2Id"] == merged["Product2Id"]
                    and r.get("CurrencyIsoCode") == merged.get("CurrencyIsoCode")):
                if r["Pricebook2Id"] == standard:
                    standard_entry = r
                if existing is None and r["Pricebook2Id"] == merged["Pricebook2Id"]:
                    raise SFError(400, "DUPLICATE_VALUE", "This price definition already exists in this price "
                                  f"book: {r['Id']}", [])
        if merged["Pricebook2Id"] != standard and standard_entry is None:
            raise SFError(400, "STANDARD_PRICE_NOT_DEFINED",
                          "Before creating a custom price, create a standard price.", [])
        if merged.get("UseStandardPrice"):
            if merged["Pricebook2Id"] == standard:
                raise SFError(400, "FIELD_INTEGRITY_EXCEPTION", "field integrity exception: UseStandardPrice "
                              "(a standard price cannot use the standard price)", ["UseStandardPrice"])
            merged["UnitPrice"] = standard_entry["UnitPrice"]
        elif merged.get("UnitPrice") is None:
            raise SFError(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [UnitPrice]", ["UnitPrice"])

    def rollup(self, opp_id, undo, now):
        opp = self.records["Opportunity"].get(opp_id)
        if opp is None:
            return
        undo.append(("Opportunity", opp_id, dict(opp)))
        items = self.line_items(opp_id)
        total = sum((r["TotalPrice"] for r in items), Decimal(0))
        opp["Amount"] = quantize(total, self.decimals(opp)) if items or opp["Amount"] is not None else None
        if items and opp["Pricebook2Id"] is None:
            opp["Pricebook2Id"] = self.records["PricebookEntry"][items[0]["PricebookEntryId"]]["Pricebook2Id"]
        opp["SystemModstamp"] = now

    def delete(self, obj, rid, undo):
        record = self.get(obj, rid)
        self.check_reject(obj, record)
        now = self.clock.now()
        children = []
        if obj == "Account":
            children = [("Contact", r["Id"]) for r in self.records["Contact"].values()
                        if r["AccountId"] == rid and not r["IsDeleted"]]
            children += [("Opportunity", r["Id"]) for r in self.records["Opportunity"].values()
                         if r["AccountId"] == rid and not r["IsDeleted"]]
        elif obj == "Opportunity":
            children = [("OpportunityLineItem", r["Id"]) for r in self.line_items(rid)]
        undo.append((obj, rid, dict(record)))
        record["IsDeleted"] = True
        record["SystemModstamp"] = now
        record["_deleted_at"] = now
        for child_obj, child_id in children:
            child = self.records[child_obj][child_id]
            if not child["IsDeleted"]:
                if child_obj == "Opportunity":
                    for item in self.line_items(child_id):
                        undo.append(("OpportunityLineItem", item["Id"], dict(item)))
                        item.update({"IsDeleted": True, "SystemModstamp": now, "_deleted_at": now})
                undo.append((child_obj, child_id, dict(child)))
                child.update({"IsDeleted": True, "SystemModstamp": now, "_deleted_at": now})
        if obj == "OpportunityLineItem":
            self.rollup(record["OpportunityId"], undo, now)

    def rollback(self, undo):
        for obj, rid, old in reversed(undo):
            current = self.records[obj].get(rid)
            if old is None:
                if current is not None:
                    self.reindex(obj, rid, current, None)
                    del self.records[obj][rid]
                    if obj == "OpportunityLineItem":
                        self.items_by_opp.get(current["OpportunityId"], []).remove(rid)
            else:
                self.reindex(obj, rid, current, old)
                self.records[obj][rid] = old
        undo.clear()


# ---------------------------------------------------------------------------------------------
# SOQL: tokenizer, parser, evaluation
# ---------------------------------------------------------------------------------------------

KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC", "NULLS",
            "FIRST", "LAST", "LIMIT", "TRUE", "FALSE", "NULL", "GROUP", "OFFSET", "HAVING", "TYPEOF", "WITH", "FOR",
            "INCLUDES", "EXCLUDES", "USING"}
DATE_FUNCS = {"TODAY": 0, "YESTERDAY": -1, "TOMORROW": 1}
N_DAY_FUNCS = ("LAST_N_DAYS", "NEXT_N_DAYS")
ESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
SOQL_DT_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2})")
SOQL_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}(?![\dT:])")
SOQL_NUM_RE = re.compile(r"[+-]?\d+(?:\.\d+)?(?![\w.])")
IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


class Tok:
    __slots__ = ("kind", "value", "pos", "text", "like")

    def __init__(self, kind, value, pos, text, like=None):
        self.kind, self.value, self.pos, self.text, self.like = kind, value, pos, text, like


def soql_error(code, query, pos, message):
    pos = max(0, min(pos, len(query)))
    row = query.count("\n", 0, pos) + 1
    start = query.rfind("\n", 0, pos) + 1
    col = pos - start + 1
    line = query.split("\n")[row - 1]
    return SFError(400, code, f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{message}")


def tokenize(q):
    toks, i, n = [], 0, len(q)
    while i < n:
        c = q[i]
        if c.isspace():
            i += 1
            continue
        if c == "'":
            j, out, like = i + 1, [], []
            while True:
                if j >= n:
                    raise soql_error("MALFORMED_QUERY", q, i, f"unexpected token: '{q[i:]}'")
                ch = q[j]
                if ch == "\\":
                    if j + 1 >= n:
                        raise soql_error("MALFORMED_QUERY", q, i, f"unexpected token: '{q[i:]}'")
                    e = q[j + 1]
                    if e in ESCAPES:
                        out.append(ESCAPES[e])
                        like.append(re.escape(ESCAPES[e]))
                    elif e in "%_":
                        out.append("\\" + e)
                        like.append(re.escape(e))
                    else:
                        literal = q[i:q.find("'", j + 2) + 1 if q.find("'", j + 2) >= 0 else n]
                        raise soql_error("MALFORMED_QUERY", q, i, f"Invalid string literal {literal}. Illegal "
                                         f"character sequence '\\{e}' in string literal.")
                    j += 2
                    continue
                if ch == "'":
                    break
                out.append(ch)
                like.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
                j += 1
            toks.append(Tok("STRING", "".join(out), i, q[i:j + 1], "".join(like)))
            i = j + 1
            continue
        if c.isdigit() or (c in "+-" and i + 1 < n and q[i + 1].isdigit()):
            m = SOQL_DT_RE.match(q, i)
            if m:
                value = parse_dt(m.group(0), soql=True)
                if value is None:
                    raise soql_error("MALFORMED_QUERY", q, i, f"line 1:{i} no viable alternative at character "
                                     f"'{m.group(0)}'")
                toks.append(Tok("DATETIME", value, i, m.group(0)))
                i = m.end()
                continue
            m = SOQL_DATE_RE.match(q, i)
            if m:
                if not valid_date(m.group(0)):
                    raise soql_error("MALFORMED_QUERY", q, i, f"invalid date: {m.group(0)}")
                toks.append(Tok("DATE", m.group(0), i, m.group(0)))
                i = m.end()
                continue
            m = SOQL_NUM_RE.match(q, i)
            if m:
                toks.append(Tok("NUMBER", Decimal(m.group(0)), i, m.group(0)))
                i = m.end()
                continue
            end = i + 1
            while end < n and not q[end].isspace() and q[end] not in "(),":
                end += 1
            raise soql_error("MALFORMED_QUERY", q, i, f"unexpected token: '{q[i:end]}'")
        m = IDENT_RE.match(q, i)
        if m:
            word = m.group(0)
            kind = "KW" if word.upper() in KEYWORDS else "IDENT"
            toks.append(Tok(kind, word.upper() if kind == "KW" else word, i, word))
            i = m.end()
            continue
        for op in ("!=", "<>", "<=", ">=", "=", "<", ">"):
            if q.startswith(op, i):
                toks.append(Tok("OP", "!=" if op == "<>" else op, i, op))
                i += len(op)
                break
        else:
            if c in "(),:":
                toks.append(Tok(c, c, i, c))
                i += 1
                continue
            raise soql_error("MALFORMED_QUERY", q, i, f"unexpected token: '{c}'")
    toks.append(Tok("EOF", None, n, "<EOF>"))
    return toks


class Query:
    __slots__ = ("text", "obj", "fields", "where", "order", "limit")


class Parser:
    def __init__(self, org, text, now):
        self.org, self.q, self.now = org, text, now
        self.toks = tokenize(text)
        self.i = 0

    def peek(self, offset=0):
        return self.toks[min(self.i + offset, len(self.toks) - 1)]

    def next(self):
        tok = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def unexpected(self, tok):
        return soql_error("MALFORMED_QUERY", self.q, tok.pos, f"unexpected token: '{tok.text}'" if tok.kind != "EOF"
                          else "unexpected token: '<EOF>'")

    def expect_kw(self, word):
        tok = self.next()
        if tok.kind != "KW" or tok.value != word:
            raise self.unexpected(tok)
        return tok

    def is_kw(self, word, offset=0):
        tok = self.peek(offset)
        return tok.kind == "KW" and tok.value == word

    def field_ref(self, obj, tok):
        if tok.kind != "IDENT":
            raise self.unexpected(tok)
        f = self.org.field(obj, tok.value)
        if f is None:
            if "." in tok.value:
                message = f"Didn't understand relationship '{tok.value.split('.')[0]}' in field path. If you are " \
                          f"attempting to use a custom relationship, be sure to append the '__r' after the custom " \
                          f"relationship name. Please reference your WSDL or the describe call for the appropriate " \
                          f"names."
            else:
                message = f"No such column '{tok.value}' on entity '{obj}'. If you are attempting to use a custom " \
                          f"field, be sure to append the '__c' after the custom field name. Please reference your " \
                          f"WSDL or the describe call for the appropriate names."
            raise soql_error("INVALID_FIELD", self.q, tok.pos, message)
        return f

    def parse(self):
        query = Query()
        query.text = self.q
        self.expect_kw("SELECT")
        field_toks = []
        while True:
            tok = self.next()
            if tok.kind != "IDENT":
                raise self.unexpected(tok)
            if self.peek().kind == "(":
                raise soql_error("MALFORMED_QUERY", self.q, tok.pos, f"unexpected token: '{tok.text}('"
                                 " (functions are not supported by this fake)")
            field_toks.append(tok)
            if self.peek().kind == ",":
                self.next()
                continue
            break
        self.expect_kw("FROM")
        obj_tok = self.next()
        if obj_tok.kind != "IDENT":
            raise self.unexpected(obj_tok)
        obj = next((o for o in PREFIXES if o.lower() == obj_tok.value.lower()), None)
        if obj is None:
            raise soql_error("INVALID_TYPE", self.q, obj_tok.pos, f"sObject type '{obj_tok.value}' is not supported. "
                             "If you are attempting to use a custom object, be sure to append the '__c' after the "
                             "entity name. Please reference your WSDL or the describe call for the appropriate names.")
        query.obj = obj
        query.fields, seen = [], set()
        for tok in field_toks:
            f = self.field_ref(obj, tok)
            if f.name in seen:
                raise soql_error("MALFORMED_QUERY", self.q, tok.pos, f"duplicate field selected: {f.name}")
            seen.add(f.name)
            query.fields.append(f)
        query.where = None
        if self.is_kw("WHERE"):
            self.next()
            query.where = self.expr(obj)
        query.order = []
        if self.is_kw("ORDER"):
            self.next()
            self.expect_kw("BY")
            while True:
                f = self.field_ref(obj, self.next())
                desc, nulls_first = False, None
                if self.is_kw("ASC") or self.is_kw("DESC"):
                    desc = self.next().value == "DESC"
                if self.is_kw("NULLS"):
                    self.next()
                    tok = self.next()
                    if tok.kind != "KW" or tok.value not in ("FIRST", "LAST"):
                        raise self.unexpected(tok)
                    nulls_first = tok.value == "FIRST"
                query.order.append((f, desc, True if nulls_first is None else nulls_first))
                if self.peek().kind == ",":
                    self.next()
                    continue
                break
        query.limit = None
        if self.is_kw("LIMIT"):
            self.next()
            tok = self.next()
            if tok.kind != "NUMBER" or tok.value != tok.value.to_integral_value() or tok.value < 0:
                raise self.unexpected(tok)
            query.limit = int(tok.value)
        tok = self.peek()
        if tok.kind != "EOF":
            raise self.unexpected(tok)
        return query

    # WHERE: OR / AND may not be mixed on one level without parentheses (as SOQL)
    def expr(self, obj):
        parts = [self.unary(obj)]
        joiner = None
        while self.is_kw("AND") or self.is_kw("OR"):
            tok = self.next()
            if joiner is not None and tok.value != joiner:
                raise self.unexpected(tok)
            joiner = tok.value
            parts.append(self.unary(obj))
        if joiner is None:
            return parts[0]
        if joiner == "AND":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)

    def unary(self, obj):
        if self.is_kw("NOT"):
            self.next()
            inner = self.unary(obj)
            return lambda r: not inner(r)
        if self.peek().kind == "(":
            self.next()
            inner = self.expr(obj)
            tok = self.next()
            if tok.kind != ")":
                raise self.unexpected(tok)
            return inner
        return self.condition(obj)

    def condition(self, obj):
        f = self.field_ref(obj, self.next())
        tok = self.next()
        if tok.kind == "OP":
            lit = self.literal(f, self.next(), tok.value)
            return compare(f, tok.value, lit)
        negate = False
        if tok.kind == "KW" and tok.value == "NOT" and self.is_kw("IN"):
            negate, tok = True, self.next()
        if tok.kind == "KW" and tok.value == "IN":
            if self.peek().kind != "(":
                raise self.unexpected(self.peek())
            self.next()
            if self.is_kw("SELECT"):
                raise soql_error("MALFORMED_QUERY", self.q, self.peek().pos, "unexpected token: 'SELECT' "
                                 "(semi-joins are not supported by this fake)")
            values = []
            while True:
                lit = self.literal(f, self.next(), "IN")
                values.append(lit)
                t = self.next()
                if t.kind == ",":
                    continue
                if t.kind == ")":
                    break
                raise self.unexpected(t)
            keys = set(v[1] for v in values)
            name = f.name
            text = f.type in TEXT_TYPES and f.type not in ("id", "reference")
            if text:
                if negate:
                    return lambda r: (r[name].lower() if r[name] is not None else None) not in keys
                return lambda r: (r[name].lower() if r[name] is not None else None) in keys
            if negate:
                return lambda r: r[name] not in keys
            return lambda r: r[name] in keys
        if tok.kind == "KW" and tok.value == "LIKE":
            lit_tok = self.next()
            if f.type not in TEXT_TYPES or f.type in ("id", "reference"):
                raise soql_error("INVALID_FIELD", self.q, tok.pos, f"invalid operator on {f.type} field: LIKE")
            if lit_tok.kind != "STRING":
                raise soql_error("INVALID_FIELD", self.q, lit_tok.pos, f"value of filter criterion for field "
                                 f"'{f.name}' must be of type string and should be enclosed in quotes")
            pattern = re.compile(lit_tok.like + r"\Z", re.I | re.S)
            name = f.name
            return lambda r: r[name] is not None and pattern.match(r[name]) is not None
        raise self.unexpected(tok)

    def literal(self, f, tok, op):
        """(kind, key) for a literal compared with field f: kind "point" (key comparable with stored values),
        "range" ((lo, hi) half-open, date functions), or "null"."""
        if tok.kind == "KW" and tok.value == "NULL":
            if op not in ("=", "!=", "IN"):
                raise soql_error("MALFORMED_QUERY", self.q, tok.pos, "unexpected token: 'null'")
            return ("null", None)
        t = f.type

        def wrong(kind, quotes):
            return soql_error("INVALID_FIELD", self.q, tok.pos, f"value of filter criterion for field '{f.name}' "
                              f"must be of type {kind} and should {'' if quotes else 'not '}be enclosed in quotes")

        if t in TEXT_TYPES:
            if tok.kind != "STRING":
                raise wrong("string" if t not in ("id", "reference") else "id", True)
            if t in ("id", "reference"):
                rid = to18(tok.value)
                if rid is None:
                    raise soql_error("INVALID_QUERY_FILTER_OPERATOR", self.q, tok.pos, f"invalid ID field: {tok.value}")
                return ("point", rid)
            return ("point", tok.value.replace("\\%", "%").replace("\\_", "_").lower())
        if t in NUMBER_TYPES:
            if tok.kind != "NUMBER":
                raise wrong("double" if t != "int" else "integer", False)
            return ("point", tok.value)
        if t == "boolean":
            if tok.kind != "KW" or tok.value not in ("TRUE", "FALSE"):
                raise wrong("boolean", False)
            return ("point", tok.value == "TRUE")
        if t in ("date", "datetime"):
            kind = "date" if t == "date" else "dateTime"
            if tok.kind == "IDENT" and (tok.value.upper() in DATE_FUNCS or tok.value.upper() in N_DAY_FUNCS):
                name = tok.value.upper()
                if name in DATE_FUNCS:
                    lo_day, hi_day = DATE_FUNCS[name], DATE_FUNCS[name] + 1
                else:
                    if self.peek().kind != ":" or self.peek(1).kind != "NUMBER":
                        raise self.unexpected(self.peek())
                    self.next()
                    days = int(self.next().value)
                    lo_day, hi_day = (-days, 1) if name == "LAST_N_DAYS" else (1, days + 1)
                if t == "date":
                    return ("range", (day_str(self.now, lo_day), day_str(self.now, hi_day)))
                return ("range", (day_start(self.now, lo_day), day_start(self.now, hi_day)))
            if t == "date":
                if tok.kind != "DATE":
                    raise wrong(kind, False)
                return ("point", tok.value)
            if tok.kind != "DATETIME":
                raise wrong(kind, False)
            return ("point", tok.value)
        raise wrong(t, False)


def compare(f, op, lit):
    name = f.name
    kind, key = lit
    text = f.type in TEXT_TYPES and f.type not in ("id", "reference")

    def value(r):
        v = r[name]
        return v.lower() if text and v is not None else v

    if kind == "null":
        return (lambda r: r[name] is None) if op == "=" else (lambda r: r[name] is not None)
    if kind == "range":
        lo, hi = key
        tests = {"=": lambda v: lo <= v < hi, "!=": lambda v: not lo <= v < hi, "<": lambda v: v < lo,
                 "<=": lambda v: v < hi, ">": lambda v: v >= hi, ">=": lambda v: v >= lo}
    else:
        tests = {"=": lambda v: v == key, "!=": lambda v: v != key, "<": lambda v: v < key,
                 "<=": lambda v: v <= key, ">": lambda v: v > key, ">=": lambda v: v >= key}
    test = tests[op]
    if op == "!=":
        return lambda r: value(r) is None or test(value(r))  # SOQL: != keeps null rows (assumption)
    return lambda r: (lambda v: v is not None and test(v))(value(r))


def run_query(org, query, include_deleted):
    """The matching records, ordered and limited."""
    where = query.where
    rows = [r for r in org.records[query.obj].values()
            if (include_deleted or not r["IsDeleted"]) and (where is None or where(r))]
    for f, desc, nulls_first in reversed(query.order):
        name = f.name
        text = f.type in TEXT_TYPES and f.type not in ("id", "reference")
        null_rank = (0 if nulls_first else 1) if not desc else (1 if nulls_first else 0)

        def key(r, name=name, text=text, null_rank=null_rank):
            v = r[name]
            if v is None:
                return (null_rank, None)
            return (1 - null_rank, v.lower() if text else v)

        rows.sort(key=key, reverse=desc)
    if query.limit is not None:
        rows = rows[:query.limit]
    return rows


# ---------------------------------------------------------------------------------------------
# The fake
# ---------------------------------------------------------------------------------------------

VERSION_RE = re.compile(r"^/services/data(?:/v(\d+)\.(\d+))?(/.*)?$")
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
REF_RE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
ROLLED_BACK = ("ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back because not all records were valid and the "
               "request was using AllOrNone header")
HALTED = "The transaction was rolled back since another operation in the same transaction failed."
STATUS_CODES = {400: "BAD_REQUEST", 401: "INVALID_SESSION_ID", 403: "FORBIDDEN", 404: "NOT_FOUND",
                405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 429: "REQUEST_LIMIT_EXCEEDED", 500: "UNKNOWN_EXCEPTION",
                503: "SERVER_UNAVAILABLE"}
ORG_KEYS = {"consumer_key", "username", "certificate", "client_secret", "refresh_token", "rotate_refresh_tokens",
            "multi_currency", "currency", "api_max", "audiences", "approved"}


def check_fault(spec):
    if spec.get("kind") == "sf_error":
        if not isinstance(spec.get("errorCode"), str) or not spec["errorCode"]:
            raise FaultSpecError("an 'sf_error' fault needs field 'errorCode' (a string)")
        if spec.get("message") is not None and not isinstance(spec["message"], str):
            raise FaultSpecError("field 'message' must be a string")
        if spec.get("fields") is not None and not isinstance(spec["fields"], list):
            raise FaultSpecError("field 'fields' must be a list of field names")


class Raw:
    def __init__(self, body: bytes, content_type: str):
        self.body, self.content_type = body, content_type


class SalesforceFake(Fake):
    name = "fake-salesforce"
    server_header = "fake-salesforce (loopback)"
    http_methods = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")

    def __init__(self, config):
        super().__init__(fault_kinds=("sf_error",), fault_fields=("errorCode", "message", "fields"),
                         fault_check=check_fault)
        self.lock = threading.RLock()
        self.config0 = dict(config)
        self.base_url = None
        self.reset_state()

    # -- state ----------------------------------------------------------------------------------

    def reset_state(self):
        with self.lock:
            self.cfg = dict(self.config0)
            self.cfg.setdefault("audiences", list(DEFAULT_AUDIENCES))
            self.cfg.setdefault("approved", True)
            self.public_key = public_key_from_pem(self.cfg["certificate"]) if self.cfg.get("certificate") else None
            self.org = Org(self.clock, bool(self.cfg["multi_currency"]), self.cfg["currency"])
            self.org_id, self.user_id = make_id("00D", 1), make_id("005", 1)
            self.sessions, self.ttl_s = {}, None
            self.grant_counts = {"jwt": 0, "refresh_token": 0}
            self.refresh_valid, self.refresh_rotated = {self.cfg["refresh_token"]}, set()
            self.api_used = 0
            self.jobs, self.job_counter, self.jobs_created = {}, 0, 0
            self.bulk_cfg = {"polls_to_complete": 2, "fail_next": None}
            self.locators, self.locator_counter = {}, 0
            self.tx_log = None  # a composite allOrNone call's undo log

    def reset(self):
        self.reset_state()
        super().reset()

    def base(self, request=None):
        if self.base_url:
            return self.base_url
        host = request.headers.get("Host") if request is not None else None
        return f"http://{host}" if host else f"http://{LOOPBACK}"

    # -- answers --------------------------------------------------------------------------------

    def sf_reply(self, status, value, headers=None):
        if isinstance(value, Raw):
            return Reply(status, value.body, value.content_type, headers)
        if value is None:
            return Reply(status, b"", JSON_TYPE, headers)
        return Reply(status, dumps(value), JSON_TYPE, headers)

    def error_reply(self, status, message, headers):
        code = STATUS_CODES.get(status, "UNKNOWN_EXCEPTION")
        return self.sf_reply(status, [{"message": message, "errorCode": code}], headers)

    def bug_reply(self, exc):
        return self.sf_reply(500, [{"message": f"the fake failed: {type(exc).__name__} (traceback on its stderr)",
                                    "errorCode": "UNKNOWN_EXCEPTION"}])

    def handle(self, request):
        with self.lock:
            if request.path.rstrip("/") == "/services/oauth2/token":
                return self.token_endpoint(request)
            fault = request.fault
            if fault is not None and fault.kind == "sf_error":
                item = {"message": fault.get("message", "an error queued on the fake"), "errorCode": fault.get("errorCode")}
                if fault.spec.get("fields") is not None:
                    item["fields"] = fault.spec["fields"]
                return self.sf_reply(fault.get("status", 400), [item], fault.get("headers", {}))
            if VERSION_RE.match(request.path):
                return self.data_api(request)
            return self.sf_reply(404, [not_found().item()])

    # -- OAuth token endpoint -------------------------------------------------------------------

    def token_endpoint(self, request):
        try:
            if request.method != "POST":
                raise OAuthError("invalid_request", "must use HTTP POST")
            ctype = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype != "application/x-www-form-urlencoded":
                raise OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
            form = {k: v[0] for k, v in urllib.parse.parse_qs(request.body.decode("utf-8"), keep_blank_values=True).items()}
            grant = form.get("grant_type")
            if grant == JWT_GRANT:
                request.note += " grant=jwt"
                answer = self.jwt_grant(form.get("assertion") or "", request)
            elif grant == "refresh_token":
                request.note += " grant=refresh_token"
                answer = self.refresh_grant(form, request)
            else:
                raise OAuthError("unsupported_grant_type", "grant type not supported")
            return Reply(200, dumps(answer), JSON_TYPE, {"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"})
        except OAuthError as e:
            return Reply(e.status, dumps({"error": e.error, "error_description": e.description}), JSON_TYPE)

    def issue(self, grant, request):
        now = self.clock.time()
        token = self.org_id[:15] + "!AQ" + "".join(secrets.choice(BASE62) for _ in range(40)) + "." + \
            "".join(secrets.choice(BASE62 + "._") for _ in range(56))
        self.sessions[token] = {"issued": now, "expires": now + self.ttl_s if self.ttl_s else None, "grant": grant}
        self.grant_counts[grant] += 1
        base = self.base(request)
        return token, {"access_token": token, "instance_url": base,
                       "id": f"{base}/id/{self.org_id}/{self.user_id}", "token_type": "Bearer"}

    def jwt_grant(self, assertion, request):
        parts = assertion.split(".")
        try:
            if len(parts) != 3:
                raise ValueError
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
            if not isinstance(header, dict) or not isinstance(claims, dict):
                raise ValueError
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_grant", "invalid assertion")
        if header.get("alg") != "RS256":
            raise OAuthError("invalid_grant", "invalid assertion")
        if claims.get("iss") != self.cfg["consumer_key"]:
            raise OAuthError("invalid_client", "client identifier invalid")
        if self.public_key is None or not rs256_verify(self.public_key, (parts[0] + "." + parts[1]).encode("ascii"),
                                                       signature):
            raise OAuthError("invalid_grant", "invalid assertion")
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if not any(a in self.cfg["audiences"] for a in auds if isinstance(a, str)):
            raise OAuthError("invalid_grant", "audience is invalid")
        exp = claims.get("exp")
        if isinstance(exp, str) and exp.isdigit():  # simple-salesforce sends exp as a string of digits
            exp = int(exp)
        now = self.clock.time()
        if isinstance(exp, bool) or not isinstance(exp, (int, float)) or exp <= now or exp > now + 300 + 5:
            raise OAuthError("invalid_grant", "invalid assertion")
        if claims.get("sub") != self.cfg["username"] or not self.cfg["approved"]:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        _, answer = self.issue("jwt", request)
        return {"access_token": answer["access_token"], "scope": "id full api", "instance_url": answer["instance_url"],
                "id": answer["id"], "token_type": "Bearer"}

    def refresh_grant(self, form, request):
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("Authorization") or ""
        if auth.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                raise OAuthError("invalid_client", "invalid client credentials")
        if client_id != self.cfg["consumer_key"]:
            raise OAuthError("invalid_client", "client identifier invalid")
        if secret is not None and secret != self.cfg["client_secret"]:
            raise OAuthError("invalid_client", "invalid client credentials")
        if secret is None:
            raise OAuthError("invalid_client", "invalid client credentials")
        rt = form.get("refresh_token")
        if rt in self.refresh_rotated:  # reuse of a rotated refresh token revokes everything
            self.refresh_valid.clear()
            self.sessions.clear()
            raise OAuthError("invalid_grant", "expired access/refresh token")
        if rt not in self.refresh_valid:
            raise OAuthError("invalid_grant", "expired access/refresh token")
        _, answer = self.issue("refresh_token", request)
        issued_at = str(int(self.clock.time() * 1000))
        sig = base64.b64encode(hmac.new(self.cfg["client_secret"].encode(), (answer["id"] + issued_at).encode(),
                                        hashlib.sha256).digest()).decode()
        out = {"access_token": answer["access_token"], "signature": sig, "scope": "refresh_token api id full",
               "instance_url": answer["instance_url"], "id": answer["id"], "token_type": "Bearer",
               "issued_at": issued_at}
        if self.cfg["rotate_refresh_tokens"]:
            new = "5Aep861" + "".join(secrets.choice(BASE62 + ".") for _ in range(80))
            self.refresh_valid.discard(rt)
            self.refresh_rotated.add(rt)
            self.refresh_valid.add(new)
            out["refresh_token"] = new
        return out

    # -- /services/data -------------------------------------------------------------------------

    def data_api(self, request):
        m = VERSION_RE.match(request.path)
        major, minor, rest = m.group(1), m.group(2), m.group(3) or ""
        if major is None:
            if rest.strip("/"):
                return self.sf_reply(404, [not_found().item()])
            return self.sf_reply(200, [{"label": f"v{v}.0", "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                                       for v in range(MIN_VERSION, MAX_VERSION + 1)])
        if minor != "0" or not MIN_VERSION <= int(major) <= MAX_VERSION:
            return self.sf_reply(404, [not_found().item()])
        version = f"{int(major)}.0"
        auth = (request.headers.get("Authorization") or "").strip()
        token = auth.split(None, 1)[1].strip() if auth.lower().startswith(("bearer ", "oauth ")) else None
        session = self.sessions.get(token) if token else None
        if session is None or (session["expires"] is not None and self.clock.time() >= session["expires"]):
            if session is not None:
                del self.sessions[token]
            return self.sf_reply(401, [{"message": SESSION_MESSAGE, "errorCode": "INVALID_SESSION_ID"}],
                                 {"WWW-Authenticate": 'Token realm="Salesforce",error="invalid_token"'})
        api_max = self.cfg["api_max"]
        if self.api_used >= api_max:
            return self.sf_reply(403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                                 {"Sforce-Limit-Info": f"api-usage={self.api_used}/{api_max}"})
        self.api_used += 1
        headers = {"Sforce-Limit-Info": f"api-usage={self.api_used}/{api_max}"}
        segs = [urllib.parse.unquote(s) for s in rest.split("/")]
        while segs and segs[0] == "":
            segs.pop(0)
        while segs and segs[-1] == "":
            segs.pop()
        params = {k: v[0] for k, v in urllib.parse.parse_qs(request.query, keep_blank_values=True).items()}
        try:
            body = None
            if request.method in ("POST", "PATCH", "PUT") and request.body.strip():
                body = self.parse_json(request.body)
            status, value, extra = self.route(request.method, segs, params, body, request.headers, version)
            headers.update(extra or {})
        except SFError as e:
            status, value = e.status, e.body()
            headers.update(e.headers)
        return self.sf_reply(status, value, headers)

    @staticmethod
    def parse_json(data):
        try:
            return json.loads(data.decode("utf-8"), parse_float=Decimal)
        except (ValueError, UnicodeDecodeError) as e:
            line, col = getattr(e, "lineno", 1), getattr(e, "colno", 1)
            raise SFError(400, "JSON_PARSER_ERROR", f"Unexpected character in the JSON body at [line:{line}, "
                          f"column:{col}]")

    def route(self, method, segs, params, body, headers, version):
        """(status, value, headers) of one REST call under /services/data/vXX.X/ (also the composite's subrequests)."""
        head = segs[0] if segs else ""

        def allow(*methods):
            if method not in methods:
                raise SFError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are "
                              f"{','.join(methods)}")

        if not segs:
            allow("GET")
            return 200, {k: f"/services/data/v{version}/{k}" for k in
                         ("sobjects", "query", "queryAll", "limits", "composite", "jobs")}, None
        if head == "limits" and len(segs) == 1:
            allow("GET")
            return 200, self.limits_body(), None
        if head == "sobjects":
            return self.sobjects(method, segs[1:], params, body, version, allow)
        if head in ("query", "queryAll") and len(segs) <= 2:
            allow("GET")
            if len(segs) == 2:
                return 200, self.query_more(segs[1], version), None
            return 200, self.soql(params, headers, version, head == "queryAll"), None
        if head == "jobs" and len(segs) >= 2 and segs[1] == "query":
            return self.bulk(method, segs[2:], params, body, version, allow)
        if head == "composite":
            if len(segs) == 1:
                allow("POST")
                return 200, self.composite(body, version), None
            if segs[1] == "sobjects" and len(segs) == 2:
                allow("POST", "PATCH", "DELETE")
                return 200, self.collection(method, body, params, version), None
            if segs[1] == "sobjects" and len(segs) == 4:
                allow("PATCH")
                return 200, self.collection_upsert(self.sobject(segs[2]), segs[3], body), None
        raise not_found()

    def limits_body(self):
        api_max = self.cfg["api_max"]
        return {"DailyApiRequests": {"Max": api_max, "Remaining": max(0, api_max - self.api_used)},
                "DailyBulkV2QueryJobs": {"Max": BULK_JOBS_MAX, "Remaining": max(0, BULK_JOBS_MAX - self.jobs_created)},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562}}

    # -- sObjects -------------------------------------------------------------------------------

    @staticmethod
    def sobject(name):
        obj = next((o for o in PREFIXES if o.lower() == name.lower()), None)
        if obj is None:
            raise not_found()
        return obj

    def commit(self, undo):
        if self.tx_log is not None:
            self.tx_log.extend(undo)

    def do_write(self, obj, rid, body):
        undo = []
        try:
            rid = self.org.write(obj, rid, body, undo)
        except SFError:
            self.org.rollback(undo)
            raise
        self.commit(undo)
        return rid

    def sobjects(self, method, segs, params, body, version, allow):
        org = self.org
        if not segs:
            allow("GET")
            return 200, {"encoding": "UTF-8", "maxBatchSize": 200,
                         "sobjects": [self.describe_object(o, version, fields=False) for o in PREFIXES]}, None
        obj = self.sobject(segs[0])
        rest = segs[1:]
        base = f"/services/data/v{version}/sobjects/{obj}"
        if not rest:
            allow("GET", "POST")
            if method == "GET":
                return 200, {"objectDescribe": self.describe_object(obj, version, fields=False), "recentItems": []}, None
            rid = self.do_write(obj, None, body if body is not None else {})
            return 201, {"id": rid, "success": True, "errors": []}, {"Location": f"{base}/{rid}"}
        if rest == ["describe"]:
            allow("GET")
            return 200, self.describe_object(obj, version, fields=True), None
        if rest[0] in ("updated", "deleted") and len(rest) == 1:
            allow("GET")
            return 200, self.replication(obj, rest[0], params), None
        if len(rest) == 1:
            allow("GET", "PATCH", "DELETE")
            rid = to18(rest[0])
            if rid is None or not rid.startswith(PREFIXES[obj]):
                raise not_found()
            if method == "GET":
                record = org.get(obj, rid)
                return 200, org.to_json(obj, record, version, self.select_fields(obj, params)), None
            if method == "PATCH":
                self.do_write(obj, rid, body if body is not None else {})
                return 204, None, None
            undo = []
            try:
                org.delete(obj, rid, undo)
            except SFError:
                org.rollback(undo)
                raise
            self.commit(undo)
            return 204, None, None
        if len(rest) == 2:
            allow("GET", "PATCH")
            return self.by_external(method, obj, rest[0], rest[1], params, body, version)
        raise not_found()

    def select_fields(self, obj, params):
        if not params.get("fields"):
            return None
        out = [self.org.field(obj, "Id")]
        for name in params["fields"].split(","):
            f = self.org.field(obj, name.strip())
            if f is None:
                raise SFError(400, "INVALID_FIELD", f"No such column '{name.strip()}' on entity '{obj}'. If you are "
                              "attempting to use a custom field, be sure to append the '__c' after the custom field "
                              "name. Please reference your WSDL or the describe call for the appropriate names.")
            if f not in out:
                out.append(f)
        return out

    def by_external(self, method, obj, field_name, value, params, body, version):
        org = self.org
        f = org.field(obj, field_name)
        if f is None or not (f.external_id or f.name == "Id"):
            raise not_found()
        if f.name == "Id":
            rid = to18(value)
            if rid is None or not rid.startswith(PREFIXES[obj]) or rid not in org.records[obj]:
                raise not_found()
            matches = [org.get(obj, rid)]
        else:
            matches = org.by_external(obj, f.name, value)
        base = f"/services/data/v{version}/sobjects/{obj}"
        if len(matches) > 1:
            raise _MultipleChoices([f"{base}/{r['Id']}" for r in matches])
        if method == "GET":
            if not matches:
                raise not_found()
            return 200, org.to_json(obj, matches[0], version, self.select_fields(obj, params)), None
        body = dict(body if body is not None else {})
        if not isinstance(body, dict):
            raise SFError(400, "JSON_PARSER_ERROR", "The body must be a JSON object")
        for key in list(body):
            if key.lower() == f.name.lower() and f.name != "Id":
                given = org.coerce(obj, f, body[key])
                if org.ext_key(given) != org.ext_key(value):
                    raise SFError(400, "INVALID_FIELD", f"The value of the external id field {f.name} in the body "
                                  "does not match the one in the URL", [f.name])
                del body[key]
        if matches:
            rid = self.do_write(obj, matches[0]["Id"], body)
            return 200, {"id": rid, "success": True, "errors": [], "created": False}, None
        if f.type == "double":
            try:
                body[f.name] = Decimal(value)
            except InvalidOperation:
                raise SFError(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of double from {value}")
        else:
            body[f.name] = value
        rid = self.do_write(obj, None, body)
        return 201, {"id": rid, "success": True, "errors": [], "created": True}, {"Location": f"{base}/{rid}"}

    def describe_object(self, obj, version, fields=True):
        label, plural = LABELS[obj]
        base = f"/services/data/v{version}/sobjects/{obj}"
        out = {"name": obj, "label": label, "labelPlural": plural, "keyPrefix": PREFIXES[obj], "custom": False,
               "createable": True, "updateable": True, "deletable": True, "queryable": True, "replicateable": True,
               "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}}
        if fields:
            out["fields"] = [f.describe() for f in self.org.schema[obj]["list"]]
        return out

    def replication(self, obj, kind, params):
        bounds = {}
        for name in ("start", "end"):
            text = params.get(name)
            if not text:
                raise SFError(400, "MALFORMED_QUERY", f"Missing parameter {name}")
            t = parse_dt(text.replace(" ", "+"))
            if t is None:
                raise SFError(400, "INVALID_REPLICATION_DATE", f"{name} is not a valid dateTime: {text}")
            bounds[name] = int(t // 60 * 60)  # seconds are ignored
        start, end = bounds["start"], bounds["end"]
        now = self.clock.now()
        if end < start:
            raise SFError(400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate")
        earliest = (now - 30 * 86400) // 60 * 60
        if start < earliest:
            raise SFError(400, "INVALID_REPLICATION_DATE", "startDate cannot be more than 30 days ago")
        records = self.org.records[obj].values()
        if kind == "updated":
            return {"ids": [r["Id"] for r in records if not r["IsDeleted"] and start <= r["SystemModstamp"] < end],
                    "latestDateCovered": fmt_dt(end)}
        return {"deletedRecords": [{"id": r["Id"], "deletedDate": fmt_dt(r["_deleted_at"])} for r in records
                                   if r["IsDeleted"] and start <= r["_deleted_at"] < end],
                "earliestDateAvailable": fmt_dt(earliest), "latestDateCovered": fmt_dt(end)}

    # -- SOQL -----------------------------------------------------------------------------------

    def parse_soql(self, text):
        if not text or not text.strip():
            raise SFError(400, "MALFORMED_QUERY", "A query string has to be specified")
        return Parser(self.org, text, self.clock.now()).parse()

    @staticmethod
    def batch_size(headers):
        option = (headers.get("Sforce-Query-Options") or "") if headers is not None else ""
        m = re.search(r"batchSize\s*=\s*(\d+)", option, re.I)
        if not m:
            return 2000
        return max(200, min(2000, int(m.group(1))))

    def soql(self, params, headers, version, include_deleted):
        query = self.parse_soql(params.get("q"))
        rows = run_query(self.org, query, include_deleted)
        ids = [r["Id"] for r in rows]
        batch = self.batch_size(headers)
        locator = None
        if len(ids) > batch:
            self.locator_counter += 1
            locator = make_id("01g", self.locator_counter)
            self.locators[locator] = {"query": query, "ids": ids, "batch": batch, "used": self.clock.time()}
        return self.page(query, ids, 0, batch, version, locator)

    def page(self, query, ids, offset, batch, version, locator):
        org, obj = self.org, query.obj
        chunk = ids[offset:offset + batch]
        records = [org.to_json(obj, org.records[obj][i], version, query.fields) for i in chunk]
        done = offset + batch >= len(ids)
        out = {"totalSize": len(ids), "done": done}
        if not done:
            out["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{offset + batch}"
        out["records"] = records
        return out

    def query_more(self, token, version):
        locator, _, offset = token.rpartition("-")
        state = self.locators.get(locator)
        now = self.clock.time()
        if state is not None and now - state["used"] > LOCATOR_IDLE_S:
            del self.locators[locator]
            state = None
        if state is None or not offset.isdigit() or int(offset) >= len(state["ids"]):
            raise SFError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        state["used"] = now
        return self.page(state["query"], state["ids"], int(offset), state["batch"], version, locator)

    # -- Bulk API 2.0 query jobs ----------------------------------------------------------------

    def job_info(self, job, full):
        info = {"id": job["id"], "operation": job["operation"], "object": job["object"],
                "createdById": self.user_id, "createdDate": fmt_dt(job["created"]),
                "systemModstamp": fmt_dt(job["modstamp"]), "state": job["state"] if full else "UploadComplete",
                "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(job["version"]),
                "jobType": "V2Query", "lineEnding": job["lineEnding"], "columnDelimiter": job["columnDelimiter"]}
        if full:
            info.update({"numberRecordsProcessed": len(job["rows"]) if job["rows"] is not None else 0,
                         "retries": 0, "totalProcessingTime": 0, "isPkChunkingSupported": True})
            if job["state"] == "Failed":
                info["errorMessage"] = job["error"]
        return info

    def bulk(self, method, segs, params, body, version, allow):
        if not segs:
            allow("GET", "POST")
            if method == "GET":
                return 200, {"done": True, "records": [self.job_info(j, True) for j in self.jobs.values()],
                             "nextRecordsUrl": None}, None
            return 200, self.create_job(body, version), None
        job = self.jobs.get(segs[0])
        if job is None:
            raise not_found()
        if len(segs) == 1:
            allow("GET", "PATCH", "DELETE")
            if method == "DELETE":
                del self.jobs[job["id"]]
                return 204, None, None
            if method == "PATCH":
                if not isinstance(body, dict) or body.get("state") != "Aborted" or len(body) != 1:
                    raise SFError(400, "INVALIDJOB", "a query job can only be aborted: {\"state\": \"Aborted\"}")
                if job["state"] in ("JobComplete", "Failed", "Aborted"):
                    raise SFError(400, "INVALIDJOBSTATE", f"Job is already in a terminal state: {job['state']}")
                job["state"], job["modstamp"] = "Aborted", self.clock.now()
                return 200, self.job_info(job, True), None
            self.advance_job(job)
            return 200, self.job_info(job, True), None
        if segs[1:] == ["results"]:
            allow("GET")
            return self.job_results(job, params, version)
        raise not_found()

    def create_job(self, body, version):
        if not isinstance(body, dict):
            raise SFError(400, "INVALIDJOB", "the job definition must be a JSON object")
        unknown = set(body) - {"operation", "query", "contentType", "columnDelimiter", "lineEnding"}
        if unknown:
            raise SFError(400, "INVALIDJOB", f"Unrecognized field \"{sorted(unknown)[0]}\"")
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise SFError(400, "INVALIDJOB", f"Invalid operation: {operation} (query or queryAll)")
        if body.get("contentType", "CSV") != "CSV":
            raise SFError(400, "INVALIDJOB", f"Invalid contentType: {body.get('contentType')}")
        delimiter, ending = body.get("columnDelimiter", "COMMA"), body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS or ending not in LINE_ENDINGS:
            raise SFError(400, "INVALIDJOB", f"Invalid columnDelimiter or lineEnding: {delimiter}, {ending}")
        if not isinstance(body.get("query"), str):
            raise SFError(400, "INVALIDJOB", "query is required")
        query = self.parse_soql(body["query"])
        self.job_counter += 1
        self.jobs_created += 1
        now = self.clock.now()
        job = {"id": make_id("750", self.job_counter), "operation": operation, "object": query.obj, "query": query,
               "state": "UploadComplete", "created": now, "modstamp": now, "version": version, "reads": 0,
               "columnDelimiter": delimiter, "lineEnding": ending, "rows": None, "error": None,
               "fail": self.bulk_cfg["fail_next"]}
        self.bulk_cfg["fail_next"] = None
        self.jobs[job["id"]] = job
        if self.bulk_cfg["polls_to_complete"] <= 0:
            self.complete_job(job)
        return self.job_info(job, False)

    def advance_job(self, job):
        if job["state"] in ("JobComplete", "Failed", "Aborted"):
            return
        job["reads"] += 1
        if job["reads"] >= self.bulk_cfg["polls_to_complete"]:
            self.complete_job(job)
        elif job["state"] != "InProgress":
            job["state"], job["modstamp"] = "InProgress", self.clock.now()

    def complete_job(self, job):
        job["modstamp"] = self.clock.now()
        if job["fail"]:
            job["state"], job["error"], job["rows"] = "Failed", job["fail"], None
            return
        query = job["query"]
        rows = run_query(self.org, query, job["operation"] == "queryAll")
        sep = DELIMITERS[job["columnDelimiter"]]
        q = lambda text: '"' + text.replace('"', '""') + '"'  # noqa: E731
        job["header"] = sep.join(q(f.name) for f in query.fields)
        job["rows"] = [sep.join(q(Org.csv_value(f, r[f.name])) for f in query.fields) for r in rows]
        job["state"] = "JobComplete"

    def job_results(self, job, params, version):
        if job["state"] != "JobComplete":
            raise SFError(400, "INVALIDJOBSTATE", f"Job state is not JobComplete: {job['state']}")
        if version != job["version"]:
            raise SFError(409, "INVALIDJOB", f"the job was created with API version {job['version']}; read its "
                          "results with the same version")
        text = params.get("maxRecords")
        if text is not None and (not text.isdigit() or int(text) < 1):
            raise SFError(400, "INVALIDJOB", f"Invalid maxRecords: {text}")
        offset = 0
        if params.get("locator"):
            try:
                offset = int(b64url_decode(params["locator"]).decode("ascii"))
                if offset <= 0 or offset > len(job["rows"]):
                    raise ValueError
            except (ValueError, UnicodeDecodeError):
                raise SFError(400, "INVALIDLOCATOR", f"Invalid locator: {params['locator']}")
        size = int(text) if text is not None else 50000
        rows = job["rows"][offset:offset + size]
        end = offset + len(rows)
        locator = base64.b64encode(str(end).encode()).decode().rstrip("=") if end < len(job["rows"]) else "null"
        nl = LINE_ENDINGS[job["lineEnding"]]
        body = nl.join([job["header"]] + rows) + nl
        return 200, Raw(body.encode("utf-8"), "text/csv"), {"Sforce-Locator": locator,
                                                           "Sforce-NumberOfRecords": str(len(rows))}

    # -- Collections and Composite --------------------------------------------------------------

    def records_of(self, body):
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise SFError(400, "JSON_PARSER_ERROR", "the body must be {\"allOrNone\": bool, \"records\": [...]}")
        if len(body["records"]) > MAX_COLLECTION:
            raise SFError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into "
                          "this call")
        all_or_none = body.get("allOrNone", False)
        if not isinstance(all_or_none, bool):
            raise SFError(400, "JSON_PARSER_ERROR", "allOrNone must be a boolean")
        return body["records"], all_or_none

    def record_type(self, record, expected=None):
        if not isinstance(record, dict):
            raise SFError(400, "JSON_PARSER_ERROR", "each record must be a JSON object", [])
        attributes = record.get("attributes")
        name = attributes.get("type") if isinstance(attributes, dict) else None
        if not isinstance(name, str):
            raise SFError(400, "INVALID_TYPE", "Must send a concrete entity type.", [])
        obj = next((o for o in PREFIXES if o.lower() == name.lower()), None)
        if obj is None or (expected and obj != expected):
            raise SFError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.", [])
        return obj

    def run_collection(self, items, all_or_none, op):
        """Runs op(item) -> result dict for each item; failures become per-record errors; allOrNone rolls all
        back when one fails."""
        results, undo_all, failed = [], [], False
        outer = self.tx_log
        for item in items:
            self.tx_log = []
            try:
                result = op(item)
                undo_all.extend(self.tx_log)
                results.append(result)
            except SFError as e:
                self.org.rollback(self.tx_log)
                results.append({"success": False, "errors": [e.collection_item()]})
                failed = True
        self.tx_log = outer
        if all_or_none and failed:
            self.org.rollback(undo_all)
            code, message = ROLLED_BACK
            results = [r if not r["success"] else
                       {"success": False, "errors": [{"statusCode": code, "message": message, "fields": []}]}
                       for r in results]
        else:
            self.commit(undo_all)
        return results

    def collection(self, method, body, params, version):
        if method == "DELETE":
            ids = [i for i in (params.get("ids") or "").split(",") if i]
            if len(ids) > MAX_COLLECTION:
                raise SFError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records "
                              "into this call")
            all_or_none = (params.get("allOrNone") or "false").lower() == "true"

            def delete(rid):
                obj, record = self.org.find(rid)
                if record is None:
                    raise SFError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
                undo = []
                self.org.delete(obj, record["Id"], undo)
                self.tx_log.extend(undo)
                return {"id": record["Id"], "success": True, "errors": []}

            return self.run_collection(ids, all_or_none, delete)
        records, all_or_none = self.records_of(body)

        def write(record):
            obj = self.record_type(record)
            values = {k: v for k, v in record.items() if k != "attributes"}
            if method == "POST":
                if "Id" in values:
                    raise SFError(400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
                rid = self.do_write(obj, None, values)
            else:
                rid = to18(values.pop("Id", None))
                if rid is None:
                    raise SFError(400, "MISSING_ARGUMENT", "Id not specified in an update call", [])
                self.do_write(obj, rid, values)
            return {"id": rid, "success": True, "errors": []}

        return self.run_collection(records, all_or_none, write)

    def collection_upsert(self, obj, field_name, body):
        org = self.org
        f = org.field(obj, field_name)
        if f is None or not (f.external_id or f.name == "Id"):
            raise SFError(400, "INVALID_FIELD", f"Provided external ID field does not exist or is not accessible: "
                          f"{field_name}", [field_name])
        records, all_or_none = self.records_of(body)
        keys = []
        for record in records:
            value = None
            if isinstance(record, dict):
                value = next((v for k, v in record.items() if k.lower() == f.name.lower()), None)
            keys.append(org.ext_key(value))
        seen = {}
        for k in keys:
            seen[k] = seen.get(k, 0) + 1
        queue = list(zip(records, keys))

        def upsert(pair):
            record, key = pair
            self.record_type(record, obj)
            values = {k: v for k, v in record.items() if k != "attributes"}
            if key is None:
                raise SFError(400, "MISSING_ARGUMENT", f"{f.name} not specified", [f.name])
            if seen[key] > 1:
                raise SFError(400, "DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {key}", [f.name])
            if f.name == "Id":
                rid = to18(values.pop(next(k for k in values if k.lower() == "id")))
                if rid is None or rid not in org.records[obj]:
                    raise SFError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["Id"])
                self.do_write(obj, rid, values)
                return {"id": rid, "success": True, "errors": [], "created": False}
            matches = org.by_external(obj, f.name, key if f.type != "double" else Decimal(key))
            if len(matches) > 1:
                raise SFError(400, "DUPLICATE_EXTERNAL_ID", f"Foreign key external ID: {key} matched more than one "
                              f"record", [f.name])
            if matches:
                for k in [k for k in values if k.lower() == f.name.lower()]:
                    del values[k]
                rid = self.do_write(obj, matches[0]["Id"], values)
                return {"id": rid, "success": True, "errors": [], "created": False}
            rid = self.do_write(obj, None, values)
            return {"id": rid, "success": True, "errors": [], "created": True}

        return self.run_collection(queue, all_or_none, upsert)

    def composite(self, body, version):
        if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
            raise SFError(400, "JSON_PARSER_ERROR", "the body must be {\"allOrNone\": bool, \"compositeRequest\": [...]}")
        subs = body["compositeRequest"]
        if len(subs) > MAX_COMPOSITE:
            raise SFError(400, "LIMIT_EXCEEDED", f"Maximum number of subrequests allowed in a composite request is "
                          f"{MAX_COMPOSITE}")
        all_or_none = body.get("allOrNone", False)
        ref_ids = set()
        for sub in subs:
            if not isinstance(sub, dict) or not all(isinstance(sub.get(k), str) for k in ("method", "url", "referenceId")):
                raise SFError(400, "JSON_PARSER_ERROR", "each subrequest needs method, url and referenceId")
            if sub["referenceId"] in ref_ids or not re.fullmatch(r"[A-Za-z0-9_]+", sub["referenceId"]):
                raise SFError(400, "INVALID_INPUT", f"Duplicate or invalid referenceId: {sub['referenceId']}")
            ref_ids.add(sub["referenceId"])
            for h in (sub.get("httpHeaders") or {}):
                if h.lower() in ("accept", "authorization", "content-type"):
                    raise SFError(400, "INVALID_INPUT", f"A subrequest must not set the header {h}")
        outer, self.tx_log = self.tx_log, []
        results, values, failed = [], {}, False
        try:
            for sub in subs:
                ref = sub["referenceId"]
                if failed and all_or_none:
                    results.append(self.halted(ref))
                    continue
                try:
                    url = self.resolve(sub["url"], values)
                    sub_body = self.resolve(sub.get("body"), values)
                    split = urllib.parse.urlsplit(url)
                    m = VERSION_RE.match(split.path)
                    if not m or m.group(1) is None:
                        raise not_found()
                    if m.group(2) != "0" or not MIN_VERSION <= int(m.group(1)) <= MAX_VERSION:
                        raise not_found()
                    segs = [urllib.parse.unquote(s) for s in (m.group(3) or "").split("/") if s]
                    if segs[:1] == ["composite"] and len(segs) == 1:
                        raise SFError(400, "INVALID_INPUT", "a composite subrequest cannot be a composite request")
                    params = {k: v[0] for k, v in urllib.parse.parse_qs(split.query, keep_blank_values=True).items()}
                    status, value, headers = self.route(sub["method"].upper(), segs, params, sub_body,
                                                        sub.get("httpHeaders") or {}, f"{int(m.group(1))}.0")
                except SFError as e:
                    status, value, headers = e.status, e.body(), e.headers
                if isinstance(value, Raw):
                    value = value.body.decode("utf-8")
                values[ref] = value if status < 400 else None
                results.append({"body": value, "httpHeaders": headers or {}, "httpStatusCode": status,
                                "referenceId": ref})
                if status >= 400:
                    failed = True
            if failed and all_or_none:
                self.org.rollback(self.tx_log)
                results = [r if r["httpStatusCode"] >= 400 else self.halted(r["referenceId"]) for r in results]
            else:
                if outer is not None:
                    outer.extend(self.tx_log)
        finally:
            self.tx_log = outer
        return {"compositeResponse": results}

    @staticmethod
    def halted(ref):
        return {"body": [{"errorCode": "PROCESSING_HALTED", "message": HALTED}], "httpHeaders": {},
                "httpStatusCode": 400, "referenceId": ref}

    def resolve(self, value, values):
        if isinstance(value, str):
            def lookup(m):
                ref, path = m.group(1), m.group(2)
                if values.get(ref) is None:
                    raise SFError(400, "PROCESSING_HALTED", f"Invalid reference specified. No value for "
                                  f"{ref}{path} found in {ref}. Provided referenceId ('{ref}') must be a prior "
                                  f"successful subrequest.")
                node = values[ref]
                for part in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
                    try:
                        node = node[part[0]] if part[0] else node[int(part[1])]
                    except (KeyError, IndexError, TypeError):
                        raise SFError(400, "PROCESSING_HALTED", f"Invalid reference specified. No value for "
                                      f"{ref}{path} found in {ref}.")
                return node

            whole = REF_RE.fullmatch(value)
            if whole:
                return lookup(whole)
            return REF_RE.sub(lambda m: str(lookup(m)), value)
        if isinstance(value, list):
            return [self.resolve(v, values) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(v, values) for k, v in value.items()}
        return value

    # -- controls -------------------------------------------------------------------------------

    def control(self, request, name, spec):
        with self.lock:
            try:
                return self._control(request, name, spec)
            except SFError as e:
                return self.json_reply(400, {"error": e.message, "errors": [e.item()]})

    def _control(self, request, name, spec):
        method = request.method
        org = self.org
        if name == "org":
            if method == "POST":
                self.configure(spec)
            return self.json_reply(200, self.describe_org())
        if name == "sessions":
            if method == "POST":
                if set(spec) - {"expire", "ttl_s"}:
                    raise ValueError("sessions takes {\"expire\": true} and/or {\"ttl_s\": seconds|null}")
                if spec.get("expire"):
                    self.sessions.clear()
                if "ttl_s" in spec:
                    ttl = spec["ttl_s"]
                    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0):
                        raise ValueError("ttl_s must be a positive number of seconds or null")
                    self.ttl_s = ttl
            now = self.clock.time()
            active = sum(1 for s in self.sessions.values() if s["expires"] is None or now < s["expires"])
            return self.json_reply(200, {"counts": dict(self.grant_counts), "active": active, "ttl_s": self.ttl_s})
        if name == "limits":
            if method == "POST":
                for key in ("used", "max"):
                    if key in spec:
                        v = spec[key]
                        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                            raise ValueError(f"{key} must be a non-negative integer")
                self.api_used = spec.get("used", self.api_used)
                self.cfg["api_max"] = spec.get("max", self.cfg["api_max"])
            return self.json_reply(200, {"used": self.api_used, "max": self.cfg["api_max"],
                                         "limits": self.limits_body()})
        if name == "fields":
            if method == "POST":
                return self.json_reply(200, {"fields": org.add_custom_fields(spec.get("object"), spec.get("fields") or {})})
            return self.json_reply(200, {o: [f.describe() for f in org.custom[o].values()] for o in PREFIXES})
        if name == "bulk":
            if method == "POST":
                if set(spec) - {"polls_to_complete", "fail_next"}:
                    raise ValueError("bulk takes polls_to_complete and fail_next")
                if "polls_to_complete" in spec:
                    n = spec["polls_to_complete"]
                    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                        raise ValueError("polls_to_complete must be a non-negative integer")
                    self.bulk_cfg["polls_to_complete"] = n
                if "fail_next" in spec:
                    self.bulk_cfg["fail_next"] = spec["fail_next"]
            return self.json_reply(200, {**self.bulk_cfg, "jobs": [self.job_info(j, True) for j in self.jobs.values()]})
        if name == "reject":
            if method == "POST":
                rules = spec if isinstance(spec, list) else [spec]
                for rule in rules:
                    if rule.get("object") not in PREFIXES or not isinstance(rule.get("statusCode"), str):
                        raise ValueError("a reject needs object (a faked object) and statusCode")
                    if not isinstance(rule.get("match", {}), dict):
                        raise ValueError("match must be an object of field -> value")
                for rule in rules:
                    org.rejects.append({"object": rule["object"], "match": rule.get("match", {}),
                                        "statusCode": rule["statusCode"],
                                        "message": rule.get("message", rule["statusCode"].lower().replace("_", " ")),
                                        "fields": rule.get("fields", []), "count": int(rule.get("count", 1))})
            elif method == "DELETE":
                org.rejects.clear()
            return self.json_reply(200, {"rejects": org.rejects})
        if name == "seed" and method == "POST":
            obj = self.sobject_control(spec.get("object"))
            records = spec.get("records")
            if not isinstance(records, list):
                raise ValueError("seed takes {\"object\": ..., \"records\": [...]}")
            at, step = spec.get("stamp_at"), spec.get("step_s", 0)
            undo, ids = [], []
            for i, record in enumerate(records):
                try:
                    stamp = None if at is None else int(at + i * step)
                    ids.append(org.write(obj, None, record, undo, stamp))
                except SFError as e:
                    org.rollback(undo)
                    return self.json_reply(400, {"error": f"record {i}: {e.message}", "index": i, "errors": [e.item()]})
            return self.json_reply(200, {"ids": ids})
        if name.startswith("records/") and method == "GET":
            obj = self.sobject_control(name.split("/", 1)[1])
            # The REST encoder: currency and double fields are Decimals, written as JSON numbers.
            return Reply(200, dumps({"records": [self.raw_json(obj, r) for r in org.records[obj].values()]}))
        if name == "touch" and method == "POST":
            obj = self.sobject_control(spec.get("object"))
            fields = spec.get("fields") or {}
            undo, done = [], []
            for rid in spec.get("ids") or []:
                try:
                    done.append(org.write(obj, to18(rid) or rid, fields, undo))
                except SFError as e:
                    org.rollback(undo)
                    return self.json_reply(400, {"error": f"{rid}: {e.message}", "errors": [e.item()]})
            return self.json_reply(200, {"updated": done})
        return None

    @staticmethod
    def sobject_control(name):
        obj = next((o for o in PREFIXES if isinstance(name, str) and o.lower() == name.lower()), None)
        if obj is None:
            raise ValueError(f"unknown object {name!r}; one of {', '.join(PREFIXES)}")
        return obj

    def raw_json(self, obj, record):
        out = self.org.to_json(obj, record, f"{MAX_VERSION}.0")
        if record.get("_deleted_at") is not None:
            out["_deletedDate"] = fmt_dt(record["_deleted_at"])
        return out

    def configure(self, spec):
        unknown = set(spec) - ORG_KEYS
        if unknown:
            raise ValueError(f"unknown org settings {sorted(unknown)}; known: {sorted(ORG_KEYS)}")
        if "certificate" in spec:
            pem = spec["certificate"]
            self.public_key = public_key_from_pem(pem) if pem else None
            self.cfg["certificate"] = pem
        for key in ("consumer_key", "username", "client_secret"):
            if key in spec:
                if not isinstance(spec[key], str) or not spec[key]:
                    raise ValueError(f"{key} must be a non-empty string")
                self.cfg[key] = spec[key]
        if "refresh_token" in spec:
            self.cfg["refresh_token"] = spec["refresh_token"]
            self.refresh_valid, self.refresh_rotated = {spec["refresh_token"]}, set()
        for key in ("rotate_refresh_tokens", "approved"):
            if key in spec:
                self.cfg[key] = bool(spec[key])
        if "audiences" in spec:
            if not isinstance(spec["audiences"], list) or not all(isinstance(a, str) for a in spec["audiences"]):
                raise ValueError("audiences must be a list of strings")
            self.cfg["audiences"] = list(spec["audiences"])
        if "api_max" in spec:
            if isinstance(spec["api_max"], bool) or not isinstance(spec["api_max"], int) or spec["api_max"] < 0:
                raise ValueError("api_max must be a non-negative integer")
            self.cfg["api_max"] = spec["api_max"]
        if "multi_currency" in spec or "currency" in spec:
            self.cfg["multi_currency"] = bool(spec.get("multi_currency", self.cfg["multi_currency"]))
            self.cfg["currency"] = spec.get("currency", self.cfg["currency"])
            self.org.set_multi_currency(self.cfg["multi_currency"], self.cfg["currency"])

    def describe_org(self):
        out = {k: v for k, v in self.cfg.items() if k != "certificate"}
        out.update({"certificate": bool(self.cfg.get("certificate")), "org_id": self.org_id, "user_id": self.user_id,
                    "standard_pricebook_id": self.org.standard_pricebook, "currencies": CURRENCIES})
        return out


class _MultipleChoices(SFError):
    """300: the matching records' URLs (a JSON array of strings)."""

    def __init__(self, urls):
        super().__init__(300, "MULTIPLE_CHOICES", "more than one record found")
        self.urls = urls

    def body(self):
        return self.urls


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake Salesforce (REST, SOQL, Bulk 2.0 query, Collections, OAuth) for "
                                             "tests; binds 127.0.0.1 only.")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--consumer-key", default="fake_consumer_key")
    ap.add_argument("--username", default="integration@example.com")
    ap.add_argument("--certificate", help="PEM file: an X.509 certificate or a PUBLIC KEY (verifies JWT assertions)")
    ap.add_argument("--client-secret", default="fake_client_secret")
    ap.add_argument("--refresh-token", default="fake_refresh_token")
    ap.add_argument("--rotate-refresh-tokens", action="store_true")
    ap.add_argument("--multi-currency", action="store_true")
    ap.add_argument("--currency", default="USD", choices=sorted(CURRENCIES))
    ap.add_argument("--api-max", type=int, default=15000)
    args = ap.parse_args(argv)
    config = {"consumer_key": args.consumer_key, "username": args.username,
              "certificate": Path(args.certificate).read_text() if args.certificate else None,
              "client_secret": args.client_secret, "refresh_token": args.refresh_token,
              "rotate_refresh_tokens": args.rotate_refresh_tokens, "multi_currency": args.multi_currency,
              "currency": args.currency, "api_max": args.api_max}
    fake = SalesforceFake(config)
    server = LoopbackServer(fake, args.port)
    fake.base_url = server.url  # instance_url in token answers

    def on_signal(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.stdout.write(f"listening {LOOPBACK}:{server.port}\n")
    sys.stdout.flush()
    sys.stderr.write(f"fake Salesforce (API v{MIN_VERSION}.0-v{MAX_VERSION}.0, "
                     f"{'multi-currency ' + args.currency if args.multi_currency else args.currency}) on "
                     f"{LOOPBACK}:{server.port}\n")
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        fake.stopped()
    return 0


if __name__ == "__main__":
    sys.exit(main())
