#!/usr/bin/env python3
"""A fake Odoo 17 / 19 server for the connector's tests and demo (stdlib only).

Built from recordings of real Odoo Community 17.0 and 19.0 servers (see README.md and
recordings/). It answers:

* JSON-RPC ``POST /jsonrpc`` (services ``common``, ``db``, ``object``; errors with HTTP 200),
* JSON-2 ``POST /json/2/<model>/<method>`` (only as version 19; bearer API key; real statuses),
* ``GET /web/version`` and the JSON-RPC route ``/web/webclient/version_info``,
* test controls under ``/__fake__/`` (state, faults, pay, reverse, reset, calls).

Layout of this file, top to bottom:

1. version profiles: everything that differs between 17 and 19;
2. errors: Odoo's exception classes and how each transport serializes them;
3. schema: the models and fields the fake knows;
4. ORM: records, domains, ordering, read formatting, multi-company rules;
5. business rules: partners, products, invoices, payments, bank statement lines and reconcile, external ids;
6. faults: what a test queued for the next matching calls;
7. the fake: JSON-RPC, JSON-2, the version routes and the controls;
8. main.

HTTP (127.0.0.1 only, keep-alive, TCP_NODELAY, one write per answer), the request log, the fault queue (its
lock and order; the faults and their matching are Odoo's), the call log, the reset and calls controls and the
process (first line, clean stop) are the loopback fakes' common base, ../common/loopback.py.
Run ``python3 fake_odoo.py --help``.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import inspect
import json
import os
import re
import sys
import textwrap
import threading
import time
from decimal import ROUND_HALF_UP, Decimal
from html import escape as html_escape
from pathlib import Path
from urllib.parse import parse_qs

# The common base, ../common/loopback.py. Tests/Fakes goes on sys.path only for this import: test_fake_odoo.py
# imports this module too (for the schema), and a test must not keep Tests/Fakes on its path (each vendor folder
# would stand in for the vendor's library: see ../README.md).
_FAKES = str(Path(__file__).resolve().parent.parent)
sys.path.insert(0, _FAKES)
try:
    from common import loopback  # noqa: E402
    from common.loopback import CONTROL_PREFIX, CallLog, Fake, FaultQueue, run  # noqa: E402
finally:
    if sys.path and sys.path[0] == _FAKES:
        del sys.path[0]

# ---------------------------------------------------------------------------------------------
# 1. Version profiles
# ---------------------------------------------------------------------------------------------


class Profile:
    """What differs between the Odoo versions, as the recordings show it."""

    def __init__(self, major: int):
        self.major = major
        if major == 17:
            self.server_version = "17.0-20240709"
            self.version_info = [17, 0, 0, "final", 0, ""]
            self.serie = "17.0"
            self.rpc_error_code = 200
            self.error_data_order = ("name", "debug", "message", "arguments", "context")
            self.json2 = False
            self.jsonrpc_bad_type_status = 400
            self.payment_posted_state = "posted"
            self.empty_post_message = "You need to add a line before posting."
            self.sale_journal_name = "Customer Invoices"
            self.purchase_journal_name = "Vendor Bills"
            self.has_cash_journal = True
            self.first_partner_id = 7
            self.account_display_with_code = True
            self.manual_method_name = "Manual"
            # account.group_account_user (recorded: books/*/group_xmlid, group_read, st_err_line_create_without_group)
            self.accounting_group_id = 27
            self.accounting_group_full_name = "Technical / Show Full Accounting Features"
            self.user_groups_field = "groups_id"
            self.statement_line_group_label = "Technical/Show Full Accounting Features"
            self.manual_method_with_journal = False
            self.product_types = [["consu", "Consumable"], ["service", "Service"], ["product", "Storable Product"]]
            self.payment_states = [["draft", "Draft"], ["posted", "Posted"], ["cancel", "Cancelled"]]
            self.payment_ref_field = "ref"
            self.invoice_payment_states = [
                ["not_paid", "Not Paid"], ["in_payment", "In Payment"], ["paid", "Paid"],
                ["partial", "Partially Paid"], ["reversed", "Reversed"],
                ["invoicing_legacy", "Invoicing App Legacy"]]
            # sale.order.line (recorded: calls/*/100_sale_line_fields_get_tax; the unit field from Odoo 17's code)
            self.sale_tax_field = "tax_id"
            self.sale_uom_field = "product_uom"
            self.sale_uom_string = "Unit of Measure"
            self.sale_display_types = [["line_section", "Section"], ["line_note", "Note"]]
        elif major == 19:
            self.server_version = "19.0"
            self.version_info = [19, 0, 0, "final", 0, ""]
            self.serie = "19.0"
            self.rpc_error_code = 0
            self.error_data_order = ("name", "message", "arguments", "context", "debug")
            self.json2 = True
            self.jsonrpc_bad_type_status = 415
            self.payment_posted_state = "paid"
            self.empty_post_message = "Even magicians can't post nothing!"
            self.sale_journal_name = "Sales"
            self.purchase_journal_name = "Purchases"
            self.has_cash_journal = False
            self.first_partner_id = 6
            self.account_display_with_code = False  # unless the user has the accounting group (see display_name)
            self.manual_method_name = "Manual Payment"
            self.accounting_group_id = 29
            self.accounting_group_full_name = "Show Full Accounting Features"
            self.user_groups_field = "group_ids"
            # 19 grants the model through account.group_account_basic, implied by the group (and gone with it)
            self.statement_line_group_label = "Basic"
            self.manual_method_with_journal = True
            self.product_types = [["consu", "Goods"], ["service", "Service"], ["combo", "Combo"]]
            self.payment_states = [["draft", "Draft"], ["in_process", "In Process"], ["paid", "Paid"],
                                   ["canceled", "Canceled"], ["rejected", "Rejected"]]
            self.payment_ref_field = "memo"
            self.invoice_payment_states = [
                ["not_paid", "Not Paid"], ["in_payment", "In Payment"], ["paid", "Paid"],
                ["partial", "Partially Paid"], ["reversed", "Reversed"], ["blocked", "Blocked"],
                ["invoicing_legacy", "Invoicing App Legacy"]]
            self.sale_tax_field = "tax_ids"
            self.sale_uom_field = "product_uom_id"
            self.sale_uom_string = "Unit"
            self.sale_display_types = [["line_section", "Section"], ["line_subsection", "Subsection"], ["line_note", "Note"]]
        else:
            raise ValueError("only Odoo 17 and 19 are faked")

    # -- messages that differ ------------------------------------------------------------------

    def invalid_field_create(self, fname, model):
        if self.major == 17:
            return "builtins.ValueError", f"Invalid field {fname!r} on model {model!r}"
        return "builtins.ValueError", f"Invalid field {fname!r} in {model!r}"

    def invalid_field_write(self, fname, model):
        if self.major == 17:
            return "builtins.ValueError", f"Invalid field {fname!r} on model {model!r}"
        if model == "res.partner":  # recorded: res.partner's own write() indexes the record
            return "builtins.KeyError", fname
        return "builtins.ValueError", f"Invalid field {fname!r} on model {model!r}"  # assumption

    def invalid_leaf(self, model, fname, leaf):
        word = "leaf" if self.major == 17 else "condition"
        return f"Invalid field {model}.{fname} in {word} {leaf!r}"

    def unknown_method(self, model, method):
        if self.major == 17:
            return f"The method '{method}' does not exist on the model '{model}'"
        return f"The method '{model}.{method}' does not exist"

    def private_method(self, model, method):
        if self.major == 17:
            return f"Private methods (such as {method}) cannot be called remotely."
        return f"Private methods (such as '{model}.{method}') cannot be called remotely."

    def required_missing(self, model_desc, model_name, field_string, field_name):
        if self.major == 17:
            return ("The operation cannot be completed:\n"
                    "- Create/update: a mandatory field is not set.\n"
                    "- Delete: another model requires the record being deleted. If possible, archive it instead.\n\n"
                    f"Model: {model_desc} ({model_name})\nField: {field_string} ({field_name})\n")
        return (f"The operation cannot be completed: Missing required value for the field '{field_string}' ({field_name}).\n"
                f"Model: '{model_desc}' ({model_name})\n"
                "- create/update: a mandatory field is not set\n"
                "- delete: another model requires the record being deleted, you can archive it instead\n")

    def unlink_posted(self, reconciled, move_name, move_id):
        if self.major == 17:
            if reconciled:
                return ("You cannot do this modification on a reconciled journal entry. You can just change some "
                        "non legal fields or you must unreconcile first.\n"
                        f"Journal Entry (id): {move_name} ({move_id})")
            return "You cannot delete an item linked to a posted entry."  # assumption (not recorded)
        return ("You can't delete a posted journal item. Don\u2019t play games with your accounting records; "
                "reset the journal entry to draft before deleting it.")

    def incompatible_companies(self, lines):
        # Recorded (calls/*/32_err_invoice_line_tax_of_other_company): models._check_company per version.
        if self.major == 17:
            body = []
            for rec, company, fstring, fname, values in lines:
                body.append(f"- {rec!r} belongs to company {company!r} and {fstring!r} ({fname}: {values}) "
                            "belongs to another company.")
            return "Incompatible companies on records:\n" + "\n".join(body)
        body = []
        for rec, company, fstring, fname, values in lines:
            body.append(f"- \u201c{rec}\u201d belongs to company \u201c{company}\u201d while \u201c{fstring}\u201d "
                        f"({fname}: {values}) belongs to another company.")
        return ("Uh-oh! You\u2019ve got some company inconsistencies here:\n" + "\n".join(body) + "\n"
                "To avoid a mess, no company crossover is allowed!")

    def access_rule_error(self, user_name, uid, operation, descriptions, company_hint=None, field=None):
        """The record-rule AccessError as a non-debug user gets it (recorded: calls/*/33_*)."""
        msg = ("Uh-oh! Looks like you have stumbled upon some top-secret records.\n\n"
               f"Sorry, {user_name} (id={uid}) doesn't have '{operation}' access to:\n"
               + "\n".join(f"- {d}" for d in descriptions) + "\n\n"
               "If you really, really need access, perhaps you can win over your friendly administrator with a batch "
               "of freshly baked cookies.")
        if self.major == 19:
            if company_hint:
                msg += ("\n\nThis seems to be a multi-company issue, you might be able to access the record by "
                        f"switching to the company: {company_hint}.")
            if field:
                msg = f"Failed to write field {field}\n" + msg
        return msg

    def invalid_field_read(self, fname, model):
        if self.major == 17:
            return f"Invalid field {fname!r} on model {model!r}"
        return f"Invalid field {fname!r} on {model!r}"  # recorded: calls/odoo19-*/117_err_partner_read_total_due

    def unbalanced_message(self, move_display, debit, credit, journal_name):
        # recorded: books/*/err_entry_unbalanced_create (a UserError on both)
        if self.major == 17:
            return ("An error has occurred.\n\n"
                    f"The move ({move_display}) is not balanced.\n"
                    f"The total of debits equals {debit} and the total of credits equals {credit}.\n"
                    f"You might want to specify a default account on journal \"{journal_name}\" to automatically "
                    "balance each move.")
        return "The entry is not balanced."

    def statement_line_access(self):
        # recorded: books/*/st_err_line_create_without_group (the ACL's AccessError, JSON-2 403)
        return ("You are not allowed to create 'Bank Statement Line' (account.bank.statement.line) records.\n\n"
                "This operation is allowed for the following groups:\n"
                f"\t- {self.statement_line_group_label}\n\n"
                "Contact your administrator to request access if necessary.")

    def order_not_confirmable(self, names):
        """action_confirm of an order not in draft/sent: 17's message names every order of the call; 18+ says
        it per order (from Odoo's code; not recorded)."""
        if self.major == 17:
            return "The following orders are not in a state requiring confirmation: " + ", ".join(names)
        return "Some orders are not in a state requiring confirmation."

    @property
    def index_error(self):
        # call_kw indexing args[0]: execute_kw passes a tuple on 17, the JSON list on 19 (recorded)
        return "tuple index out of range" if self.major == 17 else "list index out of range"


# ---------------------------------------------------------------------------------------------
# 2. Errors
# ---------------------------------------------------------------------------------------------


class OdooError(Exception):
    """An exception as Odoo serializes it: ``name`` is the Python class path."""

    json2_status = 500

    def __init__(self, name: str, message: str, json2_status: int | None = None, arguments=None, debug=None):
        super().__init__(message)
        self.name = name
        self.message = message
        if json2_status is not None:
            self.json2_status = json2_status
        self.arguments = arguments if arguments is not None else [message]
        self.debug = debug

    def data(self, profile: Profile) -> dict:
        short = self.name.split(".")[-1] if self.name.startswith("builtins.") else self.name
        debug = self.debug
        if debug is None:
            debug = ("Traceback (most recent call last):\n"
                     '  File "<odoo>/odoo/http.py", line 1, in _serve_db\n'
                     "    (traceback not reproduced by the fake)\n"
                     f"{short}: {self.message}\n")
        values = {"name": self.name, "message": self.message, "arguments": self.arguments,
                  "context": {}, "debug": debug}
        return {k: values[k] for k in profile.error_data_order}


def user_error(msg):
    return OdooError("odoo.exceptions.UserError", msg, 422)


def validation_error(msg):
    return OdooError("odoo.exceptions.ValidationError", msg, 422)


def access_error(msg):
    return OdooError("odoo.exceptions.AccessError", msg, 403)


def access_denied():
    return OdooError("odoo.exceptions.AccessDenied", "Access Denied", 403,
                     debug="odoo.exceptions.AccessDenied: Access Denied\n")


def missing_error(model, ids, uid):
    ids_repr = repr(tuple(ids))
    return OdooError("odoo.exceptions.MissingError",
                     f"Record does not exist or has been deleted.\n(Record: {model}{ids_repr}, User: {uid})", 404)


def value_error(msg):
    return OdooError("builtins.ValueError", msg)


def key_error(msg):
    return OdooError("builtins.KeyError", msg)


def type_error(msg):
    return OdooError("builtins.TypeError", msg)


class HTTPError(Exception):
    """A werkzeug HTTPException on /json/2: body {name, message, arguments: [msg, code], ...}."""

    NAMES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
             405: "MethodNotAllowed", 415: "UnsupportedMediaType", 422: "UnprocessableEntity"}

    def __init__(self, status: int, message: str, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def as_odoo_error(self) -> OdooError:
        name = "werkzeug.exceptions." + self.NAMES.get(self.status, "HTTPException")
        reason = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 422: "Unprocessable Entity",
                  403: "Forbidden", 405: "Method Not Allowed", 415: "Unsupported Media Type"}.get(self.status, "")
        debug = ("Traceback (most recent call last):\n"
                 '  File "<odoo>/odoo/http.py", line 1, in _serve_db\n'
                 "    (traceback not reproduced by the fake)\n"
                 f"{name}: {self.status} {reason}: {self.message}\n")
        return OdooError(name, self.message, self.status, arguments=[self.message, self.status], debug=debug)


# ---------------------------------------------------------------------------------------------
# 3. Schema
# ---------------------------------------------------------------------------------------------


class Field:
    def __init__(self, type_, string, required=False, readonly=False, relation=None, selection=None,
                 default=None, inverse=None, compute=None, store=True, only_types=None, digits=False, only=None):
        self.type = type_
        self.string = string
        self.required = required
        self.readonly = readonly
        self.relation = relation
        self.selection = selection
        self.default = default      # value or callable(env, vals) -> raw value
        self.inverse = inverse      # one2many: the many2one on the comodel
        self.compute = compute      # callable(registry, env, rec) -> raw value (not stored)
        self.store = store and compute is None
        # one2many filter: (field of the comodel, allowed values); only_types is the display_type filter
        self.only = only or (("display_type", only_types) if only_types else None)
        self.digits = digits        # a price with 2 decimals: Odoo 17 stores float_round()'s binary noise
        self.name = None

    @property
    def relational(self):
        return self.type in ("many2one", "one2many", "many2many")

    def describe(self) -> dict:
        d = {"readonly": self.readonly, "required": self.required, "string": self.string, "type": self.type,
             "store": self.store, "searchable": True, "sortable": self.store and self.type not in ("one2many", "many2many")}
        if self.relation:
            d["relation"] = self.relation
        if self.selection is not None:
            d["selection"] = self.selection
        return dict(sorted(d.items()))


class ModelDef:
    def __init__(self, name, description, order, fields, company_rule=False, rec_name="name", transient=False):
        self.name = name
        self.description = description
        self.order = order
        self.fields = {"id": Field("integer", "ID", readonly=True)}
        self.fields.update(fields)
        self.fields.setdefault("display_name", Field("char", "Display Name", readonly=True, compute=lambda r, e, rec: None))
        self.fields.setdefault("create_date", Field("datetime", "Created on", readonly=True))
        self.fields.setdefault("write_date", Field("datetime", "Last Updated on", readonly=True))
        self.fields.setdefault("create_uid", Field("many2one", "Created by", readonly=True, relation="res.users"))
        self.fields.setdefault("write_uid", Field("many2one", "Last Updated by", readonly=True, relation="res.users"))
        for fname, f in self.fields.items():
            f.name = fname
        self.company_rule = company_rule
        self.rec_name = rec_name
        self.transient = transient


def _today(env=None, vals=None):
    return dt.date.today().isoformat()


def _env_company(env, vals):
    return env.company_id


def build_schema(p: Profile) -> dict[str, ModelDef]:
    F = Field
    S = {}

    def add(m):
        S[m.name] = m

    add(ModelDef("res.company", "Companies", "sequence, name", {
        "name": F("char", "Company Name", required=True),
        "partner_id": F("many2one", "Partner", required=True, relation="res.partner"),
        "currency_id": F("many2one", "Currency", required=True, relation="res.currency"),
        "country_id": F("many2one", "Country", relation="res.country"),
        "chart_template": F("selection", "Chart Template", selection=[["generic_coa", "Generic Chart Template"]]),
        "sequence": F("integer", "Sequence", default=10),
        "vat": F("char", "Tax ID"),
        "email": F("char", "Email"),
        "parent_id": F("many2one", "Parent Company", relation="res.company"),
        "active": F("boolean", "Active", default=True),
        "account_sale_tax_id": F("many2one", "Default Sale Tax", relation="account.tax"),
        "account_purchase_tax_id": F("many2one", "Default Purchase Tax", relation="account.tax"),
        # recorded: recordings/books/*/company_read_accounts (the same fields on 17 and 19)
        "income_currency_exchange_account_id": F("many2one", "Gain Exchange Rate Account", relation="account.account"),
        "expense_currency_exchange_account_id": F("many2one", "Loss Exchange Rate Account", relation="account.account"),
        "transfer_account_id": F("many2one", "Inter-Banks Transfer Account", relation="account.account"),
        "currency_exchange_journal_id": F("many2one", "Exchange Gain or Loss Journal", relation="account.journal"),
    }))
    add(ModelDef("res.groups", "Access Groups", "name", {
        "name": F("char", "Name", required=True),
        "full_name": F("char", "Group Name", readonly=True),
    }))
    add(ModelDef("res.users", "User", "name, login", {
        "name": F("char", "Name", required=True),
        "login": F("char", "Login", required=True),
        "partner_id": F("many2one", "Related Partner", required=True, relation="res.partner"),
        "company_id": F("many2one", "Company", required=True, relation="res.company"),
        "company_ids": F("many2many", "Companies", relation="res.company"),
        "active": F("boolean", "Active", default=True),
        "lang": F("char", "Language", default="en_US"),
        "tz": F("char", "Timezone"),
        p.user_groups_field: F("many2many", "Groups", relation="res.groups"),
    }))
    add(ModelDef("res.currency", "Currency", "active desc, name", {
        "name": F("char", "Currency", required=True),
        "full_name": F("char", "Name"),
        "symbol": F("char", "Symbol", required=True),
        "rounding": F("float", "Rounding Factor", default=0.01),
        "decimal_places": F("integer", "Decimal Places", default=2),
        "position": F("selection", "Symbol Position", selection=[["after", "After Amount"], ["before", "Before Amount"]], default="after"),
        "active": F("boolean", "Active", default=True),
    }))
    add(ModelDef("res.country", "Country", "name", {
        "name": F("char", "Country Name", required=True),
        "code": F("char", "Country Code"),
        "currency_id": F("many2one", "Currency", relation="res.currency"),
        "phone_code": F("integer", "Country Calling Code"),
    }))
    add(ModelDef("res.partner", "Contact", "complete_name ASC, id DESC", {
        "name": F("char", "Name"),
        "complete_name": F("char", "Complete Name", readonly=True, compute=lambda r, e, rec: r.partner_display(rec)),
        "type": F("selection", "Address Type", selection=[["contact", "Contact"], ["invoice", "Invoice Address"], ["delivery", "Delivery Address"], ["other", "Other Address"]], default="contact"),
        "is_company": F("boolean", "Is a Company", default=False),
        "company_type": F("selection", "Company Type", selection=[["person", "Individual"], ["company", "Company"]],
                          compute=lambda r, e, rec: "company" if rec.get("is_company") else "person"),
        "parent_id": F("many2one", "Related Company", relation="res.partner"),
        "child_ids": F("one2many", "Contact", relation="res.partner", inverse="parent_id"),
        "commercial_partner_id": F("many2one", "Commercial Entity", readonly=True, relation="res.partner",
                                   compute=lambda r, e, rec: r.commercial_partner(rec)),
        "ref": F("char", "Reference"),
        "function": F("char", "Job Position"),
        "vat": F("char", "Tax ID"),
        "email": F("char", "Email"),
        "phone": F("char", "Phone"),
        "mobile": F("char", "Mobile"),
        "website": F("char", "Website Link"),
        "street": F("char", "Street"),
        "street2": F("char", "Street2"),
        "city": F("char", "City"),
        "zip": F("char", "Zip"),
        "country_id": F("many2one", "Country", relation="res.country"),
        "company_id": F("many2one", "Company", relation="res.company"),
        "lang": F("selection", "Language", selection=[["en_US", "English (US)"]], default="en_US"),
        "comment": F("html", "Notes"),
        "active": F("boolean", "Active", default=True),
        "customer_rank": F("integer", "Customer Rank", default=0),
        "credit": F("monetary", "Total Receivable", compute=lambda r, e, rec: r.partner_balance(e, rec, "asset_receivable")),
        **({"credit_limit": F("float", "Credit Limit", compute=lambda r, e, rec: 0.0)} if p.major == 17 else
           {"credit_limit": F("float", "Credit Limit", default=0.0)}),
        "use_partner_credit_limit": F("boolean", "Partner Limit", compute=lambda r, e, rec: False),
        "debit": F("monetary", "Total Payable", compute=lambda r, e, rec: -r.partner_balance(e, rec, "liability_payable")),
        "total_invoiced": F("monetary", "Total Invoiced", compute=lambda r, e, rec: r.partner_invoiced(e, rec)),
        "supplier_rank": F("integer", "Supplier Rank", default=0),
        "property_account_receivable_id": F("many2one", "Account Receivable", relation="account.account",
                                            compute=lambda r, e, rec: r.company_account(e, "receivable")),
        "property_account_payable_id": F("many2one", "Account Payable", relation="account.account",
                                         compute=lambda r, e, rec: r.company_account(e, "payable")),
    }, company_rule=True))
    add(ModelDef("uom.uom", "Product Unit of Measure", "name", {
        "name": F("char", "Unit of Measure", required=True),
        "active": F("boolean", "Active", default=True),
    }))
    add(ModelDef("product.category", "Product Category", "complete_name", {
        "name": F("char", "Name", required=True),
        "complete_name": F("char", "Complete Name", compute=lambda r, e, rec: rec["name"]),
    }))
    product_fields = {
        "name": F("char", "Name", required=True),
        "default_code": F("char", "Internal Reference"),
        "barcode": F("char", "Barcode"),
        "list_price": F("float", "Sales Price", default=1.0, digits=True),
        "standard_price": F("float", "Cost", default=0.0, digits=True),
        "type": F("selection", "Product Type", required=True, selection=p.product_types, default="consu"),
        "sale_ok": F("boolean", "Can be Sold", default=True),
        "purchase_ok": F("boolean", "Can be Purchased", default=True),
        "active": F("boolean", "Active", default=True),
        "company_id": F("many2one", "Company", relation="res.company"),
        "categ_id": F("many2one", "Product Category", relation="product.category", default=1),
        "uom_id": F("many2one", "Unit", required=True, relation="uom.uom", default=1),
        "taxes_id": F("many2many", "Sales Taxes", relation="account.tax"),
        "supplier_taxes_id": F("many2many", "Purchase Taxes", relation="account.tax"),
        "description_sale": F("text", "Sales Description"),
    }
    if p.major == 17:
        product_fields["detailed_type"] = F("selection", "Product Type", required=True, selection=p.product_types, default="consu")
    else:
        product_fields["is_storable"] = F("boolean", "Track Inventory", default=False)
    tmpl_fields = {k: copy.copy(v) for k, v in product_fields.items()}
    tmpl_fields["product_variant_id"] = F("many2one", "Product", relation="product.product",
                                          compute=lambda r, e, rec: r.template_variant(rec))
    add(ModelDef("product.template", "Product", "priority desc, name", tmpl_fields, company_rule=True))
    pp = {k: copy.copy(v) for k, v in product_fields.items()}
    pp["product_tmpl_id"] = F("many2one", "Product Template", required=True, readonly=True, relation="product.template")
    pp["lst_price"] = F("float", "Sales Price", compute=lambda r, e, rec: rec.get("list_price"))
    add(ModelDef("product.product", "Product Variant", "priority desc, default_code, name, id", pp, company_rule=True))

    add(ModelDef("account.account", "Account", "code, company_id" if p.major == 17 else "code, id", {
        "name": F("char", "Account Name", required=True),
        "code": F("char", "Code"),
        "account_type": F("selection", "Type", required=True, selection=[
            ["asset_receivable", "Receivable"], ["asset_cash", "Bank and Cash"], ["asset_current", "Current Assets"],
            ["liability_payable", "Payable"], ["liability_current", "Current Liabilities"], ["income", "Income"],
            ["expense", "Expenses"]]),
        "reconcile": F("boolean", "Allow Reconciliation", default=False),
        "currency_id": F("many2one", "Account Currency", relation="res.currency"),
        "active": F("boolean", "Active", default=True),
        **({"company_id": F("many2one", "Company", required=True, relation="res.company", default=_env_company)}
           if p.major == 17 else
           {"company_ids": F("many2many", "Companies", required=True, relation="res.company")}),
    }, company_rule=True))
    add(ModelDef("account.tax", "Tax", "sequence,id", {
        "name": F("char", "Tax Name", required=True),
        "amount": F("float", "Amount", required=True, default=0.0),
        "amount_type": F("selection", "Tax Computation", required=True, selection=[
            ["group", "Group of Taxes"], ["fixed", "Fixed"], ["percent", "Percentage"], ["division", "Percentage Tax Included"]],
            default="percent"),
        "type_tax_use": F("selection", "Tax Type", required=True, selection=[["sale", "Sales"], ["purchase", "Purchases"], ["none", "None"]], default="sale"),
        "price_include": F("boolean", "Included in Price", default=False),
        "description": F("char", "Label on Invoices"),
        "sequence": F("integer", "Sequence", default=1),
        "active": F("boolean", "Active", default=True),
        "company_id": F("many2one", "Company", required=True, relation="res.company", default=_env_company),
        "country_id": F("many2one", "Country", relation="res.country"),
    }, company_rule=True))
    add(ModelDef("account.journal", "Journal", "sequence, type, code", {
        "name": F("char", "Journal Name", required=True),
        "code": F("char", "Short Code", required=True),
        "type": F("selection", "Type", required=True, selection=[
            ["sale", "Sales"], ["purchase", "Purchase"], ["cash", "Cash"], ["bank", "Bank"], ["credit", "Credit Card"], ["general", "Miscellaneous"]]),
        "company_id": F("many2one", "Company", required=True, relation="res.company", default=_env_company),
        "currency_id": F("many2one", "Currency", relation="res.currency"),
        "default_account_id": F("many2one", "Default Account", relation="account.account"),
        # a bank/cash journal's: the company's Bank Suspense Account (recorded: books/*/st_journal_read)
        "suspense_account_id": F("many2one", "Suspense Account", relation="account.account"),
        "refund_sequence": F("boolean", "Dedicated Credit Note Sequence", default=False),
        "sequence": F("integer", "Sequence", default=10),
        "active": F("boolean", "Active", default=True),
        "inbound_payment_method_line_ids": F("one2many", "Inbound Payment Methods", relation="account.payment.method.line",
                                             inverse="journal_id", only=("payment_type", ("inbound",))),
        "outbound_payment_method_line_ids": F("one2many", "Outbound Payment Methods", relation="account.payment.method.line",
                                              inverse="journal_id", only=("payment_type", ("outbound",))),
    }, company_rule=True))
    add(ModelDef("account.payment.method.line", "Payment Methods", "sequence, id", {
        "name": F("char", "Name"),
        "journal_id": F("many2one", "Journal", relation="account.journal"),
        "payment_type": F("selection", "Payment Type", selection=[["inbound", "Inbound"], ["outbound", "Outbound"]]),
        "sequence": F("integer", "Sequence", default=10),
        # the outstanding account of its payments (recorded: recordings/books/*/method_lines_write_payment_account)
        "payment_account_id": F("many2one", "Outstanding Receipts/Payments Account", relation="account.account"),
    }))

    move_types = [["entry", "Journal Entry"], ["out_invoice", "Customer Invoice"], ["out_refund", "Customer Credit Note"],
                  ["in_invoice", "Vendor Bill"], ["in_refund", "Vendor Credit Note"], ["out_receipt", "Sales Receipt"],
                  ["in_receipt", "Purchase Receipt"]]
    # Field order follows account.move's definition order (fields_get answers in this order).
    add(ModelDef("account.move", "Journal Entry", "date desc, name desc, id desc", {
        "name": F("char", "Number"),
        "ref": F("char", "Reference"),
        "date": F("date", "Date", required=True),
        "state": F("selection", "Status", required=True, readonly=True, selection=[["draft", "Draft"], ["posted", "Posted"], ["cancel", "Cancelled"]], default="draft"),
        "move_type": F("selection", "Type", required=True, readonly=True, selection=move_types, default="entry"),
        "journal_id": F("many2one", "Journal", required=True, relation="account.journal"),
        "company_id": F("many2one", "Company", readonly=True, relation="res.company"),
        "line_ids": F("one2many", "Journal Items", relation="account.move.line", inverse="move_id"),
        "invoice_line_ids": F("one2many", "Invoice lines", relation="account.move.line", inverse="move_id",
                              only_types=("product", "line_section", "line_note")),
        "partner_id": F("many2one", "Partner", relation="res.partner"),
        "commercial_partner_id": F("many2one", "Commercial Entity", readonly=True, relation="res.partner"),
        "currency_id": F("many2one", "Currency", required=True, relation="res.currency"),
        "amount_untaxed": F("monetary", "Untaxed Amount", readonly=True),
        "amount_tax": F("monetary", "Tax", readonly=True),
        "amount_total": F("monetary", "Total", readonly=True),
        "amount_residual": F("monetary", "Amount Due", readonly=True),
        "amount_untaxed_signed": F("monetary", "Untaxed Amount Signed", readonly=True),
        "amount_total_signed": F("monetary", "Total Signed", readonly=True),
        "amount_residual_signed": F("monetary", "Amount Due Signed", readonly=True),
        "payment_state": F("selection", "Payment Status", readonly=True, selection=p.invoice_payment_states, default="not_paid"),
        "invoice_date": F("date", "Invoice/Bill Date"),
        "invoice_date_due": F("date", "Due Date"),
        "invoice_origin": F("char", "Origin"),
        "payment_reference": F("char", "Payment Reference"),
        "narration": F("html", "Terms and Conditions"),
        "reversed_entry_id": F("many2one", "Reversal of", relation="account.move"),
        "posted_before": F("boolean", "Posted Before", readonly=True, default=False),
    }, company_rule=True))
    add(ModelDef("account.move.line", "Journal Item", "date desc, move_name desc, id", {
        "move_id": F("many2one", "Journal Entry", required=True, relation="account.move"),
        "move_name": F("char", "Number", readonly=True, compute=lambda r, e, rec: r.move_field(rec, "name")),
        "name": F("char", "Label"),
        "display_type": F("selection", "Display Type", selection=[
            ["product", "Product"], ["cogs", "Cost of Goods Sold"], ["tax", "Tax"], ["discount", "Discount"], ["rounding", "Rounding"],
            ["payment_term", "Payment Term"], ["line_section", "Section"], ["line_note", "Note"], ["epd", "Early Payment Discount"]], default="product"),
        "product_id": F("many2one", "Product", relation="product.product"),
        "quantity": F("float", "Quantity", default=1.0),
        "price_unit": F("float", "Unit Price", default=0.0, digits=True),
        "discount": F("float", "Discount (%)", default=0.0),
        "tax_ids": F("many2many", "Taxes", relation="account.tax"),
        "account_id": F("many2one", "Account", relation="account.account"),
        "partner_id": F("many2one", "Partner", relation="res.partner"),
        "currency_id": F("many2one", "Currency", relation="res.currency"),
        "company_id": F("many2one", "Company", readonly=True, relation="res.company"),
        "date": F("date", "Date", readonly=True),
        "parent_state": F("selection", "Status", readonly=True, selection=[["draft", "Draft"], ["posted", "Posted"], ["cancel", "Cancelled"]],
                          compute=lambda r, e, rec: r.move_field(rec, "state")),
        "debit": F("monetary", "Debit", default=0.0),
        "credit": F("monetary", "Credit", default=0.0),
        "balance": F("monetary", "Balance", default=0.0),
        "price_subtotal": F("monetary", "Subtotal", readonly=True, default=0.0),
        "price_total": F("monetary", "Total", readonly=True, default=0.0),
        "amount_residual": F("monetary", "Residual Amount", readonly=True, default=0.0),
        "reconciled": F("boolean", "Reconciled", readonly=True, default=False),
        "amount_currency": F("monetary", "Amount in Currency", default=0.0),
        "ref": F("char", "Reference", readonly=True, compute=lambda r, e, rec: r.move_field(rec, "ref")),
    }, company_rule=True))
    # recorded: books/*/st_* (fields of st_line_read; the line's entry is made at create, see AccountBankStatementLine)
    add(ModelDef("account.bank.statement.line", "Bank Statement Line", "date desc, id desc", {
        "move_id": F("many2one", "Journal Entry", readonly=True, relation="account.move"),
        "journal_id": F("many2one", "Journal", required=True, relation="account.journal"),
        "date": F("date", "Date", required=True, default=_today),
        "payment_ref": F("char", "Label"),
        "amount": F("monetary", "Amount", default=0.0),
        "currency_id": F("many2one", "Journal Currency", readonly=True, relation="res.currency"),
        "company_id": F("many2one", "Company", readonly=True, relation="res.company"),
        "partner_id": F("many2one", "Partner", relation="res.partner"),
        "state": F("selection", "Status", readonly=True, selection=[["draft", "Draft"], ["posted", "Posted"], ["cancel", "Cancelled"]],
                   compute=lambda r, e, rec: (r.tables["account.move"].get(rec.get("move_id")) or {}).get("state")),
        "is_reconciled": F("boolean", "Is Reconciled", readonly=True, compute=lambda r, e, rec: statement_line_reconciled(r, rec)),
    }, company_rule=True))
    add(ModelDef("account.payment", "Payments", "date desc, name desc", {
        "name": F("char", "Number", readonly=True),
        "date": F("date", "Date", required=True, default=_today),
        "state": F("selection", "Status", required=True, readonly=True, selection=p.payment_states, default="draft"),
        "amount": F("monetary", "Amount", default=0.0),
        "payment_type": F("selection", "Payment Type", required=True, selection=[["outbound", "Send"], ["inbound", "Receive"]], default="inbound"),
        "partner_type": F("selection", "Partner Type", selection=[["customer", "Customer"], ["supplier", "Vendor"]], default="customer"),
        "partner_id": F("many2one", "Customer/Vendor", relation="res.partner"),
        "journal_id": F("many2one", "Journal", required=True, relation="account.journal"),
        "payment_method_line_id": F("many2one", "Payment Method", relation="account.payment.method.line"),
        "currency_id": F("many2one", "Currency", relation="res.currency"),
        "company_id": F("many2one", "Company", readonly=True, relation="res.company"),
        p.payment_ref_field: F("char", "Memo"),
        "move_id": F("many2one", "Journal Entry", readonly=True, relation="account.move"),
        "outstanding_account_id": F("many2one", "Outstanding Account", readonly=True, relation="account.account"),
        "reconciled_invoice_ids": F("many2many", "Reconciled Invoices", readonly=True, relation="account.move"),
        "is_reconciled": F("boolean", "Is Reconciled", readonly=True, default=False),
        "is_matched": F("boolean", "Is Matched With a Bank Statement", readonly=True, default=False),
    }, company_rule=True))
    add(ModelDef("account.payment.register", "Pay" if p.major == 19 else "Register Payment", "id", {
        "amount": F("monetary", "Amount"),
        "payment_date": F("date", "Payment Date", required=True),
        "journal_id": F("many2one", "Journal", relation="account.journal"),
        "payment_method_line_id": F("many2one", "Payment Method", relation="account.payment.method.line"),
        "communication": F("char", "Memo"),
        "payment_difference_handling": F("selection", "Payment Difference Handling",
                                         selection=[["open", "Keep open"], ["reconcile", "Mark as fully paid"]], default="open"),
        "writeoff_account_id": F("many2one", "Difference Account", relation="account.account"),
        "writeoff_label": F("char", "Journal Item Label", default="Write-Off"),
        "currency_id": F("many2one", "Currency", relation="res.currency"),
        "partner_id": F("many2one", "Customer/Vendor", readonly=True, relation="res.partner"),
        "company_id": F("many2one", "Company", readonly=True, relation="res.company"),
        "payment_type": F("selection", "Payment Type", selection=[["outbound", "Send"], ["inbound", "Receive"]]),
        "group_payment": F("boolean", "Group Payments", default=False),
        "line_ids": F("many2many", "Journal items", readonly=True, relation="account.move.line"),
        "can_edit_wizard": F("boolean", "Can Edit Wizard", readonly=True, default=True),
        "payment_difference": F("monetary", "Payment Difference",
                                compute=lambda r, e, rec: money((rec.get("_residual") or 0.0) - (rec.get("amount") or 0.0))),
    }, transient=True, rec_name="communication"))
    add(ModelDef("account.move.reversal", "Account Move Reversal", "id", {
        "move_ids": F("many2many", "Move", relation="account.move"),
        "date": F("date", "Reversal date", required=True, default=_today),
        "reason": F("char", "Reason displayed on Credit Note"),
        "journal_id": F("many2one", "Journal", required=True, relation="account.journal"),
        "company_id": F("many2one", "Company", readonly=True, relation="res.company"),
        "residual": F("monetary", "Residual", compute=lambda r, e, rec: money(sum(
            r.tables["account.move"][i]["amount_residual"] for i in rec.get("move_ids") or [] if i in r.tables["account.move"]))),
    }, transient=True, rec_name="reason"))
    add(ModelDef("product.pricelist", "Pricelist", "sequence, id", {
        "name": F("char", "Pricelist Name", required=True),
        "currency_id": F("many2one", "Currency", required=True, relation="res.currency",
                         default=lambda env, vals: env.reg.tables["res.company"][env.company_id]["currency_id"]),
        "company_id": F("many2one", "Company", relation="res.company"),
        "sequence": F("integer", "Sequence", default=16),
        "active": F("boolean", "Active", default=True),
    }, company_rule=True))
    sale_states = [["draft", "Quotation"], ["sent", "Quotation Sent"], ["sale", "Sales Order"], ["cancel", "Cancelled"]]
    add(ModelDef("sale.order", "Sales Order", "date_order desc, id desc", {
        "name": F("char", "Order Reference", required=True),
        "state": F("selection", "Status", readonly=True, selection=sale_states, default="draft"),
        "locked": F("boolean", "Locked", default=False),
        "partner_id": F("many2one", "Customer", required=True, relation="res.partner"),
        "partner_invoice_id": F("many2one", "Invoice Address", required=True, relation="res.partner"),
        "partner_shipping_id": F("many2one", "Delivery Address", required=True, relation="res.partner"),
        "client_order_ref": F("char", "Customer Reference"),
        "origin": F("char", "Source Document"),
        "date_order": F("datetime", "Order Date", required=True),
        "company_id": F("many2one", "Company", required=True, relation="res.company"),
        "pricelist_id": F("many2one", "Pricelist", relation="product.pricelist"),
        "currency_id": F("many2one", "Currency", relation="res.currency"),
        "order_line": F("one2many", "Order Lines", relation="sale.order.line", inverse="order_id"),
        "amount_untaxed": F("monetary", "Untaxed Amount", readonly=True, default=0.0),
        "amount_tax": F("monetary", "Taxes", readonly=True, default=0.0),
        "amount_total": F("monetary", "Total", readonly=True, default=0.0),
        "invoice_status": F("selection", "Invoice Status", readonly=True, selection=[
            ["upselling", "Upselling Opportunity"], ["invoiced", "Fully Invoiced"], ["to invoice", "To Invoice"],
            ["no", "Nothing to Invoice"]], compute=lambda r, e, rec: sale_invoice_status(r, rec)),
        "invoice_count": F("integer", "Invoice Count", readonly=True, compute=lambda r, e, rec: 0),
        "note": F("html", "Terms and conditions"),
    }, company_rule=True))
    add(ModelDef("sale.order.line", "Sales Order Line", "order_id, sequence, id", {
        "order_id": F("many2one", "Order Reference", required=True, relation="sale.order"),
        "sequence": F("integer", "Sequence", default=10),
        "display_type": F("selection", "Display Type", selection=p.sale_display_types),
        "name": F("text", "Description", required=True),
        "product_id": F("many2one", "Product", relation="product.product"),
        "product_uom_qty": F("float", "Quantity", default=1.0),
        p.sale_uom_field: F("many2one", p.sale_uom_string, relation="uom.uom"),
        "price_unit": F("float", "Unit Price", default=0.0, digits=True),
        "discount": F("float", "Discount (%)", default=0.0),
        # recorded: calls/*/100_sale_line_fields_get_tax (17 tax_id, 19 tax_ids; the other name is unknown)
        p.sale_tax_field: F("many2many", "Taxes", relation="account.tax"),
        "price_subtotal": F("monetary", "Subtotal", readonly=True, default=0.0),
        "price_tax": F("float", "Total Tax", readonly=True, default=0.0),
        "price_total": F("monetary", "Total", readonly=True, default=0.0),
        "qty_delivered": F("float", "Delivery Quantity", default=0.0),
        "qty_invoiced": F("float", "Invoiced Quantity", readonly=True, default=0.0),
        "company_id": F("many2one", "Company", readonly=True, relation="res.company"),
        "currency_id": F("many2one", "Currency", readonly=True, relation="res.currency"),
        "order_partner_id": F("many2one", "Customer", readonly=True, relation="res.partner",
                              compute=lambda r, e, rec: r.tables["sale.order"].get(rec.get("order_id"), {}).get("partner_id")),
        "state": F("selection", "Order Status", readonly=True, selection=sale_states,
                   compute=lambda r, e, rec: r.tables["sale.order"].get(rec.get("order_id"), {}).get("state")),
    }, company_rule=True))
    add(ModelDef("ir.model.data", "Model Data", "module, model, name", {
        "name": F("char", "External Identifier", required=True),
        "complete_name": F("char", "Complete ID", compute=lambda r, e, rec: f"{rec.get('module') or ''}.{rec.get('name')}"),
        "model": F("char", "Model Name", required=True),
        "module": F("char", "Module", required=True, default=""),
        "res_id": F("integer", "Record ID"),
        "noupdate": F("boolean", "Non Updatable", default=False),
    }, rec_name="complete_name"))
    # API keys exist as models, but are only made through the web session (not faked): over RPC,
    # make_key refuses and _generate is private, as recorded.
    add(ModelDef("res.users.apikeys.description", "API Key Description", "id", {
        "name": F("char", "Description", required=True),
        "duration": F("char", "Duration"),
    }, transient=True))
    add(ModelDef("res.users.apikeys", "Users API Keys", "id", {
        "name": F("char", "Description", required=True, readonly=True),
        "user_id": F("many2one", "User", readonly=True, relation="res.users"),
        "scope": F("char", "Scope", readonly=True),
    }))
    return S


# ---------------------------------------------------------------------------------------------
# 4. ORM: records, domains, ordering, read formatting, multi-company rules
# ---------------------------------------------------------------------------------------------

DT_FORMAT = "%Y-%m-%d %H:%M:%S"
NEGATIVE_OPS = {"!=", "<>", "not in", "not like", "not ilike", "not =like", "not =ilike"}
OPERATORS = {"=", "!=", "<>", "<", "<=", ">", ">=", "in", "not in", "like", "not like", "ilike", "not ilike",
             "=like", "=ilike", "child_of", "parent_of"}


def money(value) -> float:
    """Round half-up to 2 decimals, as Odoo's float_round does for currencies with 0.01 rounding."""
    return float(Decimal(repr(float(value))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def format_amount(reg, amount, currency_id):
    """Odoo's format_amount in English: "$\u00a01.00", "1.00\u00a0\u20ac" (recorded in 17's payment labels and
    unbalanced-entry message)."""
    currency = reg.tables["res.currency"].get(currency_id) or {}
    number = f"{amount:,.2f}"
    symbol = currency.get("symbol") or ""
    return f"{symbol}\u00a0{number}" if currency.get("position") == "before" else f"{number}\u00a0{symbol}"


def entry_amounts(vals, converted):
    """debit, credit, balance and amount_currency of a journal entry's item from what the caller gave: debit/credit
    (or balance) win, else amount_currency at rate 1; amount_currency defaults to the balance."""
    if "debit" in vals or "credit" in vals:
        balance = money((converted.get("debit") or 0.0) - (converted.get("credit") or 0.0))
    elif "balance" in vals:
        balance = money(converted.get("balance") or 0.0)
    else:
        balance = money(converted.get("amount_currency") or 0.0)
    amount_currency = money(converted["amount_currency"]) if "amount_currency" in vals else balance
    return {"balance": balance, "debit": max(balance, 0.0), "credit": max(-balance, 0.0), "amount_currency": amount_currency}


def parse_datetime(value):
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise value_error(f"Invalid datetime value {value!r}")
    text = value.strip().replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", DT_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            pass
    raise value_error(f"time data {value!r} does not match format '%Y-%m-%d %H:%M:%S'")


def whole_second(value) -> bool:
    return isinstance(value, str) and bool(re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}\s*", value))


def parse_date(value):
    if not isinstance(value, str):
        raise value_error(f"Invalid date value {value!r}")
    try:
        return dt.date.fromisoformat(value[:10]).isoformat()
    except ValueError as exc:
        raise value_error(str(exc)) from None


def like_to_regex(pattern: str, case_insensitive: bool):
    out = []
    for ch in pattern:
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("^" + "".join(out) + "$", re.S | (re.I if case_insensitive else 0))


class Env:
    """Who calls and in which companies (``allowed_company_ids`` in the context)."""

    def __init__(self, reg: "Registry", uid: int, context: dict | None):
        self.reg = reg
        self.uid = uid
        self.context = dict(context or {})
        user = reg.tables["res.users"][uid]
        self.user = user
        allowed = self.context.get("allowed_company_ids")
        if allowed:
            if (not isinstance(allowed, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in allowed)
                    or any(c not in user["company_ids"] or c not in reg.tables["res.company"] for c in allowed)):
                raise access_error("Access to unauthorized or invalid companies.")
            self.company_ids = list(allowed)
            self.company_id = self.company_ids[0]
        else:
            # Recorded (calls/*/17_partner_search_eqlike_no_ctx): without allowed_company_ids the record
            # rules let through every company of the user; the current company is the user's own.
            self.company_ids = [user["company_id"]] + [c for c in user["company_ids"] if c != user["company_id"]]
            self.company_id = user["company_id"]

    @property
    def active_test(self):
        return self.context.get("active_test", True) is not False


# Sequences drawn from a PostgreSQL sequence (ir.sequence 'standard'): a number taken by a call that fails is not
# given back. Recorded: odoo19-json2 103_err_sale_order_create_tax_id_field took S00010 (S00009 before, S00011 after).
NONTRANSACTIONAL_SEQUENCES = {("sale.order",)}


class Registry:
    """The fake database: one dict of records per model, guarded by one lock."""

    def __init__(self, profile: Profile, db: str, login: str, password: str, api_key: str, companies: int,
                 seed_name: str = "fresh"):
        self.profile = profile
        self.seed_name = seed_name
        self.db = db
        self.login = login
        self.password = password
        self.api_key = api_key
        self.n_companies = companies
        self.lock = threading.RLock()
        self.schema = build_schema(profile)
        self.inverses = {}
        for mname, mdef in self.schema.items():
            for f in mdef.fields.values():
                if f.type == "one2many":
                    self.inverses.setdefault((f.relation, f.inverse), None)
        self.reset()

    # -- storage -------------------------------------------------------------------------------

    def reset(self):
        self.tables = {name: {} for name in self.schema}
        self.next_ids = {name: 1 for name in self.schema}
        self.children = {key: {} for key in self.inverses}
        self.sequences = {}
        self.sequence_floor = {}  # (journal id, prefix) -> numbers used by the recorded database's history
        self.last_stamp = dt.datetime(2000, 1, 1)
        self.in_tx, self.tx_now = False, None
        seed(self)

    def now(self) -> dt.datetime:
        """The transaction's timestamp: UTC with microseconds, one per call (like Odoo's cr.now()),
        strictly increasing from call to call. Reads show it truncated to seconds."""
        if self.tx_now is None:
            stamp = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
            if stamp <= self.last_stamp:
                stamp = self.last_stamp + dt.timedelta(microseconds=1)
            self.last_stamp = stamp
            if not self.in_tx:
                return stamp
            self.tx_now = stamp
        return self.tx_now

    def begin(self):
        self.in_tx, self.tx_now = True, None
        self.undo = {}  # (model, id) -> the record before the call (None: created by the call)
        self.undo_sequences = dict(self.sequences)

    def end(self):
        self.in_tx, self.tx_now = False, None
        self.undo = None

    def _remember(self, model, rec_id):
        undo = getattr(self, "undo", None)
        if undo is not None and (model, rec_id) not in undo:
            rec = self.tables[model].get(rec_id)
            undo[(model, rec_id)] = None if rec is None else {k: (list(v) if isinstance(v, list) else v) for k, v in rec.items()}

    def rollback(self):
        """Undo every write of the current call, like a failed transaction; ids stay consumed (as with
        PostgreSQL sequences)."""
        undo = getattr(self, "undo", None)
        if not undo:
            return
        for (model, rec_id), before in undo.items():
            if before is None:
                self.tables[model].pop(rec_id, None)
            else:
                self.tables[model][rec_id] = before
        kept = {k: v for k, v in self.sequences.items() if k in NONTRANSACTIONAL_SEQUENCES}
        self.sequences = dict(self.undo_sequences)
        self.sequences.update(kept)
        self.rebuild_children()
        self.undo = {}

    def rebuild_children(self):
        for key in self.children:
            self.children[key] = {}
        for (comodel, inv) in self.inverses:
            index = self.children[(comodel, inv)]
            for rec_id in sorted(self.tables[comodel]):
                parent = self.tables[comodel][rec_id].get(inv)
                if parent:
                    index.setdefault(parent, []).append(rec_id)

    def insert(self, model: str, rec: dict, rec_id: int | None = None) -> int:
        if rec_id is None:
            rec_id = self.next_ids[model]
        self.next_ids[model] = max(self.next_ids[model], rec_id + 1)
        mdef = self.schema[model]
        stamp = self.now()
        full = {}
        for fname, f in mdef.fields.items():
            if not f.store:
                continue
            if f.type in ("one2many", "many2many"):
                full[fname] = []
            else:
                full[fname] = f.default if f.default is not None and not callable(f.default) else None
        full.update(rec)
        full["id"] = rec_id
        full.setdefault("create_date", stamp)
        full["create_date"] = full["create_date"] or stamp
        full["write_date"] = full.get("write_date") or stamp
        full["create_uid"] = full.get("create_uid") or 2
        full["write_uid"] = full.get("write_uid") or 2
        for fname, f in mdef.fields.items():
            if f.type == "one2many":
                full.pop(fname, None)
        self._remember(model, rec_id)
        self.tables[model][rec_id] = full
        for (comodel, inv) in self.inverses:
            if comodel == model and full.get(inv):
                self.children[(comodel, inv)].setdefault(full[inv], []).append(rec_id)
        return rec_id

    def update(self, model: str, rec_id: int, changes: dict, touch=True):
        self._remember(model, rec_id)
        rec = self.tables[model][rec_id]
        for (comodel, inv) in self.inverses:
            if comodel == model and inv in changes and changes[inv] != rec.get(inv):
                if rec.get(inv):
                    self.children[(comodel, inv)].get(rec[inv], []).remove(rec_id)
                if changes[inv]:
                    self.children[(comodel, inv)].setdefault(changes[inv], []).append(rec_id)
        rec.update(changes)
        if touch:
            rec["write_date"] = self.now()

    def delete(self, model: str, rec_id: int):
        self._remember(model, rec_id)
        rec = self.tables[model].pop(rec_id)
        for (comodel, inv) in self.inverses:
            if comodel == model and rec.get(inv):
                lst = self.children[(comodel, inv)].get(rec[inv], [])
                if rec_id in lst:
                    lst.remove(rec_id)
        # like BaseModel.unlink: external ids of deleted records go too
        imd = self.tables["ir.model.data"]
        for xid in [i for i, r in imd.items() if r["model"] == model and r["res_id"] == rec_id]:
            self._remember("ir.model.data", xid)
            del imd[xid]

    def o2m_ids(self, f: Field, rec_id: int) -> list:
        ids = list(self.children.get((f.relation, f.inverse), {}).get(rec_id, []))
        if f.only:
            table = self.tables[f.relation]
            ids = [i for i in ids if table[i].get(f.only[0]) in f.only[1]]
        return sorted(ids)

    # -- naming --------------------------------------------------------------------------------

    def display_name(self, model: str, rec_id, env=None) -> str | bool:
        rec = self.tables[model].get(rec_id)
        if rec is None:
            return False
        p = self.profile
        if model == "res.partner":
            return self.partner_display(rec)
        if model in ("product.product", "product.template"):
            return f"[{rec['default_code']}] {rec['name']}" if rec.get("default_code") else rec["name"]
        if model == "account.move":
            # Odoo's _get_move_display_name(show_ref=True): "INV/2026/00001 (memo)" (recorded: calls/*/51_*),
            # a draft "Draft Entry (* 465) (ref)" on 17, "Draft Entry (ref)" on 19 (recorded: books/*/journal_lines_residual)
            name = rec.get("name") if rec.get("name") != "/" else None
            label = ""
            if rec.get("state") == "draft":
                label = {"out_invoice": "Draft Invoice", "out_refund": "Draft Credit Note", "in_invoice": "Draft Bill",
                         "in_refund": "Draft Vendor Credit Note", "out_receipt": "Draft Sales Receipt",
                         "in_receipt": "Draft Purchase Receipt"}.get(rec["move_type"], "Draft Entry")
            if p.major == 17:
                text = f"{label} {name}" if name else f"{label} (* {rec_id})"
            else:
                text = f"{label} {name or ''}"
            text = text.strip()
            if rec.get("ref"):
                text += f" ({textwrap.shorten(rec['ref'], width=50)})"
            return text
        if model == "account.journal":
            # "Stripe USD (USD)" for a journal in another currency than its company's (seen on real 17 and 19)
            currency = rec.get("currency_id")
            company = self.tables["res.company"].get(rec.get("company_id")) or {}
            if currency and currency != company.get("currency_id"):
                return f"{rec['name']} ({self.tables['res.currency'][currency]['name']})"
            return rec["name"]
        if model == "account.account":
            # 19 shows the code only to a user with account.group_account_readonly, implied by the accounting group
            # (recorded: books/odoo19-*/st_journal_read and st_journal_read_without_group), and only the code the
            # account has in the current company (company-dependent: none for another company's account, recorded in
            # books/odoo19-*/err_entry_account_other_company*)
            uid = env.uid if env else 2
            current = env.company_id if env else (self.tables["res.users"].get(uid) or {}).get("company_id")
            with_code = p.account_display_with_code or (
                self.has_accounting_group(uid) and current in self.record_companies("account.account", rec))
            return f"{rec['code']} {rec['name']}" if with_code and rec.get("code") else rec["name"]
        if model == "account.payment.method.line":
            if p.manual_method_with_journal and rec.get("journal_id"):
                return f"{rec['name']} ({self.tables['account.journal'][rec['journal_id']]['name']})"
            return rec["name"]
        if model == "account.move.line":
            move = self.tables["account.move"].get(rec["move_id"], {})
            ref = move.get("ref")
            return " ".join(x for x in (move.get("name"), f"({ref})" if ref else None, rec.get("name")) if x) or False
        if model == "account.bank.statement.line":
            # _inherits account.move: its name (the entry's number) is the line's _rec_name (assumption: not read)
            return (self.tables["account.move"].get(rec.get("move_id")) or {}).get("name") or False
        if model == "ir.model.data":
            return f"{rec.get('module') or ''}.{rec['name']}"
        if model == "product.pricelist":
            # Odoo's pricelist display name (assumption: not read in a recording)
            currency = self.tables["res.currency"].get(rec.get("currency_id")) or {}
            return f"{rec['name']} ({currency.get('name')})" if currency else rec["name"]
        if model == "sale.order.line":
            # "S00005 - <first line of its description> (<customer's ref or name>)", as Odoo's
            # _compute_display_name with _additional_name_per_id (assumption: not read in a recording)
            order = self.tables["sale.order"].get(rec.get("order_id")) or {}
            product = self.tables["product.product"].get(rec.get("product_id")) or {}
            text = f"{order.get('name')} - {(rec.get('name') or '').split(chr(10))[0] or product.get('name') or ''}"
            partner = self.tables["res.partner"].get(order.get("partner_id"))
            if partner:
                commercial = self.tables["res.partner"][self.commercial_partner(partner)]
                text += f" ({commercial.get('ref') or commercial.get('name')})"
            return text
        if model == "product.category":
            return rec["name"]
        if model == "account.payment.register":
            return rec.get("communication") or False
        return rec.get("name") or False

    def has_accounting_group(self, uid) -> bool:
        """Whether the user is in account.group_account_user ("Show Full Accounting Features"); the fake's admin is
        not until a res.users write gives it (as the connector's tests do)."""
        user = self.tables["res.users"].get(uid) or {}
        return self.profile.accounting_group_id in (user.get(self.profile.user_groups_field) or [])

    def partner_display(self, rec) -> str:
        name = rec.get("name") or ""
        if rec.get("parent_id") and not rec.get("is_company"):
            parent = self.tables["res.partner"].get(rec["parent_id"])
            if parent:
                if not name and rec.get("type") and rec["type"] != "contact":
                    name = dict(self.schema["res.partner"].fields["type"].selection)[rec["type"]]
                return f"{self.partner_display(parent)}, {name}"
        return name

    def address_get(self, partner_id, adr_type) -> int | None:
        """res.partner.address_get([adr_type])[adr_type]: the first partner of that type found depth-first among the
        partner and its (non-company, active) contacts, then its ancestors up to the commercial entity; else the
        first 'contact' found so, else the partner itself (Odoo's code; assumption, not recorded)."""
        partners = self.tables["res.partner"]
        children = self.children[("res.partner", "parent_id")]
        found, visited = {}, set()
        current = partners.get(partner_id)
        while current:
            to_scan = [current]
            while to_scan:
                rec = to_scan.pop(0)
                visited.add(rec["id"])
                rtype = rec.get("type") or "contact"
                if rtype in (adr_type, "contact") and rtype not in found:
                    found[rtype] = rec["id"]
                if adr_type in found:
                    return found[adr_type]
                kids = [partners[c] for c in children.get(rec["id"], []) if c not in visited
                        and partners[c].get("active", True) and not partners[c].get("is_company")]
                kids.sort(key=lambda k: (self.partner_display(k), -k["id"]))
                to_scan = kids + to_scan
            if current.get("is_company") or not current.get("parent_id"):
                break
            current = partners.get(current["parent_id"])
        return found.get(adr_type) or found.get("contact") or partner_id

    def commercial_partner(self, rec) -> int:
        while rec.get("parent_id") and not rec.get("is_company"):
            rec = self.tables["res.partner"][rec["parent_id"]]
        return rec["id"]

    def move_field(self, line, fname):
        move = self.tables["account.move"].get(line.get("move_id"))
        return move.get(fname) if move else None

    def partner_balance(self, env, rec, account_type):
        """res.partner credit/debit as Odoo's _credit_debit_get computes them: the sum of the residual amounts of
        the unreconciled receivable (payable) items of posted entries whose partner is exactly this partner, in the
        current company (the first of allowed_company_ids) only (recorded: calls/*/116_*, 117_*). Invoice items
        carry the commercial partner, so a child contact reads 0 (from Odoo's code; assumption)."""
        cid = env.company_id if env else 1
        moves, accounts = self.tables["account.move"], self.tables["account.account"]
        total = 0.0
        for line in self.tables["account.move.line"].values():
            if line.get("partner_id") != rec["id"] or line.get("reconciled"):
                continue
            move = moves.get(line.get("move_id"))
            if not move or move["state"] != "posted" or move.get("company_id") != cid:
                continue
            account = accounts.get(line.get("account_id"))
            if not account or account["account_type"] != account_type:
                continue
            total += line.get("amount_residual") or 0.0
        return money(total)

    def partner_invoiced(self, env, rec):
        """res.partner total_invoiced: untaxed amount of posted customer invoices minus credit notes made out to
        the partner or one of its contacts (Odoo's _invoice_total: partner_id child_of), in every allowed company
        (recorded: calls/*/116_*, 117_*)."""
        companies = env.company_ids if env else [1]
        partners = self.tables["res.partner"]
        total = 0.0
        for move in self.tables["account.move"].values():
            if (move["state"] == "posted" and move["move_type"] in ("out_invoice", "out_refund")
                    and move.get("company_id") in companies and self.is_child_of(partners, move.get("partner_id"), rec["id"])):
                total += move["amount_untaxed"] if move["move_type"] == "out_invoice" else -move["amount_untaxed"]
        return money(total)

    @staticmethod
    def is_child_of(partners, partner_id, ancestor_id) -> bool:
        seen = set()
        while partner_id and partner_id not in seen:
            if partner_id == ancestor_id:
                return True
            seen.add(partner_id)
            partner_id = (partners.get(partner_id) or {}).get("parent_id")
        return False

    def template_variant(self, rec):
        return next((pid for pid, prod in sorted(self.tables["product.product"].items())
                     if prod.get("product_tmpl_id") == rec["id"]), None)

    def company_account(self, env, kind):
        cid = env.company_id if env else 1
        return self.accounts.get((cid, kind))

    # -- multi-company rules -------------------------------------------------------------------

    def record_companies(self, model: str, rec: dict):
        """The companies a record belongs to; empty = shared by all companies."""
        if model == "account.account" and "company_ids" in rec:
            return rec["company_ids"]
        if model == "account.move.line":
            move = self.tables["account.move"].get(rec.get("move_id"))
            return [move["company_id"]] if move and move.get("company_id") else []
        cid = rec.get("company_id")
        return [cid] if cid else []

    def visible(self, env: Env, model: str, rec: dict) -> bool:
        if not self.schema[model].company_rule:
            return True
        companies = self.record_companies(model, rec)
        return not companies or any(c in env.company_ids for c in companies)

    def check_access(self, env: Env, model: str, ids, operation: str, field=None):
        table = self.tables[model]
        hidden = [i for i in ids if i in table and not self.visible(env, model, table[i])]
        if hidden:
            raise self.rule_error(env, model, hidden, operation, field)

    def rule_error(self, env, model, hidden, operation, field=None):
        """AccessError of the multi-company record rules, worded as recorded for a non-debug user."""
        table = self.tables[model]
        mdef = self.schema[model]
        hint = None
        for i in hidden:
            companies = [c for c in self.record_companies(model, table[i]) if c in env.user["company_ids"]]
            if companies:
                hint = self.display_name("res.company", companies[0])
                break
        return access_error(self.profile.access_rule_error(env.user["name"], env.uid, operation,
                                                           [f"{mdef.description} ({model})"], hint, field))

    def check_company(self, env, model, rec_id, company_id, refs, label=None):
        """``refs``: [(field name, comodel, ids)]; each referenced record must be shared or in company_id."""
        lines = []
        mdef = self.schema[model]
        for fname, comodel, ids in refs:
            bad = [i for i in ids if i in self.tables[comodel]
                   and self.record_companies(comodel, self.tables[comodel][i])
                   and company_id not in self.record_companies(comodel, self.tables[comodel][i])]
            if bad:
                values = ", ".join(repr(self.display_name(comodel, i, env)) for i in bad)
                lines.append((label if label is not None else self.display_name(model, rec_id) if rec_id else "",
                              self.display_name("res.company", company_id),
                              mdef.fields[fname].string, fname, values))
        if lines:
            raise user_error(self.profile.incompatible_companies(lines))

    # -- values --------------------------------------------------------------------------------

    def raw(self, env, model, rec, fname):
        f = self.schema[model].fields[fname]
        if fname == "display_name":
            return self.display_name(model, rec["id"], env)
        if f.compute is not None:
            return f.compute(self, env, rec)
        if f.type == "one2many":
            return self.o2m_ids(f, rec["id"])
        return rec.get(fname)

    def to_read(self, env, model, rec, fname, load="_classic_read"):
        f = self.schema[model].fields[fname]
        value = self.raw(env, model, rec, fname)
        t = f.type
        if t == "many2one":
            if not value:
                return False
            if load != "_classic_read":
                return value
            return [value, self.display_name(f.relation, value, env)]
        if t == "many2many":
            ids = list(value or [])
            if env is not None and self.schema[f.relation].company_rule:
                # record rules filter what a x2many shows (recorded: calls/*/20_product_template_read_taxes_*)
                table = self.tables[f.relation]
                ids = [i for i in ids if i in table and self.visible(env, f.relation, table[i])]
            return ids
        if t == "one2many":
            return self.sort_ids(env, f.relation, list(value or []), None) if value else []
        if t == "datetime":
            return value.strftime(DT_FORMAT) if value else False
        if t in ("float", "monetary"):
            return float(value or 0.0)
        if t == "integer":
            return int(value or 0)
        if t == "boolean":
            return bool(value)
        return value if value not in (None, "") else False

    # -- domains -------------------------------------------------------------------------------

    def normalize_domain(self, domain):
        if domain is None:
            return []
        if not isinstance(domain, list):
            raise value_error(f"Invalid domain: {domain!r}")
        result, expected = [], 1
        for item in domain:
            if expected == 0:
                result[0:0] = ["&"]
                expected = 1
            if isinstance(item, (list, tuple)):
                expected -= 1
                result.append(tuple(item))
            elif item in ("&", "|"):
                expected += 1
                result.append(item)
            elif item == "!":
                result.append(item)
            else:
                raise value_error(f"Invalid leaf {item!r}")
        return result

    def check_domain(self, model, norm):
        mdef = self.schema[model]
        for item in norm:
            if isinstance(item, tuple):
                if len(item) != 3:
                    raise value_error(f"Invalid leaf {item!r}")
                path, op, _ = item
                if path in (0, 1) or path is True or path is False:
                    continue
                if not isinstance(path, str):
                    raise value_error(f"Invalid leaf {item!r}")
                if op not in OPERATORS:
                    raise value_error(f"Invalid leaf {item!r}")
                self._check_path(model, path, item)

    def _check_path(self, model, path, leaf):
        mdef = self.schema[model]
        head, _, rest = path.partition(".")
        if head not in mdef.fields:
            raise value_error(self.profile.invalid_leaf(model, head, leaf))
        if rest:
            f = mdef.fields[head]
            if not f.relational:
                raise value_error(self.profile.invalid_leaf(model, head, leaf))
            self._check_path(f.relation, rest, leaf)

    def match(self, env, model, rec, norm) -> bool:
        if not norm:
            return True
        pos = [0]

        def ev():
            item = norm[pos[0]]
            pos[0] += 1
            if item == "&":
                a = ev()
                b = ev()
                return a and b
            if item == "|":
                a = ev()
                b = ev()
                return a or b
            if item == "!":
                return not ev()
            return self.leaf(env, model, rec, item)

        result = True
        while pos[0] < len(norm):
            result = ev() and result
        return result

    def leaf(self, env, model, rec, leaf) -> bool:
        path, op, value = leaf
        if not isinstance(path, str):
            return (path == value) if op == "=" else (path != value)
        if op == "<>":
            op = "!="
        head, _, rest = path.partition(".")
        mdef = self.schema[model]
        f = mdef.fields[head]
        raw = rec["id"] if head == "id" else self.raw(env, model, rec, head)
        if rest:
            ids = raw if isinstance(raw, list) else ([raw] if raw else [])
            table = self.tables[f.relation]
            sub = (rest, op, value)
            if op in NEGATIVE_OPS:
                positive = {"!=": "=", "not in": "in", "not like": "like", "not ilike": "ilike",
                            "not =like": "=like", "not =ilike": "=ilike"}[op]
                return not any(self.leaf(env, f.relation, table[i], (rest, positive, value)) for i in ids if i in table)
            return any(self.leaf(env, f.relation, table[i], sub) for i in ids if i in table)
        return self.compare(env, model, f, raw, op, value, rec)

    def compare(self, env, model, f, raw, op, value, rec) -> bool:
        t = f.type
        if op in NEGATIVE_OPS:
            positive = {"!=": "=", "not in": "in", "not like": "like", "not ilike": "ilike",
                        "not =like": "=like", "not =ilike": "=ilike"}[op]
            return not self.compare(env, model, f, raw, positive, value, rec)
        if (op == "child_of" or op == "parent_of") and f.relational and f.relation != model:
            # partner_id child_of 7: the partner (on the comodel) is 7 or below it (recorded: calls/*/119_*)
            ids = raw if isinstance(raw, list) else ([raw] if raw else [])
            table = self.tables[f.relation]
            return any(self.compare(env, f.relation, self.schema[f.relation].fields["id"], i, op, value, table[i])
                       for i in ids if i in table)
        if op == "child_of" or op == "parent_of":
            targets = set(value if isinstance(value, list) else [value])
            if op == "child_of":
                cur = rec
                while cur:
                    if cur["id"] in targets:
                        return True
                    parent = cur.get("parent_id")
                    cur = self.tables[model].get(parent) if parent else None
                return False
            return any(self.leaf(env, model, self.tables[model][t_], ("id", "child_of", [rec["id"]]))
                       for t_ in targets if t_ in self.tables[model])
        if t in ("one2many", "many2many"):
            ids = set(raw or [])
            if op == "=":
                return (not ids) if value in (False, None) else (value in ids)
            if op == "in":
                vals = set(value if isinstance(value, list) else [value])
                return bool(ids & vals) or (False in vals and not ids)
            if op in ("like", "ilike", "=like", "=ilike"):
                return any(self.compare(env, f.relation, Field("char", ""), self.display_name(f.relation, i), op, value, None)
                           for i in ids)
            return False
        if t == "many2one" and isinstance(value, str) and op in ("=", "like", "ilike", "=like", "=ilike"):
            if not raw:
                return False
            raw = self.display_name(f.relation, raw)
            t = "char"
        if op == "=":
            if value is False or value is None:
                return raw in (None, False, "") if t != "boolean" else not raw
            if t == "boolean":
                return bool(raw) == bool(value)
            if t == "datetime":
                if self.profile.major == 19 and whole_second(value):
                    # 19: '= X' with a value in whole seconds matches that whole second (recorded: */127_*, 129_*)
                    start = parse_datetime(value)
                    return raw is not None and start <= raw < start + dt.timedelta(seconds=1)
                return raw is not None and raw == parse_datetime(value)
            if t in ("float", "monetary", "integer") and raw is None:
                return value == 0
            return raw == value
        if op == "in":
            vals = value if isinstance(value, (list, tuple)) else [value]
            if t == "boolean":
                return bool(raw) in [bool(v) for v in vals]
            if raw in (None, False, ""):
                return False in vals or None in vals
            return raw in vals
        if op in ("like", "ilike", "=like", "=ilike"):
            if raw in (None, False):
                return value in (False, None, "") and op in ("like", "ilike")
            text = str(raw)
            if op == "ilike":
                return str(value).lower() in text.lower()
            if op == "like":
                return str(value) in text
            return bool(like_to_regex(str(value), op == "=ilike").match(text))
        if op in ("<", "<=", ">", ">="):
            if raw in (None, False) and t not in ("integer", "float", "monetary"):
                return False
            if t == "datetime" and self.profile.major == 19 and whole_second(value) and op in (">", "<="):
                # 19 rewrites '> X' as '>= X + 1 s' (recorded: calls/odoo19-*/125_write_date_search_gt);
                # '<= X' as '< X + 1 s' (assumption, the mirror image)
                op = ">=" if op == ">" else "<"
                value = parse_datetime(value) + dt.timedelta(seconds=1)
            if t == "datetime":
                other = parse_datetime(value)
            elif t in ("integer", "float", "monetary"):
                raw = raw or 0
                other = value
            else:
                other = value
            try:
                if op == "<":
                    return raw < other
                if op == "<=":
                    return raw <= other
                if op == ">":
                    return raw > other
                return raw >= other
            except TypeError:
                return False
        raise value_error(f"Invalid leaf {(f.name, op, value)!r}")

    def mentions_active(self, norm) -> bool:
        return any(isinstance(i, tuple) and isinstance(i[0], str) and i[0].split(".")[0] == "active" for i in norm)

    # -- ordering ------------------------------------------------------------------------------

    def parse_order(self, model, order, strict):
        mdef = self.schema[model]
        specs = []
        for part in (order or "").split(","):
            words = part.strip().split()
            if not words:
                continue
            fname = words[0]
            direction = words[1].lower() if len(words) > 1 else "asc"
            if direction not in ("asc", "desc") or len(words) > 4:
                if strict:
                    raise value_error(f'Invalid "order" specified ({order}). A valid "order" specification is a '
                                      "comma-separated list of valid field names (optionally followed by asc/desc "
                                      "for the direction)")
                continue
            nulls = " ".join(words[2:]).lower() if len(words) > 2 else ""
            if fname not in mdef.fields:
                if strict:
                    raise value_error(f"Invalid field {fname!r} on model {model!r}")
                continue
            specs.append((fname, direction == "desc", nulls))
        return specs

    def sort_ids(self, env, model, ids, order):
        specs = self.parse_order(model, order, strict=True) if order else self.parse_order(model, self.schema[model].order, strict=False)
        table = self.tables[model]
        mdef = self.schema[model]
        ids = sorted(ids)
        for fname, desc, nulls in reversed(specs):
            f = mdef.fields[fname]
            nulls_first = (nulls == "nulls first") if nulls else desc

            def key(i, fname=fname, f=f):
                v = i if fname == "id" else self.raw(env, model, table[i], fname)
                if f.type == "many2one" and v:
                    v = str(self.display_name(f.relation, v) or "")
                if isinstance(v, list):
                    v = len(v)
                if isinstance(v, bool) and f.type == "boolean":
                    v = int(v)
                is_null = v is None or (v is False and f.type != "boolean")
                return (is_null, 0 if is_null else v)

            non_null = [i for i in ids if not key(i)[0]]
            null = [i for i in ids if key(i)[0]]
            non_null.sort(key=lambda i: key(i)[1], reverse=desc)
            ids = null + non_null if nulls_first else non_null + null
        return ids

    def search_ids(self, env, model, domain, offset=0, limit=None, order=None):
        norm = self.normalize_domain(domain)
        self.check_domain(model, norm)
        mdef = self.schema[model]
        if "active" in mdef.fields and env.active_test and not self.mentions_active(norm):
            norm = (["&"] if norm else []) + [("active", "=", True)] + norm
        ids = [i for i, rec in self.tables[model].items()
               if self.visible(env, model, rec) and self.match(env, model, rec, norm)]
        ids = self.sort_ids(env, model, ids, order)
        if offset:
            ids = ids[int(offset):]
        if limit:
            ids = ids[:int(limit)]
        return ids


# ---------------------------------------------------------------------------------------------
# 5. Business rules: the models and their public methods
# ---------------------------------------------------------------------------------------------


def api_model(func):
    """A public method called on the model (Odoo's @api.model): no ids."""
    func._public = True
    func._api_model = True
    return func


def public(func):
    """A public method called on records."""
    func._public = True
    func._api_model = False
    return func


def as_ids(ids):
    if ids is None or ids is False:
        return []
    if isinstance(ids, bool):
        raise type_error("ids must be integers")
    if isinstance(ids, int):
        return [ids]
    if isinstance(ids, (list, tuple)) and all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        return list(ids)
    raise type_error(f"ids must be a list of integers, not {ids!r}")


class BaseModel:
    """A recordset: the registry, who calls (env), the model and ids. Public methods mirror Odoo's
    signatures, so that JSON-2's named arguments bind (or fail) the way they do on a real server."""

    _name = None
    _name_required = None  # (description, model) where a missing 'name' is reported

    def __init__(self, reg: Registry, env: Env, model: str, ids=()):
        self.reg = reg
        self.env = env
        self._name = model
        self.ids = as_ids(ids)
        self.mdef = reg.schema[model]
        self.table = reg.tables[model]
        self.profile = reg.profile

    def browse(self, ids):
        return type(self)(self.reg, self.env, self._name, ids)

    # -- helpers -------------------------------------------------------------------------------

    def _existing(self):
        return [i for i in self.ids if i in self.table]

    def _ensure_exist(self):
        missing = [i for i in self.ids if i not in self.table]
        if missing:
            raise missing_error(self._name, missing, self.env.uid)

    def _check_fields(self, vals, for_create):
        for fname in vals:
            if fname not in self.mdef.fields or fname == "id":
                name, msg = (self.profile.invalid_field_create(fname, self._name) if for_create
                             else self.profile.invalid_field_write(fname, self._name))
                raise OdooError(name, msg)

    def _convert(self, fname, value, model=None):
        """One value from the wire to the stored form (x2many commands are left to the caller)."""
        model = model or self._name
        f = self.reg.schema[model].fields[fname]
        t = f.type
        if t == "selection":
            if value in (False, None):
                return None
            keys = [k for k, _ in f.selection]
            if value not in keys:
                owner = "product.template" if model == "product.product" else model
                raise value_error(f"Wrong value for {owner}.{fname}: {value!r}")
            return value
        if t == "many2one":
            if value in (False, None, 0):
                return None
            if isinstance(value, (list, tuple)) and value:
                value = value[0]
            if not isinstance(value, int) or isinstance(value, bool):
                raise value_error(f"Wrong value for {model}.{fname}: {value!r}")
            if value not in self.reg.tables[f.relation]:
                raise missing_error(f.relation, [value], self.env.uid)
            return value
        if t in ("char", "text", "html"):
            if value in (False, None):
                return None
            value = value if isinstance(value, str) else str(value)
            if t == "html" and value and not value.lstrip().startswith("<"):
                value = "<p>" + html_escape(value, quote=False) + "</p>"  # Odoo's html sanitizer (recorded: burst writes)
            return value
        if t in ("float", "monetary"):
            if value in (False, None):
                return 0.0
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise value_error(f"could not convert string to float: {value!r}") from None
            if f.digits and self.profile.major == 17:
                # Odoo 17's float_round returns round(value / 0.01) * 0.01: 19.99 is stored as 19.990000000000002
                # (recorded: calls/odoo17-jsonrpc/23_product_search_default_code)
                steps = int(Decimal(repr(value)).scaleb(2).quantize(Decimal(1), rounding=ROUND_HALF_UP))
                value = steps * 0.01
            return value
        if t == "integer":
            if value in (False, None):
                return 0
            try:
                return int(value)
            except (TypeError, ValueError):
                raise value_error(f"invalid literal for int() with base 10: {value!r}") from None
        if t == "boolean":
            return bool(value)
        if t == "date":
            return None if value in (False, None, "") else parse_date(value)
        if t == "datetime":
            return None if value in (False, None, "") else parse_datetime(value)
        if t == "many2many":
            return self._m2m(fname, value, [], model)
        return value

    def _m2m(self, fname, value, current, model=None):
        """Apply many2many commands ((6,0,ids), (4,id), (3,id), (5,)) or a plain list of ids."""
        f = self.reg.schema[model or self._name].fields[fname]
        ids = list(current)
        if value in (False, None):
            return []
        if not isinstance(value, list):
            raise value_error(f"Wrong value for {model or self._name}.{fname}: {value!r}")
        for cmd in value:
            if isinstance(cmd, int) and not isinstance(cmd, bool):
                ids.append(cmd)
                continue
            if not isinstance(cmd, (list, tuple)) or not cmd:
                raise value_error(f"Wrong value for {model or self._name}.{fname}: {value!r}")
            code = cmd[0]
            if code == 6:
                ids = list(cmd[2] or [])
            elif code == 4:
                ids.append(cmd[1])
            elif code == 3:
                ids = [i for i in ids if i != cmd[1]]
            elif code == 5:
                ids = []
            else:
                raise value_error(f"Unsupported command {cmd!r} on {model or self._name}.{fname} in the fake")
        table = self.reg.tables[f.relation]
        missing = [i for i in ids if i not in table]
        if missing:
            if self.profile.major == 17:
                # 17 finds out at the INSERT into the relation table (recorded: calls/odoo17-jsonrpc/34_*)
                raise validation_error(
                    "The operation cannot be completed: another model requires the record being deleted. If possible, "
                    f"archive it instead.\n\nModel: Unknown (unknown)\nConstraint: {m2m_constraint(self.reg, model or self._name, f)}\n")
            raise missing_error(f.relation, missing, self.env.uid)  # 19 (recorded: calls/odoo19-*/34_*, 36_*)
        added = [i for i in dict.fromkeys(ids) if i not in current]
        if self.reg.schema[f.relation].company_rule:
            hidden = [i for i in added if not self.reg.visible(self.env, f.relation, table[i])]
            if hidden:
                # the ORM reads the new records: a record of a company outside allowed_company_ids is refused
                # (recorded: calls/*/33_err_invoice_line_tax_of_other_company_ctx_company1)
                raise self.reg.rule_error(self.env, f.relation, hidden, "read", f"{model or self._name}.{fname}")
        return list(dict.fromkeys(ids))

    def _defaults(self, vals):
        out = {}
        for fname, f in self.mdef.fields.items():
            if f.store and fname not in vals and f.default is not None:
                out[fname] = f.default(self.env, vals) if callable(f.default) else f.default
        for key, value in self.env.context.items():
            if key.startswith("default_") and key[8:] in self.mdef.fields and key[8:] not in vals:
                out[key[8:]] = value
        return out

    def _check_required(self, rec):
        for fname, f in self.mdef.fields.items():
            if f.required and f.store and rec.get(fname) in (None, "", False) and f.type != "boolean":
                if f.type in ("float", "monetary", "integer") and rec.get(fname) == 0:
                    continue
                desc, owner = (self._name_required if fname == "name" and self._name_required
                               else (self.mdef.description, self._name))
                raise validation_error(self.profile.required_missing(desc, owner, f.string, fname))

    def _prepare_create(self, vals):
        if not isinstance(vals, dict):
            raise type_error(f"create() values must be dicts, not {type(vals).__name__}")
        self._check_fields(vals, for_create=True)
        rec = {}
        merged = dict(self._defaults(vals))
        merged.update(vals)
        for fname, value in merged.items():
            f = self.mdef.fields[fname]
            if not f.store or f.type == "one2many":
                continue
            rec[fname] = self._convert(fname, value)
        self._check_required(rec)
        return rec

    def _after_create_access(self, new_ids):
        hidden = [i for i in new_ids if not self.reg.visible(self.env, self._name, self.table[i])]
        if hidden:
            try:
                self.reg.check_access(self.env, self._name, hidden, "create")
            finally:
                for i in hidden:
                    self.reg.delete(self._name, i)

    # -- generic public methods ----------------------------------------------------------------

    @api_model
    def create(self, vals_list):
        items = create_items(vals_list)
        prepared = [self._prepare_create(v) for v in items]
        new_ids = [self.reg.insert(self._name, rec) for rec in prepared]
        self._after_create_access(new_ids)
        return self.browse(new_ids)

    @public
    def write(self, vals):
        if not isinstance(vals, dict):
            raise type_error("write() values must be a dict")
        self._check_fields(vals, for_create=False)
        self._ensure_exist()
        self.reg.check_access(self.env, self._name, self.ids, "write")
        changes = {}
        for fname, value in vals.items():
            f = self.mdef.fields[fname]
            if not f.store or f.type == "one2many":
                continue
            if f.type == "many2many":
                changes[fname] = value
            else:
                changes[fname] = self._convert(fname, value)
        for i in self.ids:
            per = dict(changes)
            for fname, value in changes.items():
                if self.mdef.fields[fname].type == "many2many":
                    per[fname] = self._m2m(fname, value, self.table[i].get(fname) or [])
            merged = dict(self.table[i])
            merged.update(per)
            self._check_required(merged)
            self.reg.update(self._name, i, per)
        return True

    @public
    def read(self, fields=None, load="_classic_read"):
        ids = self._existing()
        self.reg.check_access(self.env, self._name, ids, "read")
        return self.browse(ids)._read_format(fnames=fields, load=load)

    def _read_format(self, fnames, load="_classic_read"):
        if fnames:
            if not isinstance(fnames, list):
                raise type_error("fields must be a list of field names")
            for fname in fnames:
                if fname not in self.mdef.fields:
                    raise value_error(self.profile.invalid_field_read(fname, self._name))
            names = ["id"] + [f for f in dict.fromkeys(fnames) if f != "id"]
        else:
            names = list(self.mdef.fields)
        out = []
        for i in self.ids:
            rec = self.table[i]
            out.append({fname: (i if fname == "id" else self.reg.to_read(self.env, self._name, rec, fname, load))
                        for fname in names})
        return out

    @api_model
    def search(self, domain, offset=0, limit=None, order=None):
        return self.browse(self.reg.search_ids(self.env, self._name, domain, offset, limit, order))

    @api_model
    def search_read(self, domain=None, fields=None, offset=0, limit=None, order=None, **read_kwargs):
        records = self.search(domain or [], offset=offset, limit=limit, order=order)
        return records._read_format(fnames=fields, **read_kwargs)

    @api_model
    def search_count(self, domain, limit=None):
        return len(self.reg.search_ids(self.env, self._name, domain, 0, limit, None))

    @api_model
    def search_v17(self, domain, offset=0, limit=None, order=None, count=False):
        """17's signature (count was still accepted, deprecated)."""
        found = self.search(domain, offset=offset, limit=limit, order=order)
        return len(found.ids) if count else found

    @api_model
    def name_search_v17(self, name="", args=None, operator="ilike", limit=100):
        """17's signature: the domain is 'args' (19: 'domain')."""
        return self.name_search(name=name, domain=args, operator=operator, limit=limit)

    search_v17.__qualname__ = "BaseModel.search"
    name_search_v17.__qualname__ = "BaseModel.name_search"

    @api_model
    def name_search(self, name="", domain=None, operator="ilike", limit=100):
        dom = list(domain or [])
        if name:
            dom = ["&", (self.mdef.rec_name if self.mdef.rec_name in self.mdef.fields else "display_name", operator, name)] + (
                self.reg.normalize_domain(dom) or [(1, "=", 1)])
        ids = self.reg.search_ids(self.env, self._name, dom, 0, limit, None)
        return [[i, self.reg.display_name(self._name, i)] for i in ids]

    @api_model
    def fields_get(self, allfields=None, attributes=None):
        out = {}
        for fname, f in self.mdef.fields.items():
            if allfields and fname not in allfields:
                continue
            desc = f.describe()
            if attributes:
                desc = {k: v for k, v in desc.items() if k in attributes}
            out[fname] = desc
        return out

    @api_model
    def default_get(self, fields_list):
        defaults = self._defaults({})
        return {k: v for k, v in defaults.items() if k in (fields_list or [])}

    @public
    def exists(self):
        return self.browse(self._existing())

    @public
    def unlink(self):
        ids = self._existing()
        self.reg.check_access(self.env, self._name, ids, "unlink")
        for i in ids:
            self.reg.delete(self._name, i)
        return True


class ResUsers(BaseModel):
    @api_model
    def context_get(self):
        user = self.env.user
        return {"lang": user.get("lang") or "en_US", "tz": user.get("tz") or False, "uid": self.env.uid}


class ApiKeyDescription(BaseModel):
    @public
    def make_key(self):
        raise user_error("This method can only be accessed over HTTP")


ADDRESS_FIELDS = ("street", "street2", "city", "zip", "country_id")


class ResPartner(BaseModel):
    def _prepare_create(self, vals):
        rec = super()._prepare_create(vals)
        if rec.get("type", "contact") == "contact" and not rec.get("name"):
            raise validation_error("The operation cannot be completed: Contacts require a name")
        parent = self.table.get(rec.get("parent_id"))
        if parent and (rec.get("type") or "contact") == "contact":
            # a 'contact' child takes its company's address; an 'invoice' (or other) address keeps its own
            # (recorded: calls/*/11_partner_children_read)
            for fname in ADDRESS_FIELDS:
                rec[fname] = parent.get(fname)
        return rec

    @public
    def write(self, vals):
        if isinstance(vals, dict) and vals.get("parent_id"):
            # Odoo's _check_parent_id (assumption: not recorded): no partner may become its own ancestor
            for pid in self.ids:
                if self.reg.is_child_of(self.table, vals["parent_id"], pid):
                    raise validation_error("You cannot create recursive Partner hierarchies.")
        result = super().write(vals)
        if isinstance(vals, dict) and (vals.get("parent_id") or vals.get("type") == "contact"):
            # a contact given a company (or made a 'contact' again) takes its company's address (Odoo's
            # _fields_sync; assumption)
            for pid in self.ids:
                rec = self.table[pid]
                parent = self.table.get(rec.get("parent_id"))
                if parent and (rec.get("type") or "contact") == "contact":
                    self.reg.update("res.partner", pid, {f: parent.get(f) for f in ADDRESS_FIELDS})
        if isinstance(vals, dict) and set(ADDRESS_FIELDS) & set(vals):
            # the address of a company goes down to its 'contact' children (Odoo's _children_sync; assumption)
            for pid in self.ids:
                parent = self.table[pid]
                for child_id in self.reg.children[("res.partner", "parent_id")].get(pid, []):
                    child = self.table[child_id]
                    if (child.get("type") or "contact") == "contact":
                        self.reg.update("res.partner", child_id, {f: parent.get(f) for f in ADDRESS_FIELDS})
        return result


class ProductTemplate(BaseModel):
    _name_required = ("Product", "product.template")

    @api_model
    def create(self, vals_list):
        """A template comes with its variant (same values; ids advance together as on a fresh database)."""
        items = create_items(vals_list)
        products = ProductProduct(self.reg, self.env, "product.product")
        template_ids = []
        for vals in items:
            if not isinstance(vals, dict):
                raise type_error("create() values must be dicts")
            self._check_fields(vals, for_create=True)
            variant = products.create(vals)
            template_ids.append(self.reg.tables["product.product"][variant.ids[0]]["product_tmpl_id"])
        return self.browse(template_ids)


class ProductProduct(BaseModel):
    _name_required = ("Product", "product.template")

    def _check_required(self, rec):
        super()._check_required(dict(rec, product_tmpl_id=rec.get("product_tmpl_id") or -1))

    def _prepare_create(self, vals):
        vals = dict(vals)
        company = self.reg.tables["res.company"][self.env.company_id]
        if "taxes_id" not in vals and company.get("account_sale_tax_id"):
            vals["taxes_id"] = [[6, 0, [company["account_sale_tax_id"]]]]
        if "supplier_taxes_id" not in vals and company.get("account_purchase_tax_id"):
            vals["supplier_taxes_id"] = [[6, 0, [company["account_purchase_tax_id"]]]]
        if self.profile.major == 17:
            if "detailed_type" in vals and "type" not in vals:
                vals["type"] = vals["detailed_type"]
            elif "type" in vals and "detailed_type" not in vals:
                vals["detailed_type"] = vals["type"]
        rec = super()._prepare_create(vals)
        if rec.get("company_id") and rec.get("taxes_id"):
            self.reg.check_company(self.env, "product.product", None, rec["company_id"], [("taxes_id", "account.tax", rec["taxes_id"])])
        tmpl = {k: v for k, v in rec.items() if k in self.reg.schema["product.template"].fields}
        rec["product_tmpl_id"] = self.reg.insert("product.template", tmpl)
        return rec

    @public
    def write(self, vals):
        vals = dict(vals)
        if self.profile.major == 17:
            if "detailed_type" in vals and "type" not in vals:
                vals["type"] = vals["detailed_type"]
            elif "type" in vals and "detailed_type" not in vals:
                vals["detailed_type"] = vals["type"]
        result = super().write(vals)
        tfields = self.reg.schema["product.template"].fields
        for i in self.ids:
            rec = self.table[i]
            self.reg.update("product.template", rec["product_tmpl_id"],
                            {k: rec[k] for k in vals if k in tfields and k in rec})
        return result

    @public
    def write_v17(self, values):
        """17's signature: product.product names its argument 'values' (a keyword 'vals' is a TypeError there;
        seen on a real 17 server: "ProductProduct.write() got an unexpected keyword argument 'vals'")."""
        return self.write(values)

    write_v17.__qualname__ = "ProductProduct.write"


class IrModelData(BaseModel):

    def _prepare_create(self, vals):
        rec = super()._prepare_create(vals)
        module, name = rec.get("module") or "", rec["name"]
        for other in self.table.values():
            if (other.get("module") or "") == module and other["name"] == name:
                # Not recorded: a real server reports the unique index violation this way (assumption).
                raise validation_error(
                    "The operation cannot be completed: duplicate key value violates unique constraint "
                    "\"ir_model_data_module_name_uniq_index\"\n"
                    f"DETAIL:  Key (module, name)=({module}, {name}) already exists.\n")
        return rec

    @api_model
    def check_object_reference(self, module, xml_id, raise_on_access_error=False):
        for rec in self.table.values():
            if (rec.get("module") or "") == module and rec["name"] == xml_id:
                model = rec["model"]
                if model in self.reg.tables and rec["res_id"] in self.reg.tables[model]:
                    target = self.reg.tables[model][rec["res_id"]]
                    if self.reg.visible(self.env, model, target):
                        return [model, rec["res_id"]]
                    if raise_on_access_error:
                        self.reg.check_access(self.env, model, [rec["res_id"]], "read")
                    return [model, False]
                break
        raise value_error(f"External ID not found in the system: {module}.{xml_id}")


JOURNAL_CODE_PREFIX = {"sale": "INV", "purchase": "BILL", "cash": "CSH", "bank": "BNK", "credit": "CCD", "general": "MISC"}
LIQUIDITY_PREFIX = {"bank": "1014", "cash": "1015", "credit": "1014"}  # the generic chart's bank/cash code prefixes


class AccountJournal(BaseModel):
    """Journals. A bank or cash journal gets a default account of its own (type asset_cash, named like the journal,
    in its currency, the next free code after the chart's 1014 / 1015 prefix) and an inbound and an outbound
    payment method line (recorded: books/*/journal_create to method_lines_read)."""

    @api_model
    def create(self, vals_list):
        items = create_items(vals_list)
        new_ids = []
        for vals in items:
            if not isinstance(vals, dict):
                raise type_error("create() values must be dicts")
            self._check_fields(vals, for_create=True)
            vals = dict(vals)
            company_id = self._convert("company_id", vals.get("company_id")) or self.env.company_id
            if company_id not in self.env.company_ids:
                # assumption: the record rule refuses a journal of a company outside allowed_company_ids
                cname = self.reg.display_name("res.company", company_id)
                raise access_error(self.profile.access_rule_error(
                    self.env.user["name"], self.env.uid, "create", ["Journal (account.journal)"],
                    cname if company_id in self.env.user["company_ids"] else None))
            vals["company_id"] = company_id
            jtype = self._convert("type", vals.get("type"))
            if vals.get("code"):
                vals["code"] = str(vals["code"])[:5]  # a Char of size 5 keeps 5 characters (recorded: books/*/journal_long_code_read)
            elif jtype in (("bank", "cash") if self.profile.major == 17 else JOURNAL_CODE_PREFIX):
                vals["code"] = self._next_code(jtype, company_id)  # seen on real 17 and 19 (BNK2), not recorded
            if vals.get("code") and any(j["code"] == vals["code"] and j["company_id"] == company_id
                                        for j in self.table.values()):
                # recorded: books/*/err_journal_create_duplicate_code (the SQL constraint code_company_uniq)
                raise validation_error("The operation cannot be completed: Journal codes must be unique per company.")
            vals.setdefault("refund_sequence", jtype in ("sale", "purchase"))
            rec = self._prepare_create(vals)
            if jtype in LIQUIDITY_PREFIX and not rec.get("default_account_id"):
                rec["default_account_id"] = self._create_default_account(rec, jtype)
            if jtype in LIQUIDITY_PREFIX and not rec.get("suspense_account_id"):
                # the company's Bank Suspense Account, as every bank journal of the real databases shows
                rec["suspense_account_id"] = self.reg.accounts.get((company_id, "suspense"))
            journal_id = self.reg.insert(self._name, rec)
            if jtype in ("bank", "cash") or (jtype == "credit" and self.profile.major == 19):
                for ptype in ("inbound", "outbound"):
                    self.reg.insert("account.payment.method.line", {
                        "name": self.profile.manual_method_name, "journal_id": journal_id, "payment_type": ptype})
            new_ids.append(journal_id)
        return self.browse(new_ids)

    def _next_code(self, jtype, company_id):
        base = JOURNAL_CODE_PREFIX.get(jtype, "GEN")
        used = {j["code"] for j in self.table.values() if j["company_id"] == company_id}
        return next(f"{base}{n}" for n in range(1, 100) if f"{base}{n}" not in used)

    def _create_default_account(self, journal, jtype):
        """Odoo's _fill_missing_values: 17 tries prefix + '0' padding + 1, 2, …, 9, 10 (1014010 after 101409:
        recorded), 19 counts up from 101400 (101410 after 101409)."""
        company_id = journal["company_id"]
        accounts = self.reg.tables["account.account"]
        used = {a.get("code") for a in accounts.values() if company_id in self.reg.record_companies("account.account", a)}
        prefix = LIQUIDITY_PREFIX[jtype]
        if self.profile.major == 17:
            code = next(prefix.ljust(5, "0") + str(n) for n in range(1, 10000) if prefix.ljust(5, "0") + str(n) not in used)
        else:
            start = int(prefix.ljust(6, "0"))
            code = next(str(n) for n in range(start + 1, start + 10000) if str(n) not in used)
        vals = {"name": journal["name"], "code": code, "account_type": "asset_cash", "reconcile": False,
                "currency_id": journal.get("currency_id"), "active": True}
        vals.update({"company_id": company_id} if self.profile.major == 17 else {"company_ids": [company_id]})
        account_id = self.reg.insert("account.account", vals)
        self.reg.insert("ir.model.data", {"module": "account", "name": f"{company_id}_{jtype}_journal_default_account_{account_id}",
                                          "model": "account.account", "res_id": account_id, "noupdate": True})
        return account_id


class AccountPaymentMethodLine(BaseModel):
    @public
    def write(self, vals):
        """Naming an outstanding account makes it reconcilable, unless it is a bank/cash account (Odoo's
        _auto_toggle_account_to_reconcile; recorded: the clearing journal's asset_cash account stays as it was,
        books/*/journal_default_account_read, method_lines_write_payment_account)."""
        result = super().write(vals)
        account = self.reg.tables["account.account"].get(vals.get("payment_account_id")) if isinstance(vals, dict) else None
        if account and not account.get("reconcile") and account["account_type"] not in ("asset_cash", "liability_credit_card"):
            self.reg.update("account.account", account["id"], {"reconcile": True})
        return result


LINE_FIELDS_FROM_WIRE = ("name", "product_id", "quantity", "price_unit", "discount", "tax_ids", "account_id",
                         "display_type", "partner_id", "currency_id")
INVOICE_TYPES = ("out_invoice", "out_refund", "in_invoice", "in_refund", "out_receipt", "in_receipt")
# Fields whose change on a posted entry changes its accounting (a real server refuses most of them).
LEGAL_MOVE_FIELDS = {"invoice_line_ids", "line_ids", "partner_id", "currency_id", "journal_id", "move_type",
                     "invoice_date", "date", "company_id", "name"}


class AccountMove(BaseModel):
    # -- creation ------------------------------------------------------------------------------

    def _default_journal(self, company_id, move_type):
        jtype = ("sale" if move_type.startswith("out_") else "purchase" if move_type.startswith("in_") else "general")
        journals = [j for j in self.reg.tables["account.journal"].values()
                    if j["company_id"] == company_id and j["type"] == jtype and j.get("active", True)]
        if not journals:
            cname = self.reg.display_name("res.company", company_id)
            raise user_error(f"No journal could be found in company {cname} for any of those types: {jtype}")
        journals.sort(key=lambda j: (j.get("sequence") or 0, j["id"]))
        return journals[0]["id"]

    @api_model
    def create(self, vals_list):
        items = create_items(vals_list)
        new_ids = [self._create_one(vals) for vals in items]
        return self.browse(new_ids)

    def _create_one(self, vals):
        if not isinstance(vals, dict):
            raise type_error("create() values must be dicts")
        self._check_fields(vals, for_create=True)
        vals = dict(vals)
        move_type = vals.get("move_type", self.env.context.get("default_move_type", "entry"))
        self._convert("move_type", move_type)
        line_cmds = list(vals.pop("invoice_line_ids", None) or []) + list(vals.pop("line_ids", None) or [])
        rec = {"move_type": move_type, "state": "draft", "payment_state": "not_paid", "posted_before": False,
               "_paid": 0.0}
        for fname in ("partner_id", "currency_id", "journal_id", "company_id", "reversed_entry_id"):
            if fname in vals:
                rec[fname] = self._convert(fname, vals[fname])
        for fname in ("ref", "payment_reference", "narration", "invoice_origin", "invoice_date", "invoice_date_due",
                      "date", "name"):
            if fname in vals:
                rec[fname] = self._convert(fname, vals[fname])
        if rec.get("journal_id"):
            company_id = self.reg.tables["account.journal"][rec["journal_id"]]["company_id"]
            if rec.get("company_id") and rec["company_id"] != company_id:
                self.reg.check_company(self.env, "account.move", None, rec["company_id"], [("journal_id", "account.journal", [rec["journal_id"]])])
        else:
            company_id = rec.get("company_id") or self.env.company_id
            if company_id not in self.env.company_ids:
                self.reg.check_access(self.env, "res.company", [company_id], "read")
            rec["journal_id"] = self._default_journal(company_id, move_type)
        rec["company_id"] = company_id
        if company_id not in self.env.company_ids:
            cname = self.reg.display_name("res.company", company_id)
            raise access_error(self.profile.access_rule_error(
                self.env.user["name"], self.env.uid, "create", ["Journal Entry (account.move)"],
                cname if company_id in self.env.user["company_ids"] else None))
        company = self.reg.tables["res.company"][company_id]
        if not rec.get("currency_id"):
            # the journal's currency, else the company's (recorded for an entry: books/*/entry_debit_credit_read)
            rec["currency_id"] = (self.reg.tables["account.journal"][rec["journal_id"]].get("currency_id")
                                  or company["currency_id"])
        if rec.get("partner_id"):
            rec["commercial_partner_id"] = self.reg.commercial_partner(self.reg.tables["res.partner"][rec["partner_id"]])
        rec["date"] = rec.get("date") or rec.get("invoice_date") or _today()
        if move_type in INVOICE_TYPES:
            rec["invoice_date_due"] = rec.get("invoice_date_due") or rec.get("invoice_date") or rec["date"]
        refs = [("partner_id", "res.partner", [rec["partner_id"]] if rec.get("partner_id") else [])]
        self.reg.check_company(self.env, "account.move", None, company_id, refs)
        move_id = self.reg.insert("account.move", rec)
        try:
            self._apply_line_commands(move_id, line_cmds)
            if not rec.get("name"):
                self.reg.update("account.move", move_id, {"name": self._draft_name(self.table[move_id])}, touch=False)
            self._recompute(move_id)
            self._check_balanced([move_id])
        except Exception:
            for line_id in list(self.reg.children[("account.move.line", "move_id")].get(move_id, [])):
                self.reg.delete("account.move.line", line_id)
            self.reg.delete("account.move", move_id)
            raise
        return move_id

    def _apply_line_commands(self, move_id, cmds):
        move = self.table[move_id]
        lines = self.reg.tables["account.move.line"]
        if not isinstance(cmds, list):
            raise value_error(f"Wrong value for account.move.invoice_line_ids: {cmds!r}")
        for cmd in cmds:
            if not isinstance(cmd, (list, tuple)) or not cmd:
                raise value_error(f"Wrong value for account.move.invoice_line_ids: {cmd!r}")
            code = cmd[0]
            if code == 0:
                self._create_line(move, cmd[2] if len(cmd) > 2 else {})
            elif code == 1:
                line_id = cmd[1]
                if line_id not in lines or lines[line_id]["move_id"] != move_id:
                    raise missing_error("account.move.line", [line_id], self.env.uid)
                self._update_line(move, line_id, cmd[2] or {})
            elif code in (2, 3):
                if cmd[1] in lines and lines[cmd[1]]["move_id"] == move_id:
                    self.reg.delete("account.move.line", cmd[1])
            elif code == 5:
                for line_id in list(self.reg.children[("account.move.line", "move_id")].get(move_id, [])):
                    if lines[line_id].get("display_type") in ("product", "line_section", "line_note"):
                        self.reg.delete("account.move.line", line_id)
            elif code in (4, 6):
                continue  # linking existing lines to another move is not faked
            else:
                raise value_error(f"Wrong value for account.move.invoice_line_ids: {cmd!r}")

    def _line_vals(self, move, vals, current=None):
        if not isinstance(vals, dict):
            raise value_error(f"Wrong value for account.move.line: {vals!r}")
        for fname in vals:
            if fname not in self.reg.schema["account.move.line"].fields or fname == "id":
                name, msg = self.profile.invalid_field_create(fname, "account.move.line")
                raise OdooError(name, msg)
        out = {}
        for fname, value in vals.items():
            f = self.reg.schema["account.move.line"].fields[fname]
            if not f.store or fname in ("move_id",):
                continue
            if f.type == "many2many":
                out[fname] = self._m2m(fname, value, (current or {}).get(fname) or [], "account.move.line")
            else:
                out[fname] = self._convert(fname, value, "account.move.line")
        return out

    def _create_line(self, move, vals):
        if move["move_type"] == "entry":
            return self._create_entry_line(move, vals)
        lv = self._line_vals(move, vals)
        product = None
        if lv.get("product_id"):
            product = self.reg.tables["product.product"][lv["product_id"]]
        sale = move["move_type"].startswith("out_") or move["move_type"] == "entry"
        rec = {"move_id": move["id"], "display_type": "product", "quantity": 1.0, "discount": 0.0,
               "company_id": move["company_id"], "currency_id": move["currency_id"],
               # Odoo's account.move.line._compute_partner_id: the items carry the commercial partner
               "partner_id": move.get("commercial_partner_id") or move.get("partner_id"),
               "date": move["date"], "debit": 0.0, "credit": 0.0, "balance": 0.0, "amount_residual": 0.0}
        if product:
            rec["name"] = self.reg.display_name("product.product", product["id"])
            if product.get("description_sale") and sale:
                rec["name"] += "\n" + product["description_sale"]
            rec["price_unit"] = product.get("list_price") or 0.0 if sale else product.get("standard_price") or 0.0
            taxes = product.get("taxes_id" if sale else "supplier_taxes_id") or []
            rec["tax_ids"] = [t for t in taxes
                              if self.reg.tables["account.tax"][t]["company_id"] == move["company_id"]]
        else:
            rec["price_unit"] = 0.0
            rec["tax_ids"] = []
        rec.update({k: v for k, v in lv.items() if v is not None or k in ("name",)})
        if not rec.get("account_id"):
            rec["account_id"] = self.reg.accounts.get((move["company_id"], "income" if sale else "expense"))
        refs = [("product_id", "product.product", [rec["product_id"]] if rec.get("product_id") else []),
                ("tax_ids", "account.tax", rec.get("tax_ids") or [])]
        self._check_line_account(move, rec)
        self.reg.check_company(self.env, "account.move.line", None, move["company_id"], refs, label=self._line_label(move, rec))
        rec["amount_currency"] = rec.get("balance") or 0.0
        return self.reg.insert("account.move.line", rec)

    def _line_label(self, move, line):
        """A journal item as an error names it: its display name "<move name> (<ref>) <label>"; the draft's name is
        "/" on 17 and none on 19 (recorded: calls/*/32_*, books/*/err_entry_account_other_company_ctx_both)."""
        name = (move.get("name") or "/") if self.profile.major == 17 else move.get("name")
        ref = move.get("ref")
        return " ".join(x for x in (name, f"({ref})" if ref else None, line.get("name")) if x)

    def _check_line_account(self, move, line):
        """17 reads the account of the line first: one of a company outside allowed_company_ids is an AccessError
        (recorded: books/odoo17-jsonrpc/*_err_entry_account_other_company); 19 goes on to the company check
        (a UserError, recorded)."""
        account_id = line.get("account_id")
        if self.profile.major == 17 and account_id:
            self.reg.check_access(self.env, "account.account", [account_id], "read")
        if account_id:
            self.reg.check_company(self.env, "account.move.line", None, move["company_id"],
                                   [("account_id", "account.account", [account_id])], label=self._line_label(move, line))

    def _create_entry_line(self, move, vals):
        """A journal item of a journal entry, as given: account, label, partner, currency, and amount_currency
        and/or debit/credit (or balance). Every rate is 1: balance = amount_currency when only that is given,
        amount_currency = balance when only debit/credit are (recorded: books/*/entry_fee_lines,
        entry_debit_credit_lines)."""
        lv = self._line_vals(move, vals)
        rec = {"move_id": move["id"], "display_type": "product", "quantity": 1.0, "price_unit": 0.0, "discount": 0.0,
               "tax_ids": [], "company_id": move["company_id"], "currency_id": move["currency_id"], "date": move["date"],
               "partner_id": move.get("commercial_partner_id") or move.get("partner_id"), "price_subtotal": 0.0,
               "price_total": 0.0, "amount_residual": 0.0, "reconciled": False}
        rec.update({k: v for k, v in lv.items() if k not in ("debit", "credit", "balance", "amount_currency")})
        rec.update(entry_amounts(vals, lv))
        if not rec.get("account_id"):
            # assumption (not recorded): a line without account takes the journal's default account
            rec["account_id"] = self.reg.tables["account.journal"][move["journal_id"]].get("default_account_id")
        self._check_line_account(move, rec)
        if rec.get("partner_id"):
            self.reg.check_company(self.env, "account.move.line", None, move["company_id"],
                                   [("partner_id", "res.partner", [rec["partner_id"]])], label=self._line_label(move, rec))
        return self.reg.insert("account.move.line", rec)

    def _update_line(self, move, line_id, vals):
        lines = self.reg.tables["account.move.line"]
        lv = self._line_vals(move, vals, lines[line_id])
        if move["move_type"] == "entry" and set(vals) & {"debit", "credit", "balance", "amount_currency"}:
            lv = {k: v for k, v in lv.items() if k not in ("debit", "credit", "balance", "amount_currency")}
            lv.update(entry_amounts(vals, self._line_vals(move, vals, lines[line_id])))
        if lv.get("account_id"):
            self._check_line_account(move, dict(lines[line_id], **lv))
        refs = [("tax_ids", "account.tax", lv.get("tax_ids") or [])]
        self.reg.check_company(self.env, "account.move.line", None, move["company_id"], refs)
        self.reg.update("account.move.line", line_id, lv)

    # -- amounts -------------------------------------------------------------------------------

    def _recompute(self, move_id):
        """Tax lines, the receivable/payable line and the totals, like Odoo's dynamic lines."""
        reg = self.reg
        move = self.table[move_id]
        lines = reg.tables["account.move.line"]
        if move["move_type"] not in INVOICE_TYPES:
            return self._recompute_entry(move_id)
        line_ids = reg.children[("account.move.line", "move_id")].get(move_id, [])
        product_lines = [lines[i] for i in sorted(line_ids) if lines[i].get("display_type") == "product"]
        # product lines credit the income on customer invoices, debit it on credit notes
        inbound = move["move_type"] in ("out_invoice", "out_receipt", "in_refund")
        sign = -1.0 if inbound else 1.0
        untaxed = 0.0
        tax_amounts = {}
        for line in product_lines:
            subtotal = money((line.get("quantity") or 0.0) * (line.get("price_unit") or 0.0)
                             * (1 - (line.get("discount") or 0.0) / 100.0))
            line_tax = 0.0
            for tax_id in line.get("tax_ids") or []:
                tax = reg.tables["account.tax"][tax_id]
                amount = money(subtotal * tax["amount"] / 100.0) if tax["amount_type"] == "percent" else money(tax["amount"] * (line.get("quantity") or 0.0))
                tax_amounts[tax_id] = tax_amounts.get(tax_id, 0.0) + amount
                line_tax += amount
            balance = sign * subtotal
            reg.update("account.move.line", line["id"], {
                "price_subtotal": subtotal, "price_total": money(subtotal + line_tax), "balance": balance,
                "amount_currency": balance,
                "debit": balance if balance > 0 else 0.0, "credit": -balance if balance < 0 else 0.0,
                "date": move["date"], "partner_id": move.get("commercial_partner_id") or move.get("partner_id")}, touch=False)
            untaxed += subtotal
        untaxed = money(untaxed)
        # tax lines, one per tax, kept in place
        existing_tax = {lines[i]["_tax_id"]: i for i in line_ids if lines[i].get("display_type") == "tax"}
        for tax_id, amount in tax_amounts.items():
            amount = money(amount)
            balance = sign * amount
            vals = {"balance": balance, "debit": balance if balance > 0 else 0.0, "credit": -balance if balance < 0 else 0.0,
                    "amount_currency": balance, "price_subtotal": 0.0, "price_total": 0.0, "date": move["date"],
                    "partner_id": move.get("commercial_partner_id") or move.get("partner_id")}
            if tax_id in existing_tax:
                reg.update("account.move.line", existing_tax.pop(tax_id), vals, touch=False)
            else:
                reg.insert("account.move.line", dict(vals, move_id=move_id, display_type="tax", _tax_id=tax_id,
                                                     name=reg.tables["account.tax"][tax_id]["name"], quantity=0.0, price_unit=0.0,
                                                     company_id=move["company_id"], currency_id=move["currency_id"],
                                                     account_id=reg.accounts.get((move["company_id"], "tax"))))
        for stale in existing_tax.values():
            reg.delete("account.move.line", stale)
        tax_total = money(sum(tax_amounts.values()))
        total = money(untaxed + tax_total)
        # the payment term line balances the entry
        term_ids = [i for i in reg.children[("account.move.line", "move_id")].get(move_id, [])
                    if lines[i].get("display_type") == "payment_term"]
        residual = money(max(total - (move.get("_paid") or 0.0), 0.0))
        if product_lines:
            balance = -sign * total
            kind = "receivable" if move["move_type"].startswith("out_") else "payable"
            vals = {"balance": balance, "debit": balance if balance > 0 else 0.0, "credit": -balance if balance < 0 else 0.0,
                    "amount_currency": balance, "name": move.get("payment_reference") or move.get("name") or False, "date": move["date"],
                    "partner_id": move.get("commercial_partner_id") or move.get("partner_id"), "amount_residual": -sign * residual,
                    "reconciled": residual == 0 and total > 0 and (move.get("_paid") or 0) > 0}
            if term_ids:
                reg.update("account.move.line", term_ids[0], vals, touch=False)
            else:
                reg.insert("account.move.line", dict(vals, move_id=move_id, display_type="payment_term", quantity=0.0,
                                                     price_unit=0.0, price_subtotal=0.0, price_total=0.0,
                                                     company_id=move["company_id"], currency_id=move["currency_id"],
                                                     account_id=reg.accounts.get((move["company_id"], kind))))
        else:
            for i in term_ids:
                reg.delete("account.move.line", i)
        direction = 1.0 if move["move_type"] in ("out_invoice", "out_receipt", "in_refund") else -1.0
        reg.update("account.move", move_id, {
            "amount_untaxed": untaxed, "amount_tax": tax_total, "amount_total": total, "amount_residual": residual,
            "amount_untaxed_signed": direction * untaxed, "amount_total_signed": direction * total,
            "amount_residual_signed": direction * residual}, touch=False)
        self._update_payment_state(move_id)

    def _recompute_entry(self, move_id):
        """A journal entry's totals and its items' residuals, as Odoo's _compute_amount: amount_total is the sum of
        amount_currency of the debit lines, amount_total_signed the sum of their balance (recorded:
        books/*/entry_fee_read_posted, fx_exchange_move_read). A line on a reconcilable or a bank/cash account
        keeps its balance open (minus what was matched: _matched), others have no residual (recorded: books/*/entry_fee_lines,
        fx_payment_move_lines, journal_lines_residual)."""
        reg = self.reg
        lines = reg.tables["account.move.line"]
        accounts = reg.tables["account.account"]
        total = total_currency = 0.0
        for line_id in reg.children[("account.move.line", "move_id")].get(move_id, []):
            line = lines[line_id]
            account = accounts.get(line.get("account_id")) or {}
            balance = line.get("balance") or 0.0
            open_item = account.get("reconcile") or account.get("account_type") in ("asset_cash", "liability_credit_card")
            residual = money(balance - (line.get("_matched") or 0.0)) if open_item else 0.0
            reconciled = bool(open_item) and residual == 0 and bool(line.get("_matched"))
            if residual != line.get("amount_residual") or reconciled != bool(line.get("reconciled")):
                reg.update("account.move.line", line_id, {"amount_residual": residual, "reconciled": reconciled}, touch=False)
            if (line.get("debit") or 0.0) > 0:
                total += balance
                total_currency += line.get("amount_currency") or 0.0
        reg.update("account.move", move_id, {
            "amount_untaxed": 0.0, "amount_tax": 0.0, "amount_total": money(total_currency), "amount_residual": 0.0,
            "amount_untaxed_signed": 0.0, "amount_total_signed": money(abs(total)), "amount_residual_signed": 0.0,
            "payment_state": "not_paid"}, touch=False)

    def _check_balanced(self, move_ids):
        """An entry's debits must equal its credits, checked when it is created or its lines change and when it is
        posted (recorded at create: books/*/err_entry_unbalanced_create; 17 names the entry and the totals, 19
        says only 'The entry is not balanced.')."""
        lines = self.reg.tables["account.move.line"]
        for move_id in move_ids:
            move = self.table[move_id]
            if move["move_type"] != "entry":
                continue
            items = [lines[i] for i in self.reg.children[("account.move.line", "move_id")].get(move_id, [])]
            if not items:
                continue
            debit = money(sum(line.get("debit") or 0.0 for line in items))
            credit = money(sum(line.get("credit") or 0.0 for line in items))
            if debit != credit:
                company_currency = self.reg.tables["res.company"][move["company_id"]]["currency_id"]
                journal = self.reg.tables["account.journal"][move["journal_id"]]
                raise user_error(self.profile.unbalanced_message(
                    self.reg.display_name("account.move", move_id), format_amount(self.reg, debit, company_currency),
                    format_amount(self.reg, credit, company_currency), journal["name"]))

    def _update_payment_state(self, move_id):
        move = self.table[move_id]
        paid = move.get("_paid") or 0.0
        if move.get("_reversed"):
            state = "reversed"
        elif paid <= 0:
            state = "not_paid"
        elif move["amount_residual"] > 0:
            state = "partial"
        else:
            state = "in_payment" if move.get("_in_payment") else "paid"
        if move["state"] != "posted" and state != "not_paid" and not (move["state"] == "draft" and self.profile.major == 19):
            state = "not_paid"
        self.reg.update("account.move", move_id, {"payment_state": state}, touch=False)

    # -- numbering -----------------------------------------------------------------------------

    def _sequence_prefix(self, move):
        journal = self.reg.tables["account.journal"][move["journal_id"]]
        prefix = journal["code"]
        if move["move_type"] in ("out_refund", "in_refund") and journal.get("refund_sequence"):
            prefix = "R" + prefix
        return journal, prefix

    def _next_name(self, move):
        journal, prefix = self._sequence_prefix(move)
        date = dt.date.fromisoformat(move.get("date") or _today())
        return next_sequence_name(self.reg, journal["id"], prefix, date, journal["type"] in ("purchase", "general"))

    def _draft_name(self, move):
        """17 numbers a draft at once only when it is the first entry of its sequence (so that the user can
        edit the first number); otherwise the draft is "/" until posted (recorded: calls/odoo17-jsonrpc/25_*).
        19 leaves drafts without a name."""
        if self.profile.major != 17:
            return None
        journal, prefix = self._sequence_prefix(move)
        if sequence_has_history(self.reg, journal["id"], prefix, exclude=move["id"]):
            return "/"
        return self._next_name(move)

    # -- public methods ------------------------------------------------------------------------

    @public
    def write(self, vals):
        if not isinstance(vals, dict):
            raise type_error("write() values must be a dict")
        self._check_fields(vals, for_create=False)
        self._ensure_exist()
        self.reg.check_access(self.env, self._name, self.ids, "write")
        for move_id in self.ids:
            move = self.table[move_id]
            touched = LEGAL_MOVE_FIELDS & set(vals)
            if move["state"] == "posted" and touched:
                if (move.get("_paid") or 0) > 0:
                    raise user_error(self.profile.unlink_posted(True, move["name"], move_id)
                                     if self.profile.major == 17 else
                                     "You cannot do this modification on a reconciled journal entry. You can just change some "
                                     "non legal fields or you must unreconcile first.\n"
                                     f"Journal Entry (id): {move['name']} ({move_id})")
                # Not recorded; a fake-specific message, the class (UserError) is what matters.
                raise user_error(f"The entry {move['name']} (id {move_id}) is posted: reset it to draft before "
                                 f"changing {', '.join(sorted(touched))}.")
            changes = {}
            for fname, value in vals.items():
                if fname in ("invoice_line_ids", "line_ids"):
                    continue
                f = self.mdef.fields[fname]
                if not f.store:
                    continue
                changes[fname] = self._convert(fname, value)
            if "partner_id" in changes:
                partner = changes["partner_id"]
                changes["commercial_partner_id"] = self.reg.commercial_partner(self.reg.tables["res.partner"][partner]) if partner else None
                self.reg.check_company(self.env, "account.move", move_id, move["company_id"],
                                       [("partner_id", "res.partner", [partner] if partner else [])])
            if "journal_id" in changes and changes["journal_id"]:
                self.reg.check_company(self.env, "account.move", move_id, move["company_id"],
                                       [("journal_id", "account.journal", [changes["journal_id"]])])
            if "invoice_date" in changes and changes["invoice_date"] and "date" not in changes:
                changes["date"] = changes["invoice_date"]
                if "invoice_date_due" not in vals:
                    changes["invoice_date_due"] = changes["invoice_date"]
            self.reg.update("account.move", move_id, changes)
            cmds = list(vals.get("invoice_line_ids") or []) + list(vals.get("line_ids") or [])
            if cmds:
                self._apply_line_commands(move_id, cmds)
            self._recompute(move_id)
            if cmds:
                self._check_balanced([move_id])
        return True

    @public
    def action_post(self):
        self._ensure_exist()
        self.reg.check_access(self.env, self._name, self.ids, "write")
        lines = self.reg.tables["account.move.line"]
        for move_id in self.ids:
            move = self.table[move_id]
            if move["state"] != "draft":
                raise user_error(f"The entry {move['name']} (id {move_id}) must be in draft.")
            line_ids = self.reg.children[("account.move.line", "move_id")].get(move_id, [])
            if not [i for i in line_ids if lines[i].get("display_type") not in ("line_section", "line_note")]:
                raise user_error(self.profile.empty_post_message)
            self._check_balanced([move_id])  # assumption: the same check as at create (not recorded at posting)
            if move["move_type"] in INVOICE_TYPES:
                if not move.get("partner_id"):
                    kind = "Customer" if move["move_type"].startswith("out_") else "Vendor"
                    label = dict(self.mdef.fields["move_type"].selection)[move["move_type"]]
                    raise user_error(f"The field '{kind}' is required, please complete it to validate the {label}.")
                if move["amount_total"] < 0:
                    raise user_error("You cannot validate an invoice with a negative total amount. You should create a "
                                     "credit note instead. Use the action menu to transform it into a credit note or refund.")
        for move_id in self.ids:
            move = self.table[move_id]
            changes = {"state": "posted", "posted_before": True}
            if move["move_type"] in INVOICE_TYPES and not move.get("invoice_date"):
                changes["invoice_date"] = _today()
                changes["date"] = changes["invoice_date"]
                changes["invoice_date_due"] = move.get("invoice_date_due") or changes["invoice_date"]
            self.reg.update("account.move", move_id, changes, touch=False)
            if not move.get("name") or move["name"] == "/":
                self.reg.update("account.move", move_id, {"name": self._next_name(move)}, touch=False)
            if move["move_type"] == "out_invoice" and not move.get("payment_reference"):
                # a credit note keeps none: its payment's memo is its ref (recorded: calls/*/92_refund_direct_payment_read)
                self.reg.update("account.move", move_id, {"payment_reference": move["name"]}, touch=False)
            if move.get("partner_id") and move["move_type"] in INVOICE_TYPES:
                partner = self.reg.tables["res.partner"][move["commercial_partner_id"] or move["partner_id"]]
                rank = "customer_rank" if move["move_type"].startswith("out_") else "supplier_rank"
                self.reg.update("res.partner", partner["id"], {rank: (partner.get(rank) or 0) + 1}, touch=False)
            self._recompute(move_id)
            self._reconcile_with_reversed_entry(move_id)
            self.reg.update("account.move", move_id, {})
        return False

    def _reconcile_with_reversed_entry(self, move_id):
        """A posted credit note is reconciled with the invoice it reverses, if that one is still open: the
        credit note is 'paid', the invoice 'reversed' (recorded: calls/*/85_*, 86_*)."""
        refund = self.table[move_id]
        origin_id = refund.get("reversed_entry_id")
        if refund["move_type"] not in ("out_refund", "in_refund") or origin_id not in self.table:
            return
        origin = self.table[origin_id]
        if origin["state"] != "posted" or origin["amount_residual"] <= 0 or refund["amount_residual"] <= 0:
            return
        amount = money(min(origin["amount_residual"], refund["amount_residual"]))
        self.reg.update("account.move", origin_id, {"_paid": money((origin.get("_paid") or 0.0) + amount)}, touch=False)
        self.reg.update("account.move", move_id, {"_paid": money((refund.get("_paid") or 0.0) + amount)}, touch=False)
        self._recompute(origin_id)
        if self.table[origin_id]["amount_residual"] <= 0:
            self.reg.update("account.move", origin_id, {"_reversed": True})
        self._recompute(origin_id)
        self._recompute(move_id)

    @public
    def button_draft(self):
        self._ensure_exist()
        for move_id in self.ids:
            move = self.table[move_id]
            if move["state"] == "draft":
                continue
            if (move.get("_paid") or 0) > 0 and self.profile.major == 17:
                # 17 unreconciles a paid invoice at once: draft, not_paid, the whole amount due again; the
                # payment stays posted and no longer lists it (recorded: calls/odoo17-jsonrpc/95_* to 99_*)
                unreconcile_payments(self.reg, move_id, forget_invoice=True)
            if self.profile.major == 17:
                # 17's button_draft removes the reconciliation of the entry's items (line_ids.remove_move_reconcile();
                # seen on real 17, not recorded)
                unreconcile_parts(self.reg, self.reg.children[("account.move.line", "move_id")].get(move_id, []))
            # 19 keeps the reconciliation while in draft: payment_state stays 'paid' (recorded: calls/odoo19-*/96_*)
            self.reg.update("account.move", move_id, {"state": "draft"})
            self._recompute(move_id)
        return None  # Odoo's button_draft returns None: no 'result' over JSON-RPC, null over JSON-2 (recorded)

    @public
    def button_cancel(self):
        self._ensure_exist()
        for move_id in self.ids:
            if self.table[move_id]["state"] != "draft":
                raise user_error("Only draft journal entries can be cancelled.")  # assumption
            if (self.table[move_id].get("_paid") or 0) > 0:
                # 19: cancelling the (paid) draft unreconciles it; the payment goes back to in_process and still
                # lists the invoice (recorded: calls/odoo19-*/97_* to 99_*)
                unreconcile_payments(self.reg, move_id, forget_invoice=False)
            self.reg.update("account.move", move_id, {"state": "cancel"})
            self._recompute(move_id)
            refresh_payment_states(self.reg, [move_id])
        return None  # as button_draft: no 'result' over JSON-RPC (recorded)

    @public
    def unlink(self):
        ids = self._existing()
        self.reg.check_access(self.env, self._name, ids, "unlink")
        for move_id in ids:
            move = self.table[move_id]
            if move["state"] == "posted":
                raise user_error(self.profile.unlink_posted((move.get("_paid") or 0) > 0, move["name"], move_id))
        for move_id in ids:
            for line_id in list(self.reg.children[("account.move.line", "move_id")].get(move_id, [])):
                self.reg.delete("account.move.line", line_id)
            self.reg.delete("account.move", move_id)
        return True


# Odoo's AccountMoveLine._get_lock_date_protected_fields()['reconciliation']: changing one of these on a matched item
# is refused by 17 (_check_reconciliation) and undoes the matching on 19
RECONCILIATION_FIELDS = ("account_id", "date", "balance", "amount_currency", "currency_id", "partner_id", "debit", "credit")


def line_account(reg, line):
    return reg.tables["account.account"].get(line.get("account_id")) or {}


def unreconcile_parts(reg, line_ids):
    """Undo the reconcile() matchings (account.partial.reconcile) of these journal items, on every item they
    matched: the items are open again (residual = balance)."""
    lines = reg.tables["account.move.line"]
    groups = {g for i in line_ids for g, _ in (lines[i].get("_parts") or [])}
    if not groups:
        return
    moves = set()
    for line_id, line in list(lines.items()):
        parts = line.get("_parts") or []
        gone = [amount for g, amount in parts if g in groups]
        if gone:
            reg.update("account.move.line", line_id, {
                "_parts": [[g, amount] for g, amount in parts if g not in groups],
                "_matched": money((line.get("_matched") or 0.0) - sum(gone))}, touch=False)
            moves.add(line["move_id"])
    helper = AccountMove(reg, None, "account.move")
    for move_id in moves:
        helper._recompute_entry(move_id)


def statement_line_reconciled(reg, st):
    """account.bank.statement.line.is_reconciled as Odoo's _compute_is_reconciled: with items left on the journal's
    suspense account, whether their residual (their amount when the account is not reconcilable) is zero; with none
    left, true (recorded: books/*/st_line_read_posted, true as soon as the suspense item is on another account, before
    any reconcile; st_line_read_after_write on 19, false again once it is back on the suspense account)."""
    journal = reg.tables["account.journal"].get(st.get("journal_id")) or {}
    suspense_id = journal.get("suspense_account_id")
    lines = reg.tables["account.move.line"]
    items = [lines[i] for i in reg.children[("account.move.line", "move_id")].get(st.get("move_id"), [])
             if lines[i].get("account_id") == suspense_id]
    if not items:
        return True
    reconcilable = bool(reg.tables["account.account"].get(suspense_id, {}).get("reconcile"))
    residual = sum((line.get("amount_residual") if reconcilable else line.get("amount_currency")) or 0.0 for line in items)
    return money(residual) == 0


class AccountBankStatementLine(BaseModel):
    """A bank statement line (recorded: books/*/st_*): made by a user in account.group_account_user only; its journal
    entry is made at once, posted, numbered in its journal's sequence (BNK1/2026/00007): the journal's default
    (liquidity) account debited with the amount and its suspense account credited, both labelled with payment_ref."""

    @api_model
    def create(self, vals_list):
        if not self.reg.has_accounting_group(self.env.uid):
            raise access_error(self.profile.statement_line_access())
        items = create_items(vals_list)
        new_ids = []
        for vals in items:
            rec = self._prepare_create(vals)
            journal = self.reg.tables["account.journal"][rec["journal_id"]]
            company_id = journal["company_id"]
            if company_id not in self.env.company_ids:
                # assumption: the record rule of the line's company, worded as the others
                cname = self.reg.display_name("res.company", company_id)
                raise access_error(self.profile.access_rule_error(
                    self.env.user["name"], self.env.uid, "create", ["Bank Statement Line (account.bank.statement.line)"],
                    cname if company_id in self.env.user["company_ids"] else None))
            if journal["type"] not in ("bank", "cash", "credit"):
                # assumption: Odoo's domain on journal_id, worded by the fake
                raise user_error(f"The journal {journal['name']} is not a bank, cash or credit card journal.")
            liquidity, suspense = journal.get("default_account_id"), journal.get("suspense_account_id")
            if not liquidity or not suspense:
                raise user_error(f"You can't create a new statement line without a suspense account set on the "
                                 f"{journal['name']} journal.")  # assumption (Odoo's _prepare_move_line_default_vals)
            company = self.reg.tables["res.company"][company_id]
            currency_id = journal.get("currency_id") or company["currency_id"]
            if rec.get("partner_id"):
                self.reg.check_company(self.env, "account.bank.statement.line", None, company_id,
                                       [("partner_id", "res.partner", [rec["partner_id"]])], label=rec.get("payment_ref") or "")
            date = rec.get("date") or _today()
            amount = money(rec.get("amount") or 0.0)
            name = next_sequence_name(self.reg, journal["id"], journal["code"], dt.date.fromisoformat(date), False)
            move_id = self.reg.insert("account.move", {
                "name": name, "move_type": "entry", "state": "posted", "posted_before": True, "journal_id": journal["id"],
                "company_id": company_id, "currency_id": currency_id, "partner_id": rec.get("partner_id"),
                "commercial_partner_id": rec.get("partner_id"), "date": date, "ref": None, "payment_state": "not_paid",
                "_paid": 0.0})
            common = {"name": rec.get("payment_ref"), "partner_id": rec.get("partner_id"), "company_id": company_id,
                      "currency_id": currency_id, "date": date}
            insert_entry_line(self.reg, move_id, dict(common, account_id=liquidity, balance=amount))
            insert_entry_line(self.reg, move_id, dict(common, account_id=suspense, balance=-amount))
            AccountMove(self.reg, self.env, "account.move")._recompute_entry(move_id)
            rec.update({"move_id": move_id, "company_id": company_id, "currency_id": currency_id, "date": date})
            new_ids.append(self.reg.insert(self._name, rec))
        return self.browse(new_ids)

    @public
    def write(self, vals):
        # not faked (the connector never rewrites a statement line): a real server rewrites its entry
        raise user_error("The fake does not rewrite bank statement lines; change the journal items of its entry instead.")

    @public
    def unlink(self):
        ids = self._existing()
        self.reg.check_access(self.env, self._name, ids, "unlink")
        for st_id in ids:
            move_id = self.table[st_id].get("move_id")
            line_ids = list(self.reg.children[("account.move.line", "move_id")].get(move_id, []))
            unreconcile_parts(self.reg, line_ids)  # assumption: Odoo unlinks the entry, its matchings with it
            for line_id in line_ids:
                self.reg.delete("account.move.line", line_id)
            if move_id in self.reg.tables["account.move"]:
                self.reg.delete("account.move", move_id)
            self.reg.delete(self._name, st_id)
        return True


class AccountMoveLine(BaseModel):
    """Journal items: write of a journal entry's items (the entry kept balanced and its residuals recomputed, as
    recorded for a statement line's suspense item in books/*/st_suspense_line_write, st2_suspense_line_write_posted)
    and reconcile()."""

    @public
    def write(self, vals):
        if not isinstance(vals, dict):
            raise type_error("write() values must be a dict")
        self._check_fields(vals, for_create=False)
        self._ensure_exist()
        moves = self.reg.tables["account.move"]
        if not all(moves[self.table[i]["move_id"]]["move_type"] == "entry" for i in self.ids):
            return super().write(vals)  # an invoice's items: as before (its lines are written through the move)
        self.reg.check_access(self.env, self._name, self.ids, "write")
        changing = {}
        for line_id in self.ids:
            line = self.table[line_id]
            fields = {f for f in RECONCILIATION_FIELDS if f in vals and self._will_change(line, f, vals[f])}
            if fields and ((line.get("_matched") or 0.0) or line.get("_parts")):
                changing[line_id] = fields
        if changing:
            if self.profile.major == 17:
                # recorded: books/odoo17-jsonrpc/*_st_write_reconciled_line (_check_reconciliation)
                move = moves[self.table[next(iter(changing))]["move_id"]]
                raise user_error("You cannot do this modification on a reconciled journal entry. You can just change "
                                 "some non legal fields or you must unreconcile first.\n"
                                 f"Journal Entry (id): {move['name']} ({move['id']})")
            # 19 breaks the matching, unless only the account changes on every item of it (recorded:
            # books/odoo19-*/st_write_reconciled_line, st_lines_after_write)
            lines = self.reg.tables["account.move.line"]
            for line_id, fields in changing.items():
                line = lines[line_id]
                groups = {g for g, _ in line.get("_parts") or []}
                if money(sum(a for _, a in line.get("_parts") or [])) != money(line.get("_matched") or 0.0):
                    raise user_error("The fake does not unreconcile an item matched by a payment; "
                                     "reset the payment instead.")
                together = [i for i, other in lines.items() if {g for g, _ in other.get("_parts") or []} & groups]
                if fields - {"account_id"} or not all(i in self.ids for i in together):
                    unreconcile_parts(self.reg, [line_id])
        helper = AccountMove(self.reg, self.env, "account.move")
        touched = []
        for line_id in self.ids:
            move = moves[self.table[line_id]["move_id"]]
            helper._update_line(move, line_id, vals)
            if move["id"] not in touched:
                touched.append(move["id"])
        for move_id in touched:
            helper._recompute_entry(move_id)
            helper._check_balanced([move_id])
        return True

    def _will_change(self, line, fname, value):
        if fname in ("debit", "credit", "balance", "amount_currency"):
            try:
                return money(float(value or 0.0)) != money(line.get(fname) or 0.0)
            except (TypeError, ValueError):
                return True
        f = self.mdef.fields[fname]
        if f.type == "many2one":
            value = value[0] if isinstance(value, (list, tuple)) and value else value
            return (value or None) != (line.get(fname) or None)
        return value != line.get(fname)

    @public
    def reconcile(self):
        """Odoo's reconcile(): the checks of _check_amls_exigibility_for_reconciliation in their order (recorded:
        books/*/st_err_reconcile_*, st_reconcile_draft_line), then the debit items matched with the credit items
        (oldest first) up to the smaller side; an item fully matched is reconciled with a residual of 0 (recorded:
        st_reconcile, st_transfer_line_reconciled). Returns None (no 'result' member over JSON-RPC)."""
        self._ensure_exist()
        self.reg.check_access(self.env, self._name, self.ids, "write")
        ids = list(dict.fromkeys(self.ids))
        if not ids:
            return None
        lines = [self.table[i] for i in ids]
        moves = self.reg.tables["account.move"]
        if any(line.get("reconciled") for line in lines):
            raise user_error("You are trying to reconcile some entries that are already reconciled.")
        states = [moves[line["move_id"]]["state"] for line in lines]
        if self.profile.major == 17 and any(state != "posted" for state in states):
            raise user_error("You can only reconcile posted entries.")
        if self.profile.major != 17 and any(state == "cancel" for state in states):
            raise user_error("You can not reconcile cancelled entries.")  # from Odoo 19's code (not recorded)
        accounts = list(dict.fromkeys(line.get("account_id") for line in lines))
        if len(accounts) > 1:
            names = ", ".join(self.reg.display_name("account.account", a, self.env) for a in accounts)
            raise user_error(f"Entries are not from the same account: {names}")
        companies = list(dict.fromkeys(moves[line["move_id"]]["company_id"] for line in lines))
        if len(companies) > 1:
            names = ", ".join(self.reg.display_name("res.company", c) for c in companies)
            raise user_error(f"Entries don't belong to the same company: {names}")  # from Odoo's code (not recorded)
        account = line_account(self.reg, lines[0])
        if not account.get("reconcile") and account.get("account_type") not in ("asset_cash", "liability_credit_card"):
            name = self.reg.display_name("account.account", accounts[0], self.env)
            raise user_error(f"Account {name} does not allow reconciliation. First change the configuration of this "
                             "account to allow it.")
        if any(moves[line["move_id"]]["move_type"] != "entry" for line in lines):
            raise user_error("The fake reconciles the items of journal entries only (an invoice is paid through "
                             "account.payment.register).")
        ordered = sorted(lines, key=lambda line: (line.get("date") or "", line["id"]))
        debits = [[line, money(line["amount_residual"])] for line in ordered if money(line["amount_residual"]) > 0]
        credits = [[line, money(-line["amount_residual"])] for line in ordered if money(line["amount_residual"]) < 0]
        all_lines = self.reg.tables["account.move.line"].values()
        group = 1 + max((g for other in all_lines for g, _ in other.get("_parts") or []), default=0)
        matched = {}
        while debits and credits:
            amount = money(min(debits[0][1], credits[0][1]))
            for side, sign in ((debits, 1.0), (credits, -1.0)):
                line_id = side[0][0]["id"]
                matched[line_id] = money(matched.get(line_id, 0.0) + sign * amount)
                side[0][1] = money(side[0][1] - amount)
                if side[0][1] <= 0:
                    side.pop(0)
        touched = []
        for line_id, amount in matched.items():
            line = self.table[line_id]
            self.reg.update(self._name, line_id, {"_parts": (line.get("_parts") or []) + [[group, amount]],
                                                  "_matched": money((line.get("_matched") or 0.0) + amount)})
            if line["move_id"] not in touched:
                touched.append(line["move_id"])
        helper = AccountMove(self.reg, self.env, "account.move")
        for move_id in touched:
            helper._recompute_entry(move_id)
        return None


def _sequence_numbers(reg, journal_id, prefix):
    pattern = re.compile(re.escape(prefix) + r"/(\d{4})/(?:(\d{2})/)?(\d+)$")
    for model in ("account.move", "account.payment"):
        for rec in reg.tables[model].values():
            if rec.get("journal_id") == journal_id and rec.get("name"):
                m = pattern.match(rec["name"])
                if m:
                    yield rec["id"] if model == "account.move" else None, int(m.group(1)), m.group(2), int(m.group(3))


def sequence_has_history(reg, journal_id, prefix, exclude=None):
    if reg.sequence_floor.get((journal_id, prefix)):
        return True
    return any(mid != exclude for mid, _, _, _ in _sequence_numbers(reg, journal_id, prefix))


def next_sequence_name(reg, journal_id, prefix, date, monthly):
    """The next number after the highest one in use (Odoo reads the last name of the sequence, so the number
    of a deleted last entry is given again: recorded in calls/*/45_invoice_unlink_cancelled and the next
    invoice); a seeded floor stands for entries of the recorded database's history."""
    numbers = [n for _, year, month, n in _sequence_numbers(reg, journal_id, prefix)
               if year == date.year and (not monthly or month == f"{date.month:02d}")]
    number = max(numbers + [reg.sequence_floor.get((journal_id, prefix), 0)]) + 1
    if monthly:
        return f"{prefix}/{date.year}/{date.month:02d}/{number:04d}"
    return f"{prefix}/{date.year}/{number:05d}"


def payment_line_label(reg, payment_type, partner_type, amount, currency_id, partner_id, date, communication, method_line_id):
    """The label of a payment's journal items, as recorded (calls/*/69_pay_fee_payment_move_lines)."""
    if reg.profile.major == 17:
        kind = {("inbound", "customer"): "Customer Payment", ("outbound", "customer"): "Customer Reimbursement",
                ("outbound", "supplier"): "Vendor Payment", ("inbound", "supplier"): "Vendor Reimbursement"}[
            (payment_type, partner_type)]
        shown = format_amount(reg, amount, currency_id)
        day = dt.date.fromisoformat(date).strftime("%m/%d/%Y")
        if not partner_id:  # Odoo leaves the partner out (assumption from its code, not recorded)
            return f"{kind} {shown} - {day}"
        return f"{kind} {shown} - {reg.display_name('res.partner', partner_id)} - {day}"
    method = reg.tables["account.payment.method.line"].get(method_line_id) or {}
    name = method.get("name") or reg.profile.manual_method_name
    return f"{name}: {communication}" if communication else name


def refresh_payment_states(reg, move_ids):
    """19: a payment whose money sits on a reconcilable account (Outstanding Receipts/Payments) is 'in_process'
    until the invoices it is reconciled with are paid, then 'paid' (recorded: calls/odoo19-*/57_pay_partial_payment_read,
    61_*); one on a bank/cash account (a method line's payment_account_id = the journal's own account) is 'paid' at
    once, even for a partial payment (recorded: books/odoo19-*/partial_payment_read). 17 keeps 'posted'."""
    if reg.profile.major != 19:
        return
    moves = reg.tables["account.move"]
    wanted = set(move_ids)
    for pid, pay in list(reg.tables["account.payment"].items()):
        invoices = pay.get("reconciled_invoice_ids") or []
        if pay["state"] not in ("in_process", "paid") or not wanted & set(invoices):
            continue
        state = payment_state_19(reg, pay)
        if pay["state"] != state:
            reg.update("account.payment", pid, {"state": state})


def payment_state_19(reg, pay):
    account = reg.tables["account.account"].get(pay.get("outstanding_account_id")) or {}
    if account and not account.get("reconcile"):
        return "paid"
    moves = reg.tables["account.move"]
    invoices = pay.get("reconciled_invoice_ids") or []
    done = pay.get("is_reconciled") and bool(invoices) and all(
        moves[i]["state"] == "posted" and moves[i]["payment_state"] in ("paid", "in_payment", "reversed")
        for i in invoices if i in moves)
    return "paid" if done else "in_process"


M2M_TABLES = {("product.template", "taxes_id"): ("product_taxes_rel", "tax_id"),
              ("product.product", "taxes_id"): ("product_taxes_rel", "tax_id"),
              ("product.template", "supplier_taxes_id"): ("product_supplier_taxes_rel", "tax_id"),
              ("product.product", "supplier_taxes_id"): ("product_supplier_taxes_rel", "tax_id")}


def m2m_constraint(reg, model, f):
    """The foreign key of a many2many's relation table: Odoo's default names, or the explicit ones."""
    if (model, f.name) in M2M_TABLES:
        table, column = M2M_TABLES[(model, f.name)]
    else:
        a, b = model.replace(".", "_"), f.relation.replace(".", "_")
        table, column = f"{min(a, b)}_{max(a, b)}_rel", f"{b}_id"
    return f"{table}_{column}_fkey"


def outstanding_account(reg, company_id, journal_id, method_line_id, outbound):
    """Where a payment's money goes: its method line's payment_account_id (finance sets it to the journal's own
    account for a clearing journal), else the company's Outstanding Receipts/Payments (recorded:
    books/*/fx_payment_move_lines, plain_payment_move_lines)."""
    method = reg.tables["account.payment.method.line"].get(method_line_id) or {}
    return (method.get("payment_account_id")
            or reg.accounts.get((company_id, "outstanding_out" if outbound else "outstanding_in"))
            or reg.accounts.get((company_id, "bank")))


def insert_entry_line(reg, move_id, vals):
    """A journal item of a generated entry (payment, exchange difference): rate 1, amount_currency as given or
    the balance."""
    balance = money(vals.pop("balance"))
    rec = {"display_type": "product", "quantity": 0.0, "price_unit": 0.0, "price_subtotal": 0.0, "price_total": 0.0,
           "amount_residual": 0.0, "reconciled": False, "tax_ids": [], "discount": 0.0}
    rec.update(vals)
    rec.update({"move_id": move_id, "balance": balance, "debit": max(balance, 0.0), "credit": max(-balance, 0.0),
                "amount_currency": money(vals["amount_currency"]) if "amount_currency" in vals else balance})
    return reg.insert("account.move.line", rec)


def register_payment(reg: Registry, env: Env, move_ids, amount, date, journal_id, communication, method_line_id=None,
                     in_payment=False, writeoff=None, currency_id=None, exchange=None):
    """Create a posted account.payment (and its journal entry) and apply it to the invoices.

    currency_id: the payment's currency (the invoice's by default; every rate is 1).
    writeoff: (account_id, label, amount) when the wizard marks the invoice fully paid and books the
    difference (e.g. a processor's fee) to an account, as Odoo's "Mark as fully paid": a third line.
    exchange: the difference when that account is one of the company's exchange gain/loss accounts and the
    payment is in another currency than the invoice: no third line, the rest of the invoice goes to an exchange
    difference entry (recorded: books/*/fx_payment_move_lines to fx_exchange_move_lines)."""
    moves = reg.tables["account.move"]
    first = moves[move_ids[0]]
    journal = reg.tables["account.journal"][journal_id]
    currency_id = currency_id or first["currency_id"]
    outbound = first["move_type"] in ("out_refund", "in_invoice", "in_receipt")
    payment_type = "outbound" if outbound else "inbound"
    partner_type = "customer" if first["move_type"].startswith("out_") else "supplier"
    if not method_line_id:
        method_line_id = next((m["id"] for m in sorted(reg.tables["account.payment.method.line"].values(), key=lambda m: m["id"])
                               if m["journal_id"] == journal_id and m["payment_type"] == payment_type), None)
    date = date or _today()
    name = next_sequence_name(reg, journal_id, "P" + journal["code"], dt.date.fromisoformat(date), False)
    partner_id = first.get("commercial_partner_id") or first.get("partner_id")
    company_id = first["company_id"]
    entry_id = reg.insert("account.move", {
        "name": name, "move_type": "entry", "state": "posted", "posted_before": True, "journal_id": journal_id,
        "company_id": company_id, "currency_id": currency_id, "partner_id": partner_id,
        "commercial_partner_id": partner_id, "date": date, "ref": communication, "payment_state": "not_paid",
        "amount_total": 0.0, "amount_untaxed": 0.0, "amount_tax": 0.0, "amount_residual": 0.0,
        "amount_total_signed": 0.0, "amount_untaxed_signed": 0.0, "amount_residual_signed": 0.0, "_paid": 0.0})
    kind = "receivable" if first["move_type"].startswith("out_") else "payable"
    sign = -1.0 if outbound else 1.0
    written_off = writeoff[2] if writeoff else 0.0
    label = payment_line_label(reg, payment_type, partner_type, amount, currency_id, partner_id, date,
                               communication, method_line_id)
    liquidity_account = outstanding_account(reg, company_id, journal_id, method_line_id, outbound)
    residual = money(sum(moves[i]["amount_residual"] for i in move_ids))
    counterpart = money(amount + written_off)
    common = {"partner_id": partner_id, "company_id": company_id, "currency_id": currency_id, "date": date}
    # the liquidity line (outstanding account or the journal's own), the receivable/payable line (reconciled with
    # the invoice), then the write-off
    insert_entry_line(reg, entry_id, dict(common, account_id=liquidity_account, name=label, balance=sign * amount))
    # the counterpart is matched with the invoices up to their residual; with an exchange difference, wholly
    matched = counterpart if exchange else min(counterpart, residual)
    insert_entry_line(reg, entry_id, dict(common, account_id=reg.accounts.get((company_id, kind)), name=label,
                                          balance=-sign * counterpart, _matched=-sign * matched))
    if writeoff:
        insert_entry_line(reg, entry_id, dict(common, account_id=writeoff[0], name=writeoff[1], balance=sign * written_off))
    helper = AccountMove(reg, env, "account.move")
    helper._recompute_entry(entry_id)
    remaining = money(counterpart + (exchange or 0.0))
    applied_to = []
    for move_id in move_ids:
        applied = min(remaining, moves[move_id]["amount_residual"])
        remaining = money(remaining - applied)
        applied_to.append([move_id, applied])
    payment_id = reg.insert("account.payment", {
        "name": name, "date": date, "state": reg.profile.payment_posted_state, "amount": amount,
        "payment_type": payment_type, "partner_type": partner_type,
        "partner_id": partner_id, "journal_id": journal_id, "payment_method_line_id": method_line_id,
        "currency_id": currency_id, "company_id": company_id, reg.profile.payment_ref_field: communication,
        "move_id": entry_id, "outstanding_account_id": liquidity_account, "reconciled_invoice_ids": list(move_ids),
        "is_reconciled": True, "is_matched": liquidity_account == journal.get("default_account_id"),
        "_applied": applied_to})
    for move_id, applied in applied_to:
        move = moves[move_id]
        reg.update("account.move", move_id, {"_paid": money((move.get("_paid") or 0.0) + applied),
                                             "_in_payment": bool(in_payment)})
        helper._recompute(move_id)
    if exchange:
        exchange_difference_entry(reg, env, first, exchange, currency_id)
    refresh_payment_states(reg, move_ids)
    return payment_id


def exchange_difference_entry(reg, env, invoice, difference, payment_currency):
    """The entry Odoo makes when it reconciles a payment in another currency with an invoice at the rate the
    wizard forced: in the company's Exchange Difference journal, dated today (or the invoice's date if later),
    the receivable fixed (reconciled) against the exchange loss (the invoice was paid less) or gain (paid more).
    The line fixed is the one left open in company currency: the invoice's when paid less (its currency,
    amount_currency 0), the payment's when paid more (amount_currency = balance in the company's currency)
    (recorded: books/*/fx_exchange_lines_search to fx_exchange_move_lines, gain_exchange_*)."""
    company_id = invoice["company_id"]
    company = reg.tables["res.company"][company_id]
    journal_id = company.get("currency_exchange_journal_id")
    journal = reg.tables["account.journal"][journal_id]
    date = max(_today(), invoice.get("date") or _today())
    name = next_sequence_name(reg, journal_id, journal["code"], dt.date.fromisoformat(date), True)
    inbound = invoice["move_type"] in ("out_invoice", "out_receipt", "in_refund")
    to_fix = difference if inbound else -difference  # the invoice's open balance in company currency
    fx_account = (company.get("expense_currency_exchange_account_id") if to_fix > 0
                  else company.get("income_currency_exchange_account_id"))
    kind = "receivable" if invoice["move_type"].startswith("out_") else "payable"
    move_id = reg.insert("account.move", {
        "name": name, "move_type": "entry", "state": "posted", "posted_before": True, "journal_id": journal_id,
        "company_id": company_id, "currency_id": company["currency_id"], "date": date, "ref": None,
        "payment_state": "not_paid", "_paid": 0.0})
    fixed_currency = invoice["currency_id"] if difference > 0 else payment_currency
    in_company_currency = fixed_currency == company["currency_id"]
    common = {"name": "Currency exchange rate difference", "currency_id": fixed_currency,
              "partner_id": invoice.get("commercial_partner_id") or invoice.get("partner_id"),
              "company_id": company_id, "date": date}
    insert_entry_line(reg, move_id, dict(common, account_id=reg.accounts.get((company_id, kind)), balance=-to_fix,
                                         amount_currency=-to_fix if in_company_currency else 0.0, _matched=-to_fix))
    insert_entry_line(reg, move_id, dict(common, account_id=fx_account, balance=to_fix,
                                         amount_currency=to_fix if in_company_currency else 0.0))
    AccountMove(reg, env, "account.move")._recompute_entry(move_id)
    return move_id


def unreconcile_payments(reg, move_id, forget_invoice):
    """Take the payments off an invoice: 17 at button_draft (the payment no longer lists the invoice),
    19 at button_cancel (the payment still lists it), as recorded (calls/*/95_* to 99_*)."""
    for pid, pay in list(reg.tables["account.payment"].items()):
        applied = [a for a in (pay.get("_applied") or []) if a[0] == move_id]
        if not applied:
            continue
        rest = [a for a in pay["_applied"] if a[0] != move_id]
        changes = {"_applied": rest, "is_reconciled": bool(rest)}
        if forget_invoice:
            changes["reconciled_invoice_ids"] = [i for i in pay.get("reconciled_invoice_ids") or [] if i != move_id]
        reg.update("account.payment", pid, changes)
        if not rest:
            for line_id in reg.children[("account.move.line", "move_id")].get(pay.get("move_id"), []):
                if reg.tables["account.move.line"][line_id].get("_matched"):
                    reg.update("account.move.line", line_id, {"_matched": 0.0}, touch=False)
            if pay.get("move_id") in reg.tables["account.move"]:
                AccountMove(reg, None, "account.move")._recompute_entry(pay["move_id"])
    move = reg.tables["account.move"][move_id]
    reg.update("account.move", move_id, {"_paid": 0.0, "_in_payment": False, "_reversed": False})
    return move


class AccountPaymentRegister(BaseModel):
    def _invoices_from_context(self):
        ctx = self.env.context
        if ctx.get("active_model") not in ("account.move", "account.move.line"):
            raise user_error("The register payment wizard should only be called on account.move or account.move.line records.")
        ids = as_ids(ctx.get("active_ids") or [])
        if ctx["active_model"] == "account.move.line":
            lines = self.reg.tables["account.move.line"]
            missing = [i for i in ids if i not in lines]
            if missing:
                raise missing_error("account.move.line", missing, self.env.uid)
            ids = list(dict.fromkeys(lines[i]["move_id"] for i in ids))
        moves = self.reg.tables["account.move"]
        missing = [i for i in ids if i not in moves]
        if missing:
            raise missing_error("account.move", missing, self.env.uid)
        self.reg.check_access(self.env, "account.move", ids, "read")
        return ids

    def _check_payable(self, move_ids):
        moves = self.reg.tables["account.move"]
        if not move_ids or any(moves[i]["state"] != "posted" for i in move_ids):
            raise user_error("You can only register payment for posted journal entries.")
        if all(moves[i]["amount_residual"] <= 0 or moves[i]["move_type"] not in INVOICE_TYPES for i in move_ids):
            raise user_error("You can't register a payment because there is nothing left to pay on the selected journal items.")
        if len({moves[i]["company_id"] for i in move_ids}) > 1:
            raise user_error("You can't create payments for entries belonging to different companies.")

    @api_model
    def create(self, vals_list):
        items = create_items(vals_list)
        new_ids = []
        for vals in items:
            if not isinstance(vals, dict):
                raise type_error("create() values must be dicts")
            self._check_fields(vals, for_create=True)
            move_ids = self._invoices_from_context()
            self._check_payable(move_ids)
            moves = [self.reg.tables["account.move"][i] for i in move_ids]
            first = moves[0]
            company_id = first["company_id"]
            banks = sorted((j for j in self.reg.tables["account.journal"].values()
                            if j["company_id"] == company_id and j["type"] in ("bank", "cash")),
                           key=lambda j: (j["type"] != "bank", j.get("sequence") or 0, j["id"]))
            outbound = first["move_type"] in ("out_refund", "in_invoice", "in_receipt")
            rec = {
                "amount": money(sum(m["amount_residual"] for m in moves)),
                "payment_date": _today(),
                "journal_id": banks[0]["id"] if banks else None,
                "communication": " ".join(m.get("payment_reference") or m.get("ref") or m.get("name") or "" for m in moves),
                "currency_id": first["currency_id"], "partner_id": first.get("commercial_partner_id"),
                "company_id": company_id, "payment_type": "outbound" if outbound else "inbound",
                "group_payment": False, "can_edit_wizard": True,
                "line_ids": [i for m in moves for i in self.reg.children[("account.move.line", "move_id")].get(m["id"], [])
                             if self.reg.tables["account.move.line"][i].get("display_type") == "payment_term"],
                "_move_ids": move_ids, "_residual": money(sum(m["amount_residual"] for m in moves)),
            }
            for fname, value in vals.items():
                f = self.mdef.fields[fname]
                if f.store:
                    rec[fname] = self._convert(fname, value)
            journal = self.reg.tables["account.journal"].get(rec.get("journal_id")) or {}
            if "currency_id" not in vals and journal.get("currency_id"):
                # Odoo's _compute_currency_id: the journal's currency, else the invoices' (assumption from its code:
                # the recordings name currency_id or use a journal in the invoice's currency)
                rec["currency_id"] = journal["currency_id"]
            if rec.get("amount") is not None and rec["amount"] < 0:
                raise validation_error("The payment amount cannot be negative.")
            if rec.get("journal_id"):
                self.reg.check_company(self.env, "account.payment.register", None, company_id,
                                       [("journal_id", "account.journal", [rec["journal_id"]])])
            if not rec.get("payment_method_line_id") and rec.get("journal_id"):
                rec["payment_method_line_id"] = next(
                    (m["id"] for m in sorted(self.reg.tables["account.payment.method.line"].values(), key=lambda m: m["id"])
                     if m["journal_id"] == rec["journal_id"] and m["payment_type"] == rec["payment_type"]), None)
            new_ids.append(self.reg.insert(self._name, rec))
        return self.browse(new_ids)

    @public
    def action_create_payments(self):
        self._ensure_exist()
        payment_ids = []
        for wid in self.ids:
            wizard = self.table[wid]
            move_ids = wizard["_move_ids"]
            self._check_payable(move_ids)
            amount = money(wizard["amount"] or 0.0)
            residual = money(sum(self.reg.tables["account.move"][i]["amount_residual"] for i in move_ids))
            writeoff = exchange = None
            if wizard.get("payment_difference_handling") == "reconcile" and amount != residual:
                if not wizard.get("writeoff_account_id"):
                    raise user_error("You must specify a Difference Account.")  # assumption: wording not recorded
                difference = money(residual - amount)
                company = self.reg.tables["res.company"][wizard["company_id"]]
                source_currency = self.reg.tables["account.move"][move_ids[0]]["currency_id"]
                if (wizard.get("currency_id") != source_currency and wizard["writeoff_account_id"] in (
                        company.get("income_currency_exchange_account_id"), company.get("expense_currency_exchange_account_id"))):
                    # Odoo's writeoff_is_exchange_account: the rest (or the excess) is an exchange difference entry,
                    # no third line (recorded: books/*/fx_register_create to fx_exchange_move_lines, gain_*)
                    exchange = difference
                else:
                    writeoff = (wizard["writeoff_account_id"], wizard.get("writeoff_label") or "Write-Off", difference)
            payment_ids.append(register_payment(self.reg, self.env, move_ids, amount,
                                                wizard["payment_date"], wizard["journal_id"], wizard.get("communication"),
                                                wizard.get("payment_method_line_id"), writeoff=writeoff,
                                                currency_id=wizard.get("currency_id"), exchange=exchange))
        action = {"name": "Payments", "type": "ir.actions.act_window", "res_model": "account.payment",
                  "context": {"create": False}}
        if len(payment_ids) == 1:
            action.update({"view_mode": "form", "res_id": payment_ids[0]})
        else:
            action.update({"view_mode": "tree,form" if self.profile.major == 17 else "list,form",
                           "domain": [["id", "in", payment_ids]]})
        return action


class AccountPayment(BaseModel):
    @api_model
    def create(self, vals_list):
        items = create_items(vals_list)
        prepared = []
        for vals in items:
            vals = dict(vals)
            if "journal_id" not in vals:
                banks = sorted((j for j in self.reg.tables["account.journal"].values()
                                if j["company_id"] == self.env.company_id and j["type"] == "bank"), key=lambda j: j["id"])
                if banks:
                    vals["journal_id"] = banks[0]["id"]
            rec = self._prepare_create(vals)
            journal = self.reg.tables["account.journal"].get(rec.get("journal_id"))
            rec["company_id"] = journal["company_id"] if journal else self.env.company_id
            rec.setdefault("currency_id", None)
            rec["currency_id"] = rec["currency_id"] or self.reg.tables["res.company"][rec["company_id"]]["currency_id"]
            if rec.get("partner_id"):
                self.reg.check_company(self.env, "account.payment", None, rec["company_id"],
                                       [("partner_id", "res.partner", [rec["partner_id"]])])
            prepared.append(rec)
        new_ids = [self.reg.insert(self._name, rec) for rec in prepared]
        self._after_create_access(new_ids)
        return self.browse(new_ids)

    @public
    def action_post(self):
        self._ensure_exist()
        for pid in self.ids:
            payment = self.table[pid]
            if payment["state"] != "draft":
                raise user_error("Only a draft payment can be posted.")
            self._post_one(pid)
        return False

    def _post_one(self, pid):
        """The payment's journal entry: its money on the method line's payment_account_id or Outstanding
        Receipts/Payments, the counterpart on the receivable (payable) account; 19's state 'paid' when the money
        sits on a bank/cash account, else 'in_process' (as after the wizard; the entry of a payment made this way
        is an assumption: the recordings read its state only)."""
        reg = self.reg
        payment = self.table[pid]
        journal = reg.tables["account.journal"][payment["journal_id"]]
        company_id = payment["company_id"]
        date = payment["date"] or _today()
        name = next_sequence_name(reg, journal["id"], "P" + journal["code"], dt.date.fromisoformat(date), False)
        outbound = payment["payment_type"] == "outbound"
        method_line_id = payment.get("payment_method_line_id") or next(
            (m["id"] for m in sorted(reg.tables["account.payment.method.line"].values(), key=lambda m: m["id"])
             if m["journal_id"] == journal["id"] and m["payment_type"] == payment["payment_type"]), None)
        liquidity = outstanding_account(reg, company_id, journal["id"], method_line_id, outbound)
        counterpart = reg.accounts.get((company_id, "receivable" if payment["partner_type"] == "customer" else "payable"))
        partner_id = payment.get("partner_id")
        memo = payment.get(self.profile.payment_ref_field)
        entry_id = reg.insert("account.move", {
            "name": name, "move_type": "entry", "state": "posted", "posted_before": True, "journal_id": journal["id"],
            "company_id": company_id, "currency_id": payment["currency_id"], "partner_id": partner_id,
            "commercial_partner_id": partner_id, "date": date, "ref": memo, "payment_state": "not_paid", "_paid": 0.0})
        label = payment_line_label(reg, payment["payment_type"], payment["partner_type"], payment["amount"],
                                   payment["currency_id"], partner_id, date, memo, method_line_id)
        sign = -1.0 if outbound else 1.0
        common = {"partner_id": partner_id, "company_id": company_id, "currency_id": payment["currency_id"], "date": date,
                  "name": label}
        insert_entry_line(reg, entry_id, dict(common, account_id=liquidity, balance=sign * payment["amount"]))
        insert_entry_line(reg, entry_id, dict(common, account_id=counterpart, balance=-sign * payment["amount"]))
        AccountMove(reg, self.env, "account.move")._recompute_entry(entry_id)
        changes = {"name": name, "move_id": entry_id, "outstanding_account_id": liquidity,
                   "payment_method_line_id": method_line_id, "is_matched": liquidity == journal.get("default_account_id")}
        changes["state"] = "posted" if self.profile.major == 17 else payment_state_19(reg, dict(payment, **changes))
        reg.update(self._name, pid, changes)


class AccountMoveReversal(BaseModel):
    """The credit note wizard: create it with context active_model/active_ids, then refund_moves()."""

    @api_model
    def create(self, vals_list):
        items = create_items(vals_list)
        new_ids = []
        for vals in items:
            rec = self._prepare_create(vals)  # journal_id is required (recorded: calls/*/79_refund_wizard_create_without_journal)
            ctx = self.env.context
            move_ids = as_ids(ctx.get("active_ids") or []) if ctx.get("active_model") == "account.move" else []
            moves = self.reg.tables["account.move"]
            missing = [i for i in move_ids if i not in moves]
            if missing:
                raise missing_error("account.move", missing, self.env.uid)
            self.reg.check_access(self.env, "account.move", move_ids, "read")
            if not move_ids:
                raise user_error("No journal entry to reverse: open the wizard with active_model 'account.move' and "
                                 "active_ids.")  # assumption: wording not recorded
            rec["move_ids"] = move_ids
            rec["company_id"] = moves[move_ids[0]]["company_id"]
            self.reg.check_company(self.env, self._name, None, rec["company_id"],
                                   [("journal_id", "account.journal", [rec["journal_id"]])])
            new_ids.append(self.reg.insert(self._name, rec))
        return self.browse(new_ids)

    @public
    def refund_moves(self):
        """Draft credit notes reversing the moves; the action opens the (single) credit note (recorded: 82_*)."""
        self._ensure_exist()
        helper = AccountMove(self.reg, self.env, "account.move")
        lines = self.reg.tables["account.move.line"]
        refund_ids, refund_type = [], "out_refund"
        for wid in self.ids:
            wizard = self.table[wid]
            for move_id in wizard["move_ids"]:
                move = self.reg.tables["account.move"][move_id]
                if move["state"] != "posted":
                    raise user_error("You can only reverse posted moves.")  # assumption: wording not recorded
                refund_type = {"out_invoice": "out_refund", "in_invoice": "in_refund", "out_refund": "out_invoice",
                               "in_refund": "in_invoice"}.get(move["move_type"], "entry")
                cmds = [[0, 0, {"name": lines[i].get("name"), "product_id": lines[i].get("product_id"),
                                "quantity": lines[i]["quantity"], "price_unit": lines[i]["price_unit"],
                                "discount": lines[i].get("discount") or 0.0, "account_id": lines[i].get("account_id"),
                                "tax_ids": [[6, 0, lines[i].get("tax_ids") or []]]}]
                        for i in sorted(self.reg.children[("account.move.line", "move_id")].get(move_id, []))
                        if lines[i].get("display_type") == "product"]
                reason = wizard.get("reason")
                ref = f"Reversal of: {move['name']}, {reason}" if reason else f"Reversal of: {move['name']}"
                refund_ids.append(helper.create({
                    "move_type": refund_type, "partner_id": move.get("partner_id"), "journal_id": wizard["journal_id"],
                    "currency_id": move["currency_id"], "ref": ref, "reversed_entry_id": move_id,
                    "invoice_date": wizard["date"], "date": wizard["date"], "invoice_date_due": wizard["date"],
                    "invoice_line_ids": cmds}).ids[0])
        action = {"name": "Reverse Moves", "type": "ir.actions.act_window", "res_model": "account.move"}
        if len(refund_ids) == 1:
            action.update({"view_mode": "form", "res_id": refund_ids[0]})
        else:  # assumption: several credit notes open as a list
            action.update({"view_mode": "tree,form" if self.profile.major == 17 else "list,form",
                           "domain": [["id", "in", refund_ids]]})
        action["context"] = {"default_move_type": refund_type}
        return action


def sale_invoice_status(reg, order):
    """sale.order invoice_status: 'no' unless confirmed; a confirmed order's lines are all still to invoice
    (products invoiced on ordered quantities, Odoo's default; the fake invoices no order): 'to invoice', or
    'invoiced' when no line has a quantity (Odoo's _compute_invoice_status; assumption, not recorded)."""
    if order.get("state") != "sale":
        return "no"
    lines = reg.tables["sale.order.line"]
    qtys = [lines[i].get("product_uom_qty") or 0.0 for i in reg.children[("sale.order.line", "order_id")].get(order["id"], [])
            if not lines[i].get("display_type")]
    return "to invoice" if any(q for q in qtys) else ("invoiced" if qtys else "no")


# sale.order.line fields a locked order protects (Odoo's _get_protected_fields)
SALE_LOCKED_FIELDS = ("product_id", "name", "price_unit", "product_uom", "product_uom_id", "product_uom_qty", "tax_id",
                      "tax_ids", "analytic_distribution", "discount")


class SaleOrderLine(BaseModel):
    """Order lines, made through sale.order's order_line commands or directly (recorded through order_line in
    calls/*/101_* to 106_*; the direct calls, the constraints and the messages are from Odoo's code)."""

    def _order_of(self, order_id):
        order = self.reg.tables["sale.order"].get(order_id)
        if order is None:
            raise missing_error("sale.order", [order_id], self.env.uid)
        return order

    def _prepare_line(self, order, vals):
        """A new line's stored values: the product's description, price, unit and taxes (those of the order's
        company) unless given, the company checks, then Odoo's constraints on name and product."""
        p = self.profile
        if not isinstance(vals, dict):
            raise type_error(f"create() values must be dicts, not {type(vals).__name__}")
        # an unknown field inside order_line is reported with 17's wording on 19 too
        # (recorded: calls/odoo19-*/101_err_sale_order_create_tax_id_field, 103_*)
        for fname in vals:
            if fname not in self.mdef.fields or fname == "id":
                raise value_error(f"Invalid field {fname!r} on model {self._name!r}")
        line = {"order_id": order["id"], "company_id": order["company_id"], "currency_id": order["currency_id"]}
        merged = {k: v for k, v in self._defaults(vals).items()
                  if k not in ("name", "price_unit", p.sale_tax_field, p.sale_uom_field)}  # computed from the product
        merged.update(vals)
        merged.pop("order_id", None)
        display = merged.get("display_type") or None
        product_id = merged.get("product_id")
        if product_id and not display:
            product = self.reg.tables["product.product"].get(self._convert("product_id", product_id))
            line["name"] = self.reg.display_name("product.product", product["id"]) + (
                "\n" + product["description_sale"] if product.get("description_sale") else "")
            line["price_unit"] = product.get("list_price") or 0.0
            line[p.sale_uom_field] = product.get("uom_id")
            line[p.sale_tax_field] = [t for t in product.get("taxes_id") or []
                                      if self.reg.tables["account.tax"][t]["company_id"] == order["company_id"]]
        if display:
            merged["product_uom_qty"] = 0.0  # Odoo's create: a section or note has no quantity
        for fname, value in merged.items():
            f = self.mdef.fields[fname]
            if not f.store or f.readonly:
                continue
            line[fname] = self._m2m(fname, value, []) if f.type == "many2many" else self._convert(fname, value)
        if "price_unit" not in merged and line.get("product_id"):
            line["_auto_price"] = line.get("price_unit")  # the product's price: recomputed if the product changes
        if line.get("product_id") and not line.get(p.sale_uom_field):
            line[p.sale_uom_field] = self.reg.tables["product.product"][line["product_id"]].get("uom_id")
        self._check_line(order, line)
        return line

    def _check_line(self, order, line):
        p = self.profile
        refs = [(p.sale_tax_field, "account.tax", line.get(p.sale_tax_field) or []),
                ("product_id", "product.product", [line["product_id"]] if line.get("product_id") else [])]
        self.reg.check_company(self.env, self._name, None, order["company_id"], refs, label=self._label(order, line))
        if not line.get("name"):
            raise validation_error(p.required_missing("Sales Order Line", self._name, "Description", "name"))
        if line.get("display_type"):
            if line.get("product_id") or line.get("price_unit") or line.get("product_uom_qty"):
                raise validation_error("The operation cannot be completed: Forbidden values on non-accountable sale order line")
        elif not line.get("product_id"):
            # the CHECK constraint accountable_required_fields (Odoo's code; assumption, not recorded)
            raise validation_error("The operation cannot be completed: Missing required fields on accountable sale order line.")

    def _label(self, order, line):
        product = self.reg.tables["product.product"].get(line.get("product_id")) or {}
        text = f"{order.get('name')} - {(line.get('name') or '').split(chr(10))[0] or product.get('name') or ''}"
        partner = self.reg.tables["res.partner"].get(order.get("partner_id"))
        if partner:
            commercial = self.reg.tables["res.partner"][self.reg.commercial_partner(partner)]
            text += f" ({commercial.get('ref') or commercial.get('name')})"
        return text

    def _insert_lines(self, order_id, items):
        order = self._order_of(order_id)
        return [self.reg.insert(self._name, self._prepare_line(order, vals)) for vals in items]

    @api_model
    def create(self, vals_list):
        items = create_items(vals_list)
        new_ids, orders = [], []
        for vals in items:
            if not isinstance(vals, dict):
                raise type_error("create() values must be dicts")
            self._check_fields(vals, for_create=True)
            order_id = vals.get("order_id") or self.env.context.get("default_order_id")
            if not order_id:
                raise validation_error(self.profile.required_missing("Sales Order Line", self._name, "Order Reference", "order_id"))
            order_id = self._convert("order_id", order_id)
            self.reg.check_access(self.env, "sale.order", [order_id], "write")
            new_ids += self._insert_lines(order_id, [vals])
            orders.append(order_id)
        self._after_create_access(new_ids)
        for order_id in dict.fromkeys(orders):
            sale_recompute(self.reg, order_id)
        return self.browse(new_ids)

    @public
    def write(self, vals):
        if not isinstance(vals, dict):
            raise type_error("write() values must be a dict")
        self._check_fields(vals, for_create=False)
        self._ensure_exist()
        self.reg.check_access(self.env, self._name, self.ids, "write")
        orders = self.reg.tables["sale.order"]
        for lid in self.ids:
            line = self.table[lid]
            order = orders[line["order_id"]]
            if "display_type" in vals and (vals["display_type"] or None) != line.get("display_type"):
                raise user_error("You cannot change the type of a sale order line. Instead you should delete the current "
                                 "line and create a new line of the proper type.")
            if "product_id" in vals and vals["product_id"] != line.get("product_id") and (
                    order["state"] == "cancel" or order["state"] == "sale" and order.get("locked")):
                raise user_error("You cannot modify the product of this order line.")
            if order.get("locked") and set(vals) & set(SALE_LOCKED_FIELDS):
                names = sorted(self.mdef.fields[f].string for f in set(vals) & set(SALE_LOCKED_FIELDS) if f in self.mdef.fields)
                raise user_error("It is forbidden to modify the following fields in a locked order:\n" + "\n".join(names))
        if "order_id" in vals:
            self._order_of(self._convert("order_id", vals["order_id"]))
        before = {lid: self.table[lid]["order_id"] for lid in self.ids}
        before_lines = {lid: dict(self.table[lid]) for lid in self.ids}
        super().write(vals)
        p = self.profile
        for lid in self.ids:
            line = self.table[lid]
            order = orders[line["order_id"]]
            changes = {"company_id": order["company_id"], "currency_id": order["currency_id"]}
            product = self.reg.tables["product.product"].get(line.get("product_id"))
            if "product_id" in vals and product and before_lines[lid].get("product_id") != product["id"]:
                # a new product: its description, unit and taxes, and its price unless the old one was set by hand
                # (Odoo's computes on product_id; assumption, not recorded)
                if p.sale_uom_field not in vals:
                    changes[p.sale_uom_field] = product.get("uom_id")
                if "name" not in vals:
                    changes["name"] = self.reg.display_name("product.product", product["id"]) + (
                        "\n" + product["description_sale"] if product.get("description_sale") else "")
                if p.sale_tax_field not in vals:
                    changes[p.sale_tax_field] = [t for t in product.get("taxes_id") or []
                                                 if self.reg.tables["account.tax"][t]["company_id"] == order["company_id"]]
                if "price_unit" not in vals and before_lines[lid].get("price_unit") == before_lines[lid].get("_auto_price"):
                    changes["price_unit"] = changes["_auto_price"] = product.get("list_price") or 0.0
            self.reg.update(self._name, lid, changes, touch=False)
            self._check_line(order, self.table[lid])
        for order_id in dict.fromkeys(list(before.values()) + [self.table[lid]["order_id"] for lid in self.ids]):
            sale_recompute(self.reg, order_id)
        return True

    @public
    def write_v17(self, values):
        """17's signature: SaleOrderLine.write(self, values) (19 renamed it vals; from Odoo's code)."""
        return self.write(values)

    write_v17.__qualname__ = "SaleOrderLine.write"

    def _delete(self, ids):
        orders = self.reg.tables["sale.order"]
        for lid in ids:
            line = self.table[lid]
            if orders[line["order_id"]]["state"] == "sale" and not line.get("display_type"):
                raise user_error("Once a sales order is confirmed, you can't remove one of its lines (we need to track if "
                                 "something gets invoiced or delivered).\n                Set the quantity to 0 instead.")
        order_ids = list(dict.fromkeys(self.table[lid]["order_id"] for lid in ids))
        for lid in ids:
            self.reg.delete(self._name, lid)
        for order_id in order_ids:
            sale_recompute(self.reg, order_id)

    @public
    def unlink(self):
        ids = self._existing()
        self.reg.check_access(self.env, self._name, ids, "unlink")
        self._delete(ids)
        return True

    def apply_commands(self, order_id, cmds):
        """order_line commands on an order: [0, 0, vals] create, [1, id, vals] update, [2, id] delete,
        [3, id] unlink (a line cannot live without its order: deleted), [4, id] link, [5] clear, [6, 0, ids] set;
        a bare id links (Odoo's one2many commands)."""
        if cmds in (False, None):
            return
        if not isinstance(cmds, list):
            raise value_error(f"Wrong value for sale.order.order_line: {cmds!r}")
        for cmd in cmds:
            if isinstance(cmd, int) and not isinstance(cmd, bool):
                cmd = [4, cmd]
            if not isinstance(cmd, (list, tuple)) or not cmd or cmd[0] not in (0, 1, 2, 3, 4, 5, 6):
                raise value_error(f"Wrong value for sale.order.order_line: {cmd!r}")
            code = cmd[0]
            arg = cmd[1] if len(cmd) > 1 else 0
            current = list(self.reg.children[("sale.order.line", "order_id")].get(order_id, []))
            if code == 0:
                if len(cmd) < 3 or not isinstance(cmd[2], dict):
                    raise value_error(f"Wrong value for sale.order.order_line: {cmd!r}")
                self._insert_lines(order_id, [cmd[2]])
            elif code == 1:
                if len(cmd) < 3 or not isinstance(cmd[2], dict):
                    raise value_error(f"Wrong value for sale.order.order_line: {cmd!r}")
                self.browse(arg).write(cmd[2])
            elif code in (2, 3):
                self.browse(arg)._ensure_exist()
                self._delete([arg])
            elif code == 4:
                self.browse(arg).write({"order_id": order_id})
            elif code == 5:
                self._delete(current)
            else:
                keep = as_ids(cmd[2] if len(cmd) > 2 else [])
                self._delete([i for i in current if i not in keep])
                for lid in keep:
                    if lid not in current:
                        self.browse(lid).write({"order_id": order_id})
        sale_recompute(self.reg, order_id)


def sale_recompute(reg, order_id):
    """Each line's subtotal, tax and total, rounded per line (Odoo's default 'round_per_line'), and the order's sums:
    subtotal = quantity × price × (1 − discount/100); a percent tax on the subtotal, a fixed one per unit
    (recorded totals: calls/*/102_*, 106_*; taxes included in the price are not faked)."""
    order = reg.tables["sale.order"].get(order_id)
    if order is None:
        return
    lines = reg.tables["sale.order.line"]
    tax_field = reg.profile.sale_tax_field
    untaxed = tax_total = 0.0
    for line_id in reg.children[("sale.order.line", "order_id")].get(order_id, []):
        line = lines[line_id]
        if line.get("display_type"):
            continue
        qty = line.get("product_uom_qty") or 0.0
        subtotal = money(qty * (line.get("price_unit") or 0.0) * (1 - (line.get("discount") or 0.0) / 100.0))
        tax = 0.0
        for tax_id in line.get(tax_field) or []:
            t = reg.tables["account.tax"][tax_id]
            tax += money(subtotal * t["amount"] / 100.0) if t["amount_type"] == "percent" else money(t["amount"] * qty)
        tax = money(tax)
        reg.update("sale.order.line", line_id, {"price_subtotal": subtotal, "price_tax": tax,
                                                "price_total": money(subtotal + tax)}, touch=False)
        untaxed += subtotal
        tax_total += tax
    reg.update("sale.order", order_id, {"amount_untaxed": money(untaxed), "amount_tax": money(tax_total),
                                        "amount_total": money(untaxed + tax_total)}, touch=False)


class SaleOrder(BaseModel):
    """Quotations and sales orders (sale_management), as recorded in calls/*/100_* to 114_*; what the recordings do
    not show follows Odoo's code (see README.md, assumptions)."""

    def _lines(self):
        return SaleOrderLine(self.reg, self.env, "sale.order.line")

    @api_model
    def create(self, vals_list):
        items = create_items(vals_list)
        new_ids = []
        for vals in items:
            if not isinstance(vals, dict):
                raise type_error("create() values must be dicts")
            self._check_fields(vals, for_create=True)
            vals = dict(vals)
            line_cmds = vals.pop("order_line", None)
            if vals.get("name", "New") == "New":
                # the number is drawn first and stays used when the call fails (recorded: S00010 in odoo19-json2)
                number = self.reg.sequences.get(("sale.order",), self.reg.sequence_floor.get(("sale.order",), 0)) + 1
                self.reg.sequences[("sale.order",)] = number
                vals["name"] = f"S{number:05d}"  # one sequence for every company (recorded: S00005, then S00006 in EU Co)
            vals.setdefault("company_id", self.env.company_id)
            vals.setdefault("date_order", self.reg.now().strftime(DT_FORMAT))
            self._compute_from_partner(vals)
            rec = self._prepare_create(vals)
            if rec["company_id"] not in self.env.company_ids:
                raise self.reg.rule_error(self.env, "res.company", [rec["company_id"]], "read")
            rec["currency_id"] = rec.get("currency_id") or self._currency(rec)
            self._check_order_company(rec, rec["name"])
            order_id = self.reg.insert("sale.order", rec)
            self._lines().apply_commands(order_id, line_cmds)
            new_ids.append(order_id)
        return self.browse(new_ids)

    def _compute_from_partner(self, vals):
        """Invoice and delivery addresses from the customer (Odoo's address_get), unless given."""
        partner = vals.get("partner_id")
        if isinstance(partner, int) and not isinstance(partner, bool) and partner in self.reg.tables["res.partner"]:
            for fname, adr_type in (("partner_invoice_id", "invoice"), ("partner_shipping_id", "delivery")):
                if not vals.get(fname):
                    vals[fname] = self.reg.address_get(partner, adr_type)

    def _currency(self, rec):
        """Odoo's _compute_currency_id: the pricelist's currency, else the company's (recorded: an order of EU Co is in
        EUR without a pricelist, calls/*/106_sale_order_eu_read_draft)."""
        pricelist = self.reg.tables["product.pricelist"].get(rec.get("pricelist_id"))
        return (pricelist or {}).get("currency_id") or self.reg.tables["res.company"][rec["company_id"]]["currency_id"]

    def _check_order_company(self, rec, label):
        refs = [(fname, comodel, [rec[fname]] if rec.get(fname) else []) for fname, comodel in (
            ("partner_id", "res.partner"), ("partner_invoice_id", "res.partner"), ("partner_shipping_id", "res.partner"),
            ("pricelist_id", "product.pricelist"))]
        self.reg.check_company(self.env, "sale.order", None, rec["company_id"], refs, label=label)

    @public
    def write(self, vals):
        if not isinstance(vals, dict):
            raise type_error("write() values must be a dict")
        self._check_fields(vals, for_create=False)
        self._ensure_exist()
        self.reg.check_access(self.env, self._name, self.ids, "write")
        if "pricelist_id" in vals and any(self.table[i]["state"] == "sale" for i in self.ids):
            raise user_error("You cannot change the pricelist of a confirmed order !")
        vals = dict(vals)
        line_cmds = vals.pop("order_line", None)
        super().write(vals)
        for oid in self.ids:
            rec = dict(self.table[oid])
            changes = {}
            if "partner_id" in vals:
                for fname, adr_type in (("partner_invoice_id", "invoice"), ("partner_shipping_id", "delivery")):
                    if fname not in vals and rec.get("partner_id"):
                        changes[fname] = self.reg.address_get(rec["partner_id"], adr_type)
            if ("pricelist_id" in vals or "company_id" in vals) and "currency_id" not in vals:
                changes["currency_id"] = self._currency(rec)
            if changes:
                self.reg.update("sale.order", oid, changes, touch=False)
            rec = self.table[oid]
            self._check_order_company(rec, rec["name"])
            for lid in self.reg.children[("sale.order.line", "order_id")].get(oid, []):
                self.reg.update("sale.order.line", lid, {"company_id": rec["company_id"], "currency_id": rec["currency_id"]},
                                touch=False)
                if "company_id" in vals:
                    self._lines()._check_line(rec, self.reg.tables["sale.order.line"][lid])
            self._lines().apply_commands(oid, line_cmds)
        return True

    @public
    def unlink(self):
        ids = self._existing()
        self.reg.check_access(self.env, self._name, ids, "unlink")
        for oid in ids:
            if self.table[oid]["state"] not in ("draft", "cancel"):
                raise user_error("You can not delete a sent quotation or a confirmed sales order. You must first cancel it.")
        for oid in ids:
            lines = list(self.reg.children[("sale.order.line", "order_id")].get(oid, []))
            for lid in lines:  # ondelete cascade
                self.reg.delete("sale.order.line", lid)
            self.reg.delete(self._name, oid)
        return True

    @public
    def action_confirm(self):
        """draft/sent → sale, date_order now; True (recorded: calls/*/103_*, 104_*)."""
        self._ensure_exist()
        self.reg.check_access(self.env, self._name, self.ids, "write")
        lines = self.reg.tables["sale.order.line"]
        for oid in self.ids:
            if self.table[oid]["state"] not in ("draft", "sent"):
                raise user_error(self.profile.order_not_confirmable([self.table[i]["name"] for i in self.ids]))
            if self.profile.major == 19 and any(
                    not lines[lid].get("display_type") and not lines[lid].get("product_id")
                    for lid in self.reg.children[("sale.order.line", "order_id")].get(oid, [])):
                raise user_error("A line on these orders missing a product, you cannot confirm it.")
        for oid in self.ids:
            # Odoo's fields.Datetime.now(): whole seconds
            self.reg.update("sale.order", oid, {"state": "sale", "date_order": self.reg.now().replace(microsecond=0)})
        return True

    @public
    def action_cancel(self):
        """Draft → cancel (True). A confirmed order: 17 answers the cancel wizard's window action and the order
        stays 'sale' unless context disable_cancel_warning; 19 cancels it (recorded: calls/*/107_* to 112_*).
        A locked order is refused first (Odoo's code)."""
        self._ensure_exist()
        self.reg.check_access(self.env, self._name, self.ids, "write")
        if any(self.table[oid].get("locked") for oid in self.ids):
            raise user_error("You cannot cancel a locked order. Please unlock it first.")
        if (self.profile.major == 17 and not self.env.context.get("disable_cancel_warning")
                and any(self.table[oid]["state"] != "draft" for oid in self.ids)):
            if len(self.ids) != 1:  # Odoo's ensure_one (from its code; not recorded)
                raise value_error(f"Expected singleton: sale.order{tuple(self.ids)!r}")
            type_name = "Sales Order" if self.table[self.ids[0]]["state"] == "sale" else "Quotation"
            return {"name": f"Cancel {type_name}", "view_mode": "form", "res_model": "sale.order.cancel",
                    "view_id": SALE_CANCEL_VIEW_ID, "type": "ir.actions.act_window",
                    "context": {"default_template_id": SALE_CANCEL_TEMPLATE_ID, "default_order_id": self.ids[0],
                                "mark_so_as_canceled": True,
                                "default_email_layout_xmlid": "mail.mail_notification_layout_with_responsible_signature",
                                "model_description": type_name},
                    "target": "new"}
        for oid in self.ids:
            self.reg.update("sale.order", oid, {"state": "cancel"})
        return True

    @public
    def action_draft(self):
        """A cancelled or sent order back to quotation; True (Odoo's code; not recorded)."""
        self._ensure_exist()
        self.reg.check_access(self.env, self._name, self.ids, "write")
        for oid in self.ids:
            if self.table[oid]["state"] in ("cancel", "sent"):
                self.reg.update("sale.order", oid, {"state": "draft"})
        return True

    @public
    def action_quotation_sent(self):
        """A draft quotation marked as sent; None (Odoo's code; not recorded)."""
        self._ensure_exist()
        self.reg.check_access(self.env, self._name, self.ids, "write")
        if any(self.table[oid]["state"] != "draft" for oid in self.ids):
            raise user_error("Only draft orders can be marked as sent directly.")
        for oid in self.ids:
            self.reg.update("sale.order", oid, {"state": "sent"})
        return None

    @public
    def action_lock(self):
        self._ensure_exist()
        self.reg.check_access(self.env, self._name, self.ids, "write")
        for oid in self.ids:
            self.reg.update("sale.order", oid, {"locked": True})
        return None

    @public
    def action_unlock(self):
        self._ensure_exist()
        self.reg.check_access(self.env, self._name, self.ids, "write")
        for oid in self.ids:
            self.reg.update("sale.order", oid, {"locked": False})
        return None


# ids of the recorded 17 database's cancel wizard view and mail template (they vary per database)
SALE_CANCEL_VIEW_ID = 868
SALE_CANCEL_TEMPLATE_ID = 13


MODEL_CLASSES = {
    "res.users": ResUsers,
    "product.template": ProductTemplate,
    "account.move.reversal": AccountMoveReversal,
    "sale.order": SaleOrder,
    "sale.order.line": SaleOrderLine,
    "res.partner": ResPartner,
    "product.product": ProductProduct,
    "ir.model.data": IrModelData,
    "res.users.apikeys.description": ApiKeyDescription,
    "account.move": AccountMove,
    "account.payment.register": AccountPaymentRegister,
    "account.payment": AccountPayment,
    "account.journal": AccountJournal,
    "account.payment.method.line": AccountPaymentMethodLine,
    "account.bank.statement.line": AccountBankStatementLine,
    "account.move.line": AccountMoveLine,
}


# The accounts seeded per company: (kind, code, name, type, reconcile). A payment's entry debits Outstanding
# Receipts (credits Outstanding Payments) unless its method line names another account; Bank Fees takes a
# processor's fee; the exchange accounts and Liquidity Transfer are the company's (recorded in calls/ and books/).
ACCOUNT_KINDS = (
    ("receivable", "121000", "Account Receivable", "asset_receivable", True),
    ("payable", "211000", "Account Payable", "liability_payable", True),
    ("income", "400000", "Product Sales", "income", False),
    ("expense", "600000", "Expenses", "expense", False),
    ("bank", "101401", "Bank", "asset_cash", False),
    ("tax", "251000", "Tax Received", "liability_current", False),
    ("outstanding_in", "101403", "Outstanding Receipts", "asset_current", True),
    ("outstanding_out", "101404", "Outstanding Payments", "asset_current", True),
    ("fees", "620000", "Bank Fees", "expense", False),
    ("fx_gain", "441000", "Foreign Exchange Gain", "income", False),
    ("fx_loss", "641000", "Foreign Exchange Loss", "expense", False),
    ("transfer", "101701", "Liquidity Transfer", "asset_current", True),
    ("suspense", "101402", "Bank Suspense Account", "asset_current", False),
    ("cash", "101501", "Cash", "asset_cash", False),  # 17's Cash journal only
)


def seed(reg: Registry):
    """The freshly initialised database of the recordings: 'My Company' (US, USD, generic chart of
    accounts), admin/admin; plus a second company (EUR) unless --companies 1.

    --seed calls17 / calls19: the database of recordings/calls/odoo17-* / odoo19-* instead, with the ids
    those recordings use for what existed before them: company "EU Co" (2 on 17, 3 on 19, EUR = 126),
    15 % sale taxes 1 and 3 (17) / 5 (19), bank-fees accounts 620000 33/80 (17) / 36/87 (19),
    outstanding receipts/payments, receivables, journals (sales 1 and 8/7, bank 6 and 13/12)."""
    p = reg.profile
    T = reg.insert
    epoch = reg.now()
    calls = reg.seed_name.startswith("calls")
    eu_id = (2 if p.major == 17 else 3) if calls else 2
    eur_id = 126 if calls else 125
    # currencies (ids as in a standard database: USD 1 as recorded, EUR 125, GBP 147; 126 in calls/)
    T("res.currency", {"name": "USD", "full_name": "United States dollar", "symbol": "$", "position": "before", "active": True}, 1)
    T("res.currency", {"name": "EUR", "full_name": "Euro", "symbol": "\u20ac", "position": "after",
                       "active": reg.n_companies > 1 or calls}, eur_id)
    T("res.currency", {"name": "GBP", "full_name": "Pound sterling", "symbol": "\u00a3", "position": "before", "active": False}, 147)
    reg.next_ids["res.currency"] = 200
    for cid, (name, code, cur) in {233: ("United States", "US", 1), 20: ("Belgium", "BE", eur_id), 75: ("France", "FR", eur_id),
                                   57: ("Germany", "DE", eur_id), 231: ("United Kingdom", "GB", 147), 166: ("Netherlands", "NL", eur_id),
                                   38: ("Canada", "CA", None)}.items():
        T("res.country", {"name": name, "code": code, "currency_id": cur}, cid)
    # partners of a fresh database: 17 has one more template partner than 19
    T("res.partner", {"name": "My Company", "is_company": True, "country_id": 233, "email": False}, 1)
    T("res.partner", {"name": "OdooBot", "active": False}, 2)
    T("res.partner", {"name": "Administrator", "email": "admin@example.com"}, 3)
    T("res.partner", {"name": "Public user", "active": False}, 4)
    T("res.partner", {"name": "Default User Template", "active": False}, 5)
    if p.major == 17:
        T("res.partner", {"name": "Portal User Template", "active": False}, 6)
    T("res.company", {"name": "My Company", "partner_id": 1, "currency_id": 1, "country_id": 233,
                      "chart_template": "generic_coa", "sequence": 0, "active": True}, 1)
    T("uom.uom", {"name": "Units"}, 1)
    T("product.category", {"name": "All"}, 1)
    reg.accounts = {}

    def accounts_for(company_id, *ids):
        """The company's accounts, ids in ACCOUNT_KINDS order; its exchange gain/loss and liquidity transfer
        accounts go on the company (recorded: books/*/company_read_accounts)."""
        for aid, (kind, code, name, atype, reconcile) in zip(ids, ACCOUNT_KINDS):
            if kind == "cash" and not p.has_cash_journal:
                continue
            vals = {"name": name, "code": code, "account_type": atype, "reconcile": reconcile}
            vals.update({"company_id": company_id} if p.major == 17 else {"company_ids": [company_id]})
            T("account.account", vals, aid)
            reg.accounts[(company_id, kind)] = aid
        reg.update("res.company", company_id, {
            "income_currency_exchange_account_id": reg.accounts[(company_id, "fx_gain")],
            "expense_currency_exchange_account_id": reg.accounts[(company_id, "fx_loss")],
            "transfer_account_id": reg.accounts[(company_id, "transfer")]}, touch=False)

    # ids as in the real databases of a generic chart (recordings/calls and recordings/books; 17 / 19)
    if p.major == 17:
        accounts_for(1, 6, 14, 24, 30, 41, 19, 44, 45, 33, 25, 35, 46, 43, 42)
    else:
        accounts_for(1, 5, 15, 26, 32, 47, 21, 50, 51, 36, 27, 38, 49, 48)

    def journals_for(company_id, start):
        specs = [(p.sale_journal_name, "INV", "sale", True), (p.purchase_journal_name, "BILL", "purchase", True),
                 ("Miscellaneous Operations", "MISC", "general", False), ("Exchange Difference", "EXCH", "general", False),
                 ("Cash Basis Taxes", "CABA", "general", False), ("Bank", "BNK1", "bank", False)]
        if p.has_cash_journal:
            specs.append(("Cash", "CSH1", "cash", False))
        ids = {}
        for offset, (name, code, jtype, refund_seq) in enumerate(specs):
            vals = {"name": name, "code": code, "type": jtype, "company_id": company_id, "refund_sequence": refund_seq,
                    "sequence": 5 + offset}
            if jtype in ("bank", "cash"):
                vals["default_account_id"] = reg.accounts[(company_id, jtype)]
                vals["suspense_account_id"] = reg.accounts[(company_id, "suspense")]
            jid = T("account.journal", vals, start + offset)
            ids[code] = jid
        reg.update("res.company", company_id, {"currency_exchange_journal_id": ids["EXCH"]}, touch=False)
        return ids

    j1 = journals_for(1, 1)
    method_id = 1

    def methods_for(journal_ids):
        nonlocal method_id
        for code in ("BNK1", "CSH1"):
            if code in journal_ids:
                for ptype in ("inbound", "outbound"):
                    T("account.payment.method.line", {"name": p.manual_method_name, "journal_id": journal_ids[code],
                                                      "payment_type": ptype}, method_id)
                    method_id += 1

    methods_for(j1)

    def taxes_for(company_id, rate, start, country, zero=True):
        sale = T("account.tax", {"name": f"{rate:g}%", "amount": float(rate), "type_tax_use": "sale", "company_id": company_id,
                                 "country_id": country, "description": f"{rate:g}%"}, start)
        purchase = T("account.tax", {"name": f"{rate:g}%", "amount": float(rate), "type_tax_use": "purchase",
                                     "company_id": company_id, "country_id": country, "description": f"{rate:g}%"}, start + 1)
        if zero:
            T("account.tax", {"name": "0% Exempt", "amount": 0.0, "type_tax_use": "sale", "company_id": company_id,
                              "country_id": country, "description": "0%"}, start + 2)
        reg.update("res.company", company_id, {"account_sale_tax_id": sale, "account_purchase_tax_id": purchase}, touch=False)
        return sale, purchase

    company_ids = [1]
    if calls:
        # the recorded databases of calls/: taxes 1-2 (company 1) and 3-4 (17) / 5-6 (19) for EU Co
        taxes_for(1, 15, 1, 233, zero=False)
        partner_eu = T("res.partner", {"name": "EU Co", "is_company": True, "country_id": 20})
        T("res.company", {"name": "EU Co", "partner_id": partner_eu, "currency_id": eur_id, "country_id": 20,
                          "chart_template": "generic_coa", "sequence": 10, "active": True}, eu_id)
        reg.update("res.partner", partner_eu, {"company_id": eu_id}, touch=False)
        if p.major == 17:
            accounts_for(eu_id, 53, 61, 71, 77, 88, 66, 91, 92, 80, 72, 82, 93, 90, 89)
            j_eu = journals_for(eu_id, 8)
            taxes_for(eu_id, 15, 3, 20, zero=False)
        else:
            accounts_for(eu_id, 56, 66, 77, 83, 98, 72, 101, 102, 87, 78, 89, 100, 99)
            j_eu = journals_for(eu_id, 7)
            taxes_for(eu_id, 15, 5, 20, zero=False)
        methods_for(j_eu)
        company_ids.append(eu_id)
        # the recorded databases had entries before: drafts are "/" on 17, numbers continue (see next_sequence_name)
        for journal in reg.tables["account.journal"].values():
            for prefix in (journal["code"], "R" + journal["code"], "P" + journal["code"]):
                reg.sequence_floor[(journal["id"], prefix)] = 1
        reg.sequence_floor[("sale.order",)] = 1
    else:
        taxes_for(1, 15, 1, 233)
    if reg.n_companies > 1 and not calls:
        # Not in the recordings: a second legal entity so multi-company rules can be exercised.
        partner2 = T("res.partner", {"name": "My Company (Europe)", "is_company": True, "country_id": 20})
        T("res.company", {"name": "My Company (Europe)", "partner_id": partner2, "currency_id": 125, "country_id": 20,
                          "chart_template": "generic_coa", "sequence": 1, "active": True}, 2)
        reg.update("res.partner", partner2, {"company_id": 2}, touch=False)
        accounts_for(2, *range(101, 115))
        j2 = journals_for(2, 101)
        methods_for(j2)
        taxes_for(2, 21, 101, 20)
        company_ids.append(2)
        for n in range(3, reg.n_companies + 1):
            pn = T("res.partner", {"name": f"Company {n}", "is_company": True})
            T("res.company", {"name": f"Company {n}", "partner_id": pn, "currency_id": 1, "sequence": n, "active": True}, n)
            reg.update("res.partner", pn, {"company_id": n}, touch=False)
            accounts_for(n, *range(n * 100 + 1, n * 100 + 15))
            methods_for(journals_for(n, n * 100 + 1))
            taxes_for(n, 10, n * 100 + 1, None)
            company_ids.append(n)
    T("res.users", {"name": "OdooBot", "login": "__system__", "partner_id": 2, "company_id": 1, "company_ids": company_ids,
                    "active": False}, 1)
    T("res.users", {"name": "Administrator", "login": reg.login, "partner_id": 3, "company_id": 1, "company_ids": company_ids}, 2)
    # account.group_account_user with the real databases' id; the admin is not in it (a test gives it, as the
    # connector's tests do on a real server): recorded in books/*/group_xmlid, group_read, user_group_add
    group_name = "Show Full Accounting Features"
    T("res.groups", {"name": group_name, "full_name": p.accounting_group_full_name}, p.accounting_group_id)
    T("ir.model.data", {"module": "account", "name": "group_account_user", "model": "res.groups",
                        "res_id": p.accounting_group_id, "noupdate": False})
    for table in reg.tables.values():
        for rec in table.values():
            rec["create_date"] = rec["write_date"] = epoch
    # ids the recordings start from
    reg.next_ids["account.tax"] = max(reg.next_ids["account.tax"], 4)
    reg.next_ids["account.journal"] = max(reg.next_ids["account.journal"], 8)
    reg.next_ids["account.account"] = max(reg.next_ids["account.account"], 1000)
    reg.next_ids["account.payment.method.line"] = max(reg.next_ids["account.payment.method.line"], 50)


# ---------------------------------------------------------------------------------------------
# 6. Faults queued by tests
# ---------------------------------------------------------------------------------------------

FAULT_KINDS = {"http_500", "http_502", "http_503", "http_429", "http", "serialization", "hang", "garbage",
               "access_denied", "drop"}

WERKZEUG_500 = ("<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n"
                "<p>The server encountered an internal error and was unable to complete your request. Either the server "
                "is overloaded or there is an error in the application.</p>\n")
NGINX_PAGE = "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"


class Fault:
    """One queued fault, Odoo's own (not the base's loopback.Fault): matched by transport, service, model and
    model method once the call is read, with Odoo's kinds (the werkzeug and nginx pages, Odoo's errors in the
    transport's shape, hang before or after the call) and a lenient spec (unknown fields are ignored)."""

    def __init__(self, spec: dict):
        kind = spec.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(FAULT_KINDS)}")
        self.kind = kind
        self.remaining = int(spec.get("count", 1))
        self.model = spec.get("model")
        self.method = spec.get("method")
        self.service = spec.get("service")          # 'common' / 'object' (JSON-RPC only)
        self.transport = spec.get("transport")      # 'jsonrpc' / 'json2' / None = both
        self.phase = spec.get("phase", "before")    # 'after': run the call, then answer with the fault
        self.ms = int(spec.get("ms", 0))
        self.status = int(spec.get("status", 500))
        self.body = spec.get("body")
        self.content_type = spec.get("content_type", "text/html; charset=utf-8")
        self.headers = dict(spec.get("headers") or {})
        self.retry_after = spec.get("retry_after")
        if self.phase not in ("before", "after"):
            raise ValueError("phase is 'before' or 'after'")

    def matches(self, transport, service, model, method):
        return ((self.transport in (None, transport)) and (self.service in (None, service))
                and (self.model in (None, model)) and (self.method in (None, method)))

    def describe(self):
        return {"kind": self.kind, "remaining": self.remaining, "model": self.model, "method": self.method,
                "service": self.service, "transport": self.transport, "phase": self.phase, "ms": self.ms}


class Faults(FaultQueue):
    """The base's fault queue (one lock, in order, a list queued whole or not at all) holding Odoo's faults: a
    spec is checked by Fault itself (other fields are ignored, as always here), and a call takes the first
    pending fault matching its transport, service, model and method (a fault queued with count 0 matches
    nothing and stays listed)."""

    fault_class = Fault

    def validate(self, spec):
        return spec  # Fault(spec) checks it

    def take_call(self, transport, service, model, method):
        return self.take_first(lambda f: f.remaining > 0 and f.matches(transport, service, model, method))


# ---------------------------------------------------------------------------------------------
# 7. The fake: JSON-RPC, JSON-2, version routes and the test controls on the common base
# ---------------------------------------------------------------------------------------------


class Reply(loopback.Reply):
    """The base's answer, JSON with Odoo's content type by default."""

    __slots__ = ()

    def __init__(self, status=200, body=b"", content_type="application/json; charset=utf-8", headers=None, drop=False):
        super().__init__(status, body, content_type, headers, drop)


def dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


READ_ONLY_METHODS = {"read", "search_read", "search_count", "fields_get", "name_search", "check_object_reference",
                     "context_get", "default_get", "exists", "search"}
_CALL_STUBS = {}


def create_items(vals_list):
    """create()'s values as a list: one dict, or a list of dicts (what Odoo's model_create_multi accepts)."""
    items = [vals_list] if isinstance(vals_list, dict) else vals_list
    if not isinstance(items, list):
        raise type_error("create() takes a dict or a list of dicts")
    return items


def python_call_check(func, recs, args, kwargs):
    """Raise the TypeError (as Odoo's builtins.TypeError) that Python raises when ``func(recs, *args,
    **kwargs)`` does not fit the method's signature, with Python's own wording."""
    stub = _CALL_STUBS.get(func)
    if stub is None:
        params = ", ".join(str(prm) for prm in inspect.signature(func).parameters.values())
        namespace = {}
        exec(f"def {func.__name__}({params}):\n    return None\n", namespace)  # noqa: S102 (own signature text)
        stub = namespace[func.__name__]
        stub.__qualname__ = func.__qualname__
        _CALL_STUBS[func] = stub
    try:
        stub(recs, *args, **kwargs)
    except TypeError as exc:
        raise type_error(str(exc)) from None


class Transaction:
    """One call = one transaction: every record it writes gets the same write_date."""

    def __init__(self, reg):
        self.reg = reg

    def __enter__(self):
        self.reg.begin()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.reg.rollback()
        self.reg.end()


class OdooService:
    """Everything behind the HTTP layer: auth, dispatch of model calls, the state, pay and reverse controls,
    the state file."""

    def __init__(self, reg: Registry, state_file: str | None):
        self.reg = reg
        self.state_file = state_file
        self.dirty = False

    # -- model calls ---------------------------------------------------------------------------

    def model_class(self, model):
        return MODEL_CLASSES.get(model, BaseModel)

    def resolve(self, model, method, transport):
        """(class, function) or raise Odoo's error for an unknown model / private or unknown method."""
        p = self.reg.profile
        private = method.startswith("_")
        if private and p.major == 17 and transport == "jsonrpc":
            raise access_error(p.private_method(model, method))
        if model not in self.reg.schema:
            if transport == "json2":
                raise HTTPError(404, f"the model {model!r} does not exist")
            raise user_error(f"Object {model} doesn't exist")
        if private:
            raise access_error(p.private_method(model, method))
        cls = self.model_class(model)
        func = getattr(cls, method, None)
        if p.major == 17 and getattr(cls, method + "_v17", None) is not None:
            func = getattr(cls, method + "_v17")  # the method's 17 signature
        if func is None or not getattr(func, "_public", False) or method.endswith("_v17"):
            msg = p.unknown_method(model, method) if transport == "jsonrpc" else f"The method '{model}.{method}' does not exist"
            if transport == "json2":
                raise HTTPError(404, msg)
            raise OdooError("builtins.AttributeError", msg)
        return cls, func

    def call_jsonrpc(self, uid, model, method, args, kwargs):
        """execute_kw as Odoo's api.call_kw runs it (17 and 19): a method on records takes its ids as
        args[0]; the other arguments are bound to the method's signature like a Python call (a missing or
        unexpected argument is Python's TypeError); create returns one id for a dict, ids for a list, and
        with no positional argument it runs, then fails on args[0] (IndexError) and is rolled back."""
        p = self.reg.profile
        cls, func = self.resolve(model, method, "jsonrpc")
        kwargs = dict(kwargs or {})
        context = kwargs.pop("context", None) or {}
        if not isinstance(args, list):
            raise type_error("execute_kw args must be a list")
        with self.reg.lock, Transaction(self.reg):
            env = Env(self.reg, uid, context)
            if func._api_model:
                recs = cls(self.reg, env, model)
                call_args = list(args)
            else:
                if not args:
                    raise OdooError("builtins.IndexError", p.index_error)
                recs = cls(self.reg, env, model, args[0])
                call_args = list(args[1:])
            python_call_check(func, recs, call_args, kwargs)
            result = func(recs, *call_args, **kwargs)
            if method == "create":
                if not args:  # the records were created; the error rolls them back
                    raise OdooError("builtins.IndexError", p.index_error)
                if isinstance(args[0], dict):
                    result = result.ids[0] if result.ids else False
            if method not in READ_ONLY_METHODS:
                self.dirty = True
            return result.ids if isinstance(result, BaseModel) else result

    def call_json2(self, uid, model, method, params):
        cls, func = self.resolve(model, method, "json2")
        params = dict(params)
        ids = params.pop("ids", ())
        context = params.pop("context", None) or {}
        if func._api_model and ids:
            raise HTTPError(422, f"cannot call {model}.{method} with ids")
        with self.reg.lock, Transaction(self.reg):
            env = Env(self.reg, uid, context)
            recs = cls(self.reg, env, model, ids)
            try:
                inspect.signature(func).bind(recs, **params)
            except TypeError as exc:
                raise HTTPError(422, exc.args[0]) from None
            try:
                result = func(recs, **params)
            except TypeError as exc:
                raise type_error(str(exc)) from None
            if method not in READ_ONLY_METHODS:
                self.dirty = True
            return result.ids if isinstance(result, BaseModel) else result

    # -- auth ----------------------------------------------------------------------------------

    def unknown_db(self, db):
        return OdooError("psycopg2.OperationalError",
                         f'connection to server at "127.0.0.1", port 5433 failed: FATAL:  database "{db}" does not exist\n')

    def check_password(self, password) -> bool:
        return password in (self.reg.password, self.reg.api_key) and isinstance(password, str) and password != ""

    # -- JSON-RPC services ---------------------------------------------------------------------

    def version_info(self):
        p = self.reg.profile
        return {"server_version": p.server_version, "server_version_info": p.version_info,
                "server_serie": p.serie, "protocol_version": 1}

    def dispatch_rpc(self, service, method, args, on_model):
        p = self.reg.profile
        if service == "common":
            if method == "version":
                return self.version_info()
            if method in ("authenticate", "login"):
                db, login, password = (list(args) + [None, None, None])[:3]
                if db != self.reg.db:
                    raise self.unknown_db(db)
                if login == self.reg.login and self.check_password(password):
                    return 2
                return False
            if method == "about":
                return "See http://openerp.com"
            raise OdooError("builtins.Exception", f"Method not found: {method}")
        if service == "db":
            if method == "list":
                return [self.reg.db]
            if method == "server_version":
                return p.server_version
            raise OdooError("builtins.KeyError", f"exp_{method}")
        if service == "object":
            if p.major == 19:
                if len(args) < 5:
                    raise value_error(f"not enough values to unpack (expected at least 5, got {len(args)})")
            elif len(args) < 3:
                raise OdooError("builtins.IndexError", "list index out of range")
            db, uid, password = args[0], args[1], args[2]
            try:
                uid = int(uid)
            except (TypeError, ValueError):
                raise value_error(f"invalid literal for int() with base 10: {uid!r}") from None
            if db != self.reg.db:
                raise self.unknown_db(db)
            if uid != 2 or not self.check_password(password):
                raise access_denied()
            if method not in ("execute", "execute_kw"):
                raise OdooError("builtins.NameError", f"Method not available {method}")
            if len(args) < 5:
                raise type_error(f"execute_kw() missing {5 - len(args)} required positional argument(s)")
            model, mname = args[3], args[4]
            if method == "execute_kw":
                call_args = args[5] if len(args) > 5 else []
                call_kwargs = args[6] if len(args) > 6 else {}
            else:
                call_args, call_kwargs = list(args[5:]), {}
            if not isinstance(call_kwargs, dict):
                raise type_error("execute_kw kwargs must be a dict")
            return on_model(uid, model, mname, call_args, call_kwargs)
        raise key_error(str(service))

    # -- controls ------------------------------------------------------------------------------

    def state(self, model=None):
        with self.reg.lock:
            env = Env(self.reg, 2, {"allowed_company_ids": self.reg.tables["res.users"][2]["company_ids"], "active_test": False})
            models = [model] if model else list(self.reg.schema)
            out = {}
            for name in models:
                if name not in self.reg.schema:
                    raise KeyError(name)
                recs = BaseModel(self.reg, env, name, sorted(self.reg.tables[name]))
                out[name] = recs._read_format(None)
            return {"version": self.reg.profile.serie, "db": self.reg.db, "models": out}

    def pay(self, spec):
        with self.reg.lock, Transaction(self.reg):
            moves = self.reg.tables["account.move"]
            move_id = spec.get("invoice_id")
            if move_id is None and spec.get("name"):
                move_id = next((i for i, m in moves.items() if m.get("name") == spec["name"]), None)
            if move_id not in moves:
                return 404, {"error": f"no invoice {spec.get('invoice_id') or spec.get('name')!r}"}
            move = moves[move_id]
            if move["state"] != "posted" or move["move_type"] not in INVOICE_TYPES:
                return 409, {"error": "only a posted invoice can be paid"}
            if move["amount_residual"] <= 0:
                return 409, {"error": "nothing left to pay"}
            env = Env(self.reg, 2, {"allowed_company_ids": [move["company_id"]]})
            journal_id = spec.get("journal_id") or min(
                (j["id"] for j in self.reg.tables["account.journal"].values()
                 if j["company_id"] == move["company_id"] and j["type"] == "bank"), default=None)
            amount = money(spec.get("amount", move["amount_residual"]))
            payment_id = register_payment(self.reg, env, [move_id], amount, spec.get("date"), journal_id,
                                          move.get("payment_reference") or move.get("name"), None,
                                          in_payment=bool(spec.get("in_payment")))
            self.reg.update("account.move", move_id, {})  # a visible change for write_date cursors
            self.dirty = True
            move = moves[move_id]
            return 200, {"payment_id": payment_id, "invoice_id": move_id, "payment_state": move["payment_state"],
                         "amount_residual": move["amount_residual"], "write_date": move["write_date"].strftime(DT_FORMAT)}

    def reverse(self, spec):
        with self.reg.lock, Transaction(self.reg):
            moves = self.reg.tables["account.move"]
            move_id = spec.get("invoice_id")
            if move_id not in moves or moves[move_id]["state"] != "posted" or moves[move_id]["move_type"] != "out_invoice":
                return 409, {"error": "only a posted customer invoice can be reversed"}
            move = moves[move_id]
            if move["payment_state"] in ("paid", "in_payment", "reversed"):
                return 409, {"error": f"invoice is {move['payment_state']}"}
            env = Env(self.reg, 2, {"allowed_company_ids": [move["company_id"]]})
            helper = AccountMove(self.reg, env, "account.move")
            lines = self.reg.tables["account.move.line"]
            cmds = [[0, 0, {"name": lines[i].get("name"), "product_id": lines[i].get("product_id"),
                            "quantity": lines[i]["quantity"], "price_unit": lines[i]["price_unit"],
                            "tax_ids": [[6, 0, lines[i].get("tax_ids") or []]]}]
                    for i in self.reg.children[("account.move.line", "move_id")].get(move_id, [])
                    if lines[i].get("display_type") == "product"]
            refund_id = helper.create({"move_type": "out_refund", "partner_id": move["partner_id"], "journal_id": move["journal_id"],
                                       "currency_id": move["currency_id"], "ref": f"Reversal of: {move['name']}",
                                       "reversed_entry_id": move_id, "invoice_line_ids": cmds}).ids[0]
            helper.browse([refund_id]).action_post()
            for mid in (move_id, refund_id):
                self.reg.update("account.move", mid, {"_paid": moves[mid]["amount_total"], "_reversed": mid == move_id})
                helper._recompute(mid)
            self.dirty = True
            return 200, {"invoice_id": move_id, "refund_id": refund_id, "payment_state": moves[move_id]["payment_state"],
                         "refund_name": moves[refund_id]["name"]}

    # -- persistence ---------------------------------------------------------------------------

    def save(self):
        if not self.state_file:
            return
        with self.reg.lock:
            def enc(v):
                if isinstance(v, dt.datetime):
                    return {"$dt": v.isoformat()}
                return v
            data = {"version": self.reg.profile.major, "next_ids": self.reg.next_ids,
                    "sequences": [[list(k), v] for k, v in self.reg.sequences.items()],
                    "tables": {m: [{k: enc(v) for k, v in rec.items()} for rec in t.values()]
                               for m, t in self.reg.tables.items()}}
            self.dirty = False
        tmp = self.state_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, self.state_file)

    def load(self):
        if not self.state_file or not os.path.exists(self.state_file):
            return
        with open(self.state_file, encoding="utf-8") as fh:
            data = json.load(fh)
        if data.get("version") != self.reg.profile.major:
            raise SystemExit(f"state file is for Odoo {data.get('version')}, not {self.reg.profile.major}")

        def dec(v):
            if isinstance(v, dict) and "$dt" in v:
                return dt.datetime.fromisoformat(v["$dt"])
            return v
        with self.reg.lock:
            self.reg.reset()
            for m in self.reg.tables:
                self.reg.tables[m] = {}
            for key in self.reg.children:
                self.reg.children[key] = {}
            for m, recs in data["tables"].items():
                for rec in recs:
                    rec = {k: dec(v) for k, v in rec.items()}
                    self.reg.tables[m][rec["id"]] = rec
                    for (comodel, inv) in self.reg.inverses:
                        if comodel == m and rec.get(inv):
                            self.reg.children[(comodel, inv)].setdefault(rec[inv], []).append(rec["id"])
            self.reg.next_ids = data["next_ids"]
            self.reg.sequences = {tuple(k): v for k, v in data["sequences"]}


class OdooFake(Fake):
    """Odoo on the common base: routes, faults (taken once the call is known), answers and controls."""

    name = "fake-odoo"
    server_header = error_server_header = "Werkzeug/2.2.2 Python/3.11.2"
    # HEAD keeps its answer from before the move, http.server's 501 (an assumption: no recording has a HEAD)
    http_methods = ("GET", "POST", "PUT", "PATCH", "DELETE")

    def __init__(self, service: OdooService):
        super().__init__()
        self.service = service
        self.faults = Faults()
        self.calls = CallLog(limit=10000, trim=1000)
        self.stopping = threading.Event()

    def record_call(self, entry):
        self.calls.add(entry)

    @staticmethod
    def _what(request, text):
        request.note = f" {text}"  # the request log line ends with it: the call, never a body, password or key

    # -- the base's hooks ----------------------------------------------------------------------

    def serve(self, request):
        return self.handle(request)  # no fault is taken by HTTP method and path: see _jsonrpc, _json2

    def handle(self, request):
        path = request.path
        p = self.service.reg.profile
        if path == "/jsonrpc":
            return self._jsonrpc(request)
        if path == "/json/2" or path.startswith("/json/2/"):
            return self._json2(request) if p.json2 else self._html_404()
        if path in ("/web/version",) or (path == "/json/version" and p.json2):
            return Reply(200, dumps({"version_info": p.version_info, "version": p.server_version}))
        if path == "/web/webclient/version_info":
            return self._jsonrpc_route(request, lambda params: self.service.version_info())
        return self._html_404()

    def bug_reply(self, exc):
        """A bug in the fake (traceback on stderr): answered like a crashed server."""
        return Reply(500, WERKZEUG_500, "text/html; charset=utf-8")

    def json_reply(self, status, value, headers=None):
        return Reply(status, dumps(value), headers=headers)

    def reset(self):
        svc = self.service
        with svc.reg.lock:
            svc.reg.reset()
            svc.dirty = True
        super().reset()  # faults, calls (and the base's clock, which this fake does not use)

    def saver(self):
        """--state-file: written every second when changed, until the server stops."""
        while not self.stopping.wait(1.0):
            if self.service.dirty and self.service.state_file:
                self.service.save()

    def stopped(self):
        self.stopping.set()
        if self.service.state_file:  # and at exit
            self.service.save()

    def _html_404(self):
        body = ("<!DOCTYPE html>\n<html>\n    <head>\n        <meta charset=\"utf-8\"/>\n        <title>Odoo</title>\n    </head>\n"
                "    <body>\n        <h1>404: Page not found!</h1>\n        <p>The page you were looking for could not be "
                "authorized or does not exist (fake Odoo).</p>\n    </body>\n</html>\n")
        return Reply(404, body, "text/html;charset=utf-8", {"X-Content-Type-Options": "nosniff"})

    def _fault_reply(self, fault: Fault, transport: str, rid=None):
        k = fault.kind
        if k == "http_500":
            return Reply(500, WERKZEUG_500, "text/html; charset=utf-8")
        if k in ("http_502", "http_503", "http_429"):
            code = int(k[5:])
            reason = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 429: "Too Many Requests"}[code]
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return Reply(code, NGINX_PAGE.format(code=code, reason=reason), "text/html", headers)
        if k == "http":
            body = fault.body if isinstance(fault.body, str) else json.dumps(fault.body) if fault.body is not None else ""
            return Reply(fault.status, body, fault.content_type, fault.headers)
        if k == "garbage":
            return Reply(200, b'{"jsonrpc": "2.0", "id": \x00\xff<html>garbage', "application/json; charset=utf-8")
        if k == "drop":
            return Reply(drop=True)
        if k == "serialization":
            err = OdooError("psycopg2.errors.SerializationFailure", "could not serialize access due to concurrent update\n", 500)
            return self._error_reply(err, transport, rid)
        if k == "access_denied":
            if transport == "json2":
                return self._error_reply(HTTPError(401, "Invalid apikey", {"WWW-Authenticate": "Bearer "}), "json2")
            return self._error_reply(access_denied(), transport, rid)
        raise AssertionError(k)

    def _error_reply(self, err, transport, rid=None):
        p = self.service.reg.profile
        if transport == "json2":
            headers = {}
            if isinstance(err, HTTPError):
                headers = err.headers
                status = err.status
                err = err.as_odoo_error()
            else:
                status = err.json2_status
            return Reply(status, dumps(err.data(p)), headers=headers)
        if isinstance(err, HTTPError):
            err = err.as_odoo_error()
        envelope = {"jsonrpc": "2.0", "id": rid,
                    "error": {"code": p.rpc_error_code, "message": "Odoo Server Error", "data": err.data(p)}}
        return Reply(200, dumps(envelope))

    # -- JSON-RPC ------------------------------------------------------------------------------

    def _jsonrpc_preflight(self, request):
        """Odoo's checks before a JSON-RPC route runs: method, content type, JSON."""
        p = self.service.reg.profile
        ctype = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if request.method != "POST" or ctype not in ("application/json", "application/json-rpc"):
            path = request.path
            if p.major == 17:
                msg = (f"Request inferred type is compatible with [&#39;http&#39;] but &#39;{path}&#39; is type=&#39;json&#39;.")
                html = f"<!doctype html>\n<html lang=en>\n<title>400 Bad Request</title>\n<h1>Bad Request</h1>\n<p>{msg}</p>\n"
                return None, Reply(400, html, "text/html; charset=utf-8")
            kinds = "[&#39;http&#39;, &#39;json2&#39;]" if not ctype else "[&#39;http&#39;]"
            html = ("<!doctype html>\n<html lang=en>\n<title>415 Unsupported Media Type</title>\n<h1>Unsupported Media Type</h1>\n"
                    f"<p>Request inferred type is compatible with {kinds} but &#39;{path}&#39; is type=&#39;jsonrpc&#39;."
                    "<br><br>Please verify the Content-Type request header and try again.</p>\n")
            return None, Reply(415, html, "text/html; charset=utf-8", {"Accept": "application/json, application/json-rpc"})
        try:
            req = json.loads(request.body.decode("utf-8"))
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError):
            return None, Reply(400, "Invalid JSON data", "text/html; charset=utf-8", {"X-Content-Type-Options": "nosniff"})
        return req, None

    def _jsonrpc_route(self, request, func):
        req, reply = self._jsonrpc_preflight(request)
        if reply:
            return reply
        result = func(req.get("params") or {})
        return Reply(200, dumps({"jsonrpc": "2.0", "id": req.get("id"), "result": result}), headers={"X-Content-Type-Options": "nosniff"})

    def _jsonrpc(self, request):
        req, reply = self._jsonrpc_preflight(request)
        if reply:
            self._what(request, "jsonrpc-rejected")
            return reply
        rid = req.get("id")
        params = req.get("params") or {}
        service, method = params.get("service"), params.get("method")
        args = params.get("args") or []
        model = mname = None
        if service == "object" and isinstance(args, list) and len(args) >= 5:
            model, mname = args[3], args[4]
        self._what(request, f"{service}.{method}" + (f" {model}.{mname}" if model else ""))
        fault = self.faults.take_call("jsonrpc", service, model, mname or method)
        if fault and fault.kind == "hang" and fault.phase == "before":
            time.sleep(fault.ms / 1000.0)
            fault = None
        if fault and fault.phase == "before":
            request.note += f" fault:{fault.kind}"
            self.record_call({"transport": "jsonrpc", "service": service, "method": method, "model": model,
                              "model_method": mname, "fault": fault.kind})
            return self._fault_reply(fault, "jsonrpc", rid)
        try:
            result = self.service.dispatch_rpc(service, method, args, self.service.call_jsonrpc)
            envelope = {"jsonrpc": "2.0", "id": rid}
            if result is not None:  # as Odoo's JSON-RPC dispatcher: a method returning None answers without 'result'
                envelope["result"] = result
            reply = Reply(200, dumps(envelope), headers={"X-Content-Type-Options": "nosniff"})
            outcome = "ok"
        except (OdooError, HTTPError) as err:
            reply = self._error_reply(err, "jsonrpc", rid)
            outcome = getattr(err, "name", "error")
        self.record_call({"transport": "jsonrpc", "service": service, "method": method, "model": model,
                          "model_method": mname, "outcome": outcome})
        if fault and fault.kind == "hang":  # phase 'after': the call ran and committed, the answer is late
            time.sleep(fault.ms / 1000.0)
            return reply
        if fault:  # phase 'after': the call ran, the answer is lost
            request.note += f" fault-after:{fault.kind}"
            return self._fault_reply(fault, "jsonrpc", rid)
        return reply

    # -- JSON-2 --------------------------------------------------------------------------------

    def _json2(self, request):
        path, body = request.path, request.body
        parts = path.split("/")  # ['', 'json', '2', model, method]
        if request.method != "POST" or len(parts) != 5 or not parts[3] or not parts[4]:
            self._what(request, "json2-404")
            return self._error_reply(HTTPError(404, "Did you mean POST /json/2/<model>/<method>?"), "json2")
        model, method = parts[3], parts[4]
        self._what(request, f"json2 {model}.{method}")
        reg = self.service.reg
        ctype = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            html = ("<!doctype html>\n<html lang=en>\n<title>415 Unsupported Media Type</title>\n<h1>Unsupported Media Type</h1>\n"
                    f"<p>Request inferred type is compatible with [&#39;http&#39;] but &#39;{path}&#39; is type=&#39;json2&#39;."
                    "<br><br>Please verify the Content-Type request header and try again.</p>\n")
            return Reply(415, html, "text/html; charset=utf-8", {"Accept": "application/json"})
        db_header = request.headers.get("X-Odoo-Database")
        if db_header is not None and db_header != reg.db:
            return self._error_reply(HTTPError(404, f"database {db_header!r} not found"), "json2")  # assumption
        auth = request.headers.get("Authorization") or ""
        scheme, _, key = auth.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return self._error_reply(HTTPError(401, "User not authenticated, use an API Key with a Bearer Authorization header.",
                                               {"WWW-Authenticate": "Bearer "}), "json2")
        fault = self.faults.take_call("json2", None, model, method)
        if fault and fault.kind == "hang" and fault.phase == "before":
            time.sleep(fault.ms / 1000.0)
            fault = None
        if fault and fault.phase == "before":
            request.note += f" fault:{fault.kind}"
            self.record_call({"transport": "json2", "model": model, "model_method": method, "fault": fault.kind})
            return self._fault_reply(fault, "json2")
        if key.strip() != reg.api_key:
            return self._error_reply(HTTPError(401, "Invalid apikey", {"WWW-Authenticate": "Bearer "}), "json2")
        params = {}
        if body:
            try:
                params = json.loads(body.decode("utf-8"))
            except ValueError as exc:
                msg = exc.args[0] if exc.args else str(exc)
                return self._error_reply(HTTPError(400, f"could not parse the body as json: {msg}"), "json2")
            if not isinstance(params, dict):
                # a bare JSON list binds no argument: 422 "missing a required argument" (recorded:
                # calls/odoo19-json2/07_err_create_body_is_list)
                params = {}
        try:
            result = self.service.call_json2(2, model, method, params)
            reply = Reply(200, dumps(result), headers={"X-Content-Type-Options": "nosniff"})
            outcome = "ok"
        except (OdooError, HTTPError) as err:
            reply = self._error_reply(err, "json2")
            outcome = getattr(err, "name", None) or f"http-{err.status}"
        self.record_call({"transport": "json2", "model": model, "model_method": method, "outcome": outcome})
        if fault and fault.kind == "hang":
            time.sleep(fault.ms / 1000.0)
            return reply
        if fault:
            request.note += f" fault-after:{fault.kind}"
            return self._fault_reply(fault, "json2")
        return reply

    # -- controls ------------------------------------------------------------------------------

    def dispatch_control(self, request):
        """As the base's, with Odoo's answer to a body that is not JSON (an empty body is {}, only that)."""
        name = request.path[len(CONTROL_PREFIX):]
        self._what(request, f"control {name}")
        try:
            spec = json.loads(request.body.decode("utf-8")) if request.body else {}
        except ValueError:
            return self.json_reply(400, {"error": "body is not JSON"})
        reply = self.control(request, name, spec)
        return reply if reply is not None else self.standard_control(request, name, spec)

    def control(self, request, name, spec):
        """Odoo's controls. The base's serve GET and DELETE /__fake__/calls and POST /__fake__/reset (with
        reset() above); its fault and clock controls are not Odoo's (faults here answer queued/pending and
        match by transport, service, model, method; the fake's time is the wall clock)."""
        svc, method = self.service, request.method
        if name == "state" and method == "GET":
            query = parse_qs(request.query)
            try:
                return self.json_reply(200, svc.state((query.get("model") or [None])[0]))
            except KeyError as exc:
                return self.json_reply(404, {"error": f"unknown model {exc.args[0]}"})
        if name == "fault" and method == "POST":
            try:
                pending = self.faults.add(spec)
            except (ValueError, TypeError) as exc:
                return self.json_reply(400, {"error": str(exc)})
            return self.json_reply(200, {"queued": len(spec) if isinstance(spec, list) else 1, "pending": pending})
        if name == "fault" and method == "GET":
            return self.json_reply(200, {"pending": self.faults.pending()})
        if name == "fault" and method == "DELETE":
            self.faults.clear()
            return self.json_reply(200, {"pending": []})
        if name == "pay" and method == "POST":
            return self.json_reply(*svc.pay(spec))
        if name == "reverse" and method == "POST":
            return self.json_reply(*svc.reverse(spec))
        if name == "save" and method == "POST":
            svc.save()
            return self.json_reply(200, {"saved": bool(svc.state_file)})
        if (name, method) in (("calls", "GET"), ("calls", "DELETE"), ("reset", "POST")):
            return None  # the base's
        return self.json_reply(404, {"error": f"no control {method} /__fake__/{name}"})


# ---------------------------------------------------------------------------------------------
# 8. main
# ---------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake Odoo 17/19 server (JSON-RPC, JSON-2) for tests; binds 127.0.0.1 only.")
    ap.add_argument("--version", type=int, choices=(17, 19), required=True, help="Odoo major version to fake")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 picks a free one (printed first)")
    ap.add_argument("--db", default="testdb", help="the one database name")
    ap.add_argument("--api-key", required=True, help="API key accepted as bearer (JSON-2) and as password (JSON-RPC)")
    ap.add_argument("--user", default="admin", help="login of the user (uid 2)")
    ap.add_argument("--password", default="admin", help="password of the user")
    ap.add_argument("--companies", type=int, default=2, help="number of companies (1 = exactly the recorded database)")
    ap.add_argument("--seed", choices=("fresh", "calls17", "calls19"), default="fresh",
                    help="initial database: 'fresh' (recordings/17, /19; --companies) or the database of "
                         "recordings/calls (calls17 with --version 17, calls19 with --version 19; two companies)")
    ap.add_argument("--state-file", help="load state from this JSON file at start; save it there (every second when "
                                         "changed, on POST /__fake__/save and at exit)")
    args = ap.parse_args(argv)
    if args.companies < 1:
        ap.error("--companies must be at least 1")

    if args.seed != "fresh" and args.seed != f"calls{args.version}":
        ap.error(f"--seed {args.seed} goes with --version {args.seed[-2:]}")
    reg = Registry(Profile(args.version), args.db, args.user, args.password, args.api_key, args.companies, args.seed)
    service = OdooService(reg, args.state_file)
    service.load()
    fake = OdooFake(service)
    if args.state_file:
        threading.Thread(target=fake.saver, daemon=True).start()
    return run(fake, args.port, f"fake Odoo {reg.profile.server_version} db={args.db} seed={args.seed} "
                                f"companies={args.companies} on {{address}}")


if __name__ == "__main__":
    sys.exit(main())
