#!/usr/bin/env python3
"""Records the "Stripe books" calls of the Odoo connector against a real Odoo 17 or 19 server.

The server and the credentials come from the environment only (nothing of them is written but the URL
and the database name; the API key is replaced by RECORDED-KEY):

    ODOO_URL=http://127.0.0.1:8069 ODOO_DB=mydb ODOO_LOGIN=admin ODOO_KEY=... \\
        python3 record_books.py --protocol jsonrpc --out recordings/books/odoo17-jsonrpc
    # Odoo 19 also: --protocol json2 (POST /json/2/<model>/<method>, bearer key, named arguments)

Standard library only. Every id a call uses is learnt from an earlier answer of the same run (the
company "EU Co" by name, accounts by code, the journal it creates, ...): the database may hold data of
earlier runs. Records made by a run carry a random tag in names, codes and references. The sequence is
described in recordings/books/README.md. Tracebacks are kept with the server's source folder written
as <odoo>, its Python environment as <venv>
and the standard library as <python>.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import re
import string
import sys
import time
from urllib.parse import urlsplit

PLACEHOLDER = "RECORDED-KEY"
EU_COMPANY = "EU Co"


class Recorder:
    def __init__(self, url, db, login, key, protocol, out):
        self.url, self.db, self.login, self.key = url.rstrip("/"), db, login, key
        self.protocol, self.out = protocol, out
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.n = 0
        self.index = []
        self.uid = None
        self.roots = []

    # -- HTTP -------------------------------------------------------------------------------------

    def exchange(self, path, body, headers):
        raw = json.dumps(body)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        started = time.monotonic()
        try:
            conn.request("POST", path, body=raw.encode("utf-8"), headers=headers)
            resp = conn.getresponse()
            data = resp.read().decode("utf-8")
            return raw, resp.status, dict(resp.getheaders()), data, time.monotonic() - started
        finally:
            conn.close()

    def redact(self, text):
        """The key becomes RECORDED-KEY; in tracebacks (also inside body_raw, escaped once more) the server's
        source folder becomes <odoo>, a separate addons folder <odoo>/addons, its virtual environment <venv>
        and the standard library <python>."""
        text = text.replace(self.key, PLACEHOLDER)
        for found in re.findall(r'File \\*"(/[^"\\]+?)/odoo/http\.py', text):
            if found not in self.roots:
                self.roots.append(found)
        for root in self.roots:
            text = text.replace(root, "<odoo>")
        text = re.sub(r'(File \\*")/[^"\s\\<>]+(?=/\w+/(?:models|controllers|wizard|report)/\w+\.py)',
                      r"\1<odoo>/addons", text)
        text = re.sub(r'(File \\*")/[^"\s\\<>]+?(?=/lib/python3\.\d+/site-packages/)', r"\1<venv>", text)
        text = re.sub(r'(File \\*")/[^"\s\\<>]+/lib/python3\.\d+(?=/)', r"\1<python>", text)
        leftover = re.search(r'File \\*"/', text)
        if leftover:
            raise SystemExit(f"a machine path is left in a traceback: {text[leftover.start():leftover.start() + 120]!r}")
        return text

    def save(self, name, note, path, req_headers, raw, status, resp_headers, data, elapsed):
        self.n += 1
        fname = f"{self.n:02d}_{name}.json"
        try:
            body_json = json.loads(data)
        except ValueError:
            body_json = None
        is_error = (isinstance(body_json, dict) and "error" in body_json) if self.protocol == "jsonrpc" else status >= 400
        if is_error:
            err = body_json["error"]["data"] if self.protocol == "jsonrpc" else body_json
            outcome = f"error {err.get('name')}: {err.get('message')}"
        else:
            result = body_json.get("result") if self.protocol == "jsonrpc" and isinstance(body_json, dict) else body_json
            outcome = "no result member (None)" if (self.protocol == "jsonrpc" and "result" not in body_json) else \
                "result " + json.dumps(result, ensure_ascii=False)
        if len(outcome) > 600:
            outcome = outcome[:600] + " …"
        record = {
            "name": name,
            "note": f"{note} \u2014 Outcome: HTTP {status}, {outcome}",
            "captured_at_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "server": self.url,
            "request": {"method": "POST", "path": path, "headers": req_headers, "body_raw": raw,
                        "body_json": json.loads(raw)},
            "response": {"status": status, "headers": resp_headers, "body_raw": data, "body_json": body_json},
            "elapsed_s": round(elapsed, 4),
        }
        text = self.redact(json.dumps(record, indent=2, ensure_ascii=False))
        with open(os.path.join(self.out, fname), "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        self.index.append({"file": fname, "name": name, "status": status, "is_error": is_error})
        return body_json, is_error

    # -- calls ------------------------------------------------------------------------------------

    def authenticate(self):
        body = {"jsonrpc": "2.0", "method": "call", "id": self.n + 1,
                "params": {"service": "common", "method": "authenticate", "args": [self.db, self.login, self.key, {}]}}
        headers = {"Content-Type": "application/json"}
        raw, status, rh, data, el = self.exchange("/jsonrpc", body, headers)
        answer, _ = self.save("authenticate", "common.authenticate with the API key as the password",
                              "/jsonrpc", headers, raw, status, rh, data, el)
        self.uid = answer.get("result")
        if not self.uid:
            raise SystemExit(f"authentication failed: {data[:300]}")

    def call(self, name, note, model, method, ids=None, params=None, positional=(), context=None, expect_error=False):
        """One model call. params are the method's named arguments; those listed in positional go
        positionally over JSON-RPC (after the ids), as the connector sends them."""
        params = dict(params or {})
        if self.protocol == "jsonrpc":
            args = ([ids] if ids is not None else []) + [params.pop(p) for p in positional]
            kwargs = dict(params)
            if context is not None:
                kwargs["context"] = context
            body = {"jsonrpc": "2.0", "method": "call", "id": self.n + 1,
                    "params": {"service": "object", "method": "execute_kw",
                               "args": [self.db, self.uid, self.key, model, method, args, kwargs]}}
            headers = {"Content-Type": "application/json"}
            path = "/jsonrpc"
        else:
            body = {}
            if ids is not None:
                body["ids"] = ids
            if context is not None:
                body["context"] = context
            body.update(params)
            headers = {"Content-Type": "application/json", "Authorization": f"bearer {self.key}",
                       "X-Odoo-Database": self.db}
            path = f"/json/2/{model}/{method}"
        raw, status, rh, data, el = self.exchange(path, body, headers)
        saved_headers = {k: (v.replace(self.key, PLACEHOLDER)) for k, v in headers.items()}
        answer, is_error = self.save(name, note, path, saved_headers, raw, status, rh, data, el)
        if is_error != expect_error:
            raise SystemExit(f"{name}: {'unexpected error' if is_error else 'expected an error'}: {data[:800]}")
        if is_error:
            return None
        return answer.get("result") if self.protocol == "jsonrpc" else answer

    def finish(self, server_version):
        with open(os.path.join(self.out, "INDEX.json"), "w", encoding="utf-8") as fh:
            json.dump({"db": self.db, "server": self.url, "server_version": server_version, "protocol": self.protocol,
                       "fixtures": self.index}, fh, indent=2)
            fh.write("\n")


def server_version(url):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=30)
    body = json.dumps({"jsonrpc": "2.0", "method": "call", "id": 0,
                       "params": {"service": "common", "method": "version", "args": []}})
    conn.request("POST", "/jsonrpc", body=body, headers={"Content-Type": "application/json"})
    answer = json.loads(conn.getresponse().read())
    conn.close()
    return answer["result"]["server_version"]


def run(rec: Recorder, major: int):
    tag = "".join(random.choice(string.ascii_uppercase + string.digits) for _ in range(4))
    label = f"b{major}{'x' if rec.protocol == 'json2' else 'j'}-{tag}"
    if rec.protocol == "jsonrpc":
        rec.authenticate()
    else:
        rec.uid = 2

    # -- the user's accounting group, as the connector's tests give it ------------------------------
    # 'Show Full Accounting Features' lets the user create bank statement lines (and, on 19, shows an account's
    # code in its display name). Given explicitly, so that the recording says in which state it was made.
    gid = rec.call("group_xmlid", "The group 'Show Full Accounting Features' by its external id (no context)",
                   "ir.model.data", "search_read",
                   params={"domain": [["module", "=", "account"], ["name", "=", "group_account_user"]],
                           "fields": ["res_id"]}, positional=("domain",))[0]["res_id"]
    rec.call("group_read", "The group", "res.groups", "read", ids=[gid], params={"fields": ["name", "full_name"]})
    gfield = "groups_id" if major == 17 else "group_ids"
    rec.call("user_group_add", f"The user gets the group ({gfield} [[4, gid]])", "res.users", "write", ids=[rec.uid],
             params={"vals": {gfield: [[4, gid]]}}, positional=("vals",))

    # -- what exists: the company, its currency and accounts ---------------------------------------
    eu = rec.call("company_search_eu", f"The company {EU_COMPANY!r} by name (no context)", "res.company", "search_read",
                  params={"domain": [["name", "=", EU_COMPANY]], "fields": ["id", "name", "currency_id"]},
                  positional=("domain",))[0]
    E, EUR = eu["id"], eu["currency_id"][0]
    ctx = {"allowed_company_ids": [E]}
    USD = rec.call("currency_search_usd", "The USD currency by name", "res.currency", "search_read",
                   params={"domain": [["name", "=", "USD"]], "fields": ["id", "name"]}, positional=("domain",))[0]["id"]
    main = rec.call("company_search_main", "Company 1 by name", "res.company", "search_read",
                    params={"domain": [["name", "=", "My Company"]], "fields": ["id", "name", "currency_id"]},
                    positional=("domain",))[0]
    company_fields = ["currency_id", "income_currency_exchange_account_id", "expense_currency_exchange_account_id",
                      "transfer_account_id"]
    comp = rec.call("company_read_accounts", "The EU company's currency, exchange gain/loss and liquidity transfer "
                    "accounts", "res.company", "read", ids=[E], params={"fields": company_fields}, context=ctx)[0]
    rec.call("company_read_accounts_main", "The same fields of company 1", "res.company", "read", ids=[main["id"]],
             params={"fields": company_fields}, context={"allowed_company_ids": [main["id"]]})
    gain, loss, transfer = (comp["income_currency_exchange_account_id"][0], comp["expense_currency_exchange_account_id"][0],
                            comp["transfer_account_id"][0])
    fee = rec.call("fee_account_search", "The bank-fees account (620000) of the EU company", "account.account",
                   "search_read", params={"domain": [["code", "=", "620000"]], "fields": ["id", "name", "code"]},
                   positional=("domain",), context=ctx)[0]["id"]
    fee_main = rec.call("fee_account_search_main", "The bank-fees account (620000) of company 1", "account.account",
                        "search_read", params={"domain": [["code", "=", "620000"]], "fields": ["id", "name", "code"]},
                        positional=("domain",), context={"allowed_company_ids": [main["id"]]})[0]["id"]
    rec.call("exchange_accounts_read", "The exchange and transfer accounts", "account.account", "read",
             ids=[gain, loss, transfer], params={"fields": ["code", "name", "account_type", "reconcile"]}, context=ctx)
    partner = rec.call("partner_create", "A customer for this run", "res.partner", "create",
                       params={"vals_list": [{"name": f"{label} Stripe Customer"}]}, positional=("vals_list",),
                       context=ctx)[0]

    # -- the clearing journal -----------------------------------------------------------------------
    code = "S" + tag
    journal_fields = ["default_account_id", "currency_id", "company_id", "type", "name", "code",
                      "inbound_payment_method_line_ids", "outbound_payment_method_line_ids"]
    jid = rec.call("journal_create", "A Stripe clearing journal: type bank, in EUR, in the EU company",
                   "account.journal", "create",
                   params={"vals_list": [{"name": f"Stripe EUR {tag}", "type": "bank", "code": code, "currency_id": EUR,
                                          "company_id": E}]}, positional=("vals_list",), context=ctx)[0]
    journal = rec.call("journal_read", "The journal: its default account (made by Odoo) and payment method lines",
                       "account.journal", "read", ids=[jid], params={"fields": journal_fields}, context=ctx)[0]
    account = journal["default_account_id"][0]
    methods = journal["inbound_payment_method_line_ids"] + journal["outbound_payment_method_line_ids"]
    rec.call("journal_default_account_read", "The journal's default account", "account.account", "read", ids=[account],
             params={"fields": ["code", "name", "account_type", "reconcile", "currency_id"]}, context=ctx)
    method_fields = ["name", "payment_type", "journal_id", "payment_account_id"]
    rec.call("method_lines_read", "Its payment method lines before finance sets their account",
             "account.payment.method.line", "read", ids=methods, params={"fields": method_fields}, context=ctx)
    rec.call("method_lines_write_payment_account", "Payments of this journal land on its own account",
             "account.payment.method.line", "write", ids=methods, params={"vals": {"payment_account_id": account}},
             positional=("vals",), context=ctx)
    rec.call("method_lines_read_after", "The payment method lines after the write", "account.payment.method.line",
             "read", ids=methods, params={"fields": ["payment_account_id"]}, context=ctx)
    plain = rec.call("journal_plain_create", "A second bank journal without currency, its method lines left alone "
                     "(payments go to Outstanding Receipts)", "account.journal", "create",
                     params={"vals_list": [{"name": f"Stripe plain {tag}", "type": "bank", "code": "P" + tag,
                                            "company_id": E}]}, positional=("vals_list",), context=ctx)[0]
    rec.call("journal_plain_read", "The second journal", "account.journal", "read", ids=[plain],
             params={"fields": journal_fields}, context=ctx)

    rec.call("err_journal_create_duplicate_code", "WRONG: another journal with the clearing journal's code in the same "
             "company", "account.journal", "create",
             params={"vals_list": [{"name": f"Stripe EUR {tag} again", "type": "bank", "code": code, "currency_id": EUR,
                                    "company_id": E}]}, positional=("vals_list",), context=ctx, expect_error=True)
    longer = rec.call("journal_create_long_code", "A code longer than 5 characters", "account.journal", "create",
                      params={"vals_list": [{"name": f"Stripe long {tag}", "type": "bank", "code": "L" + tag + "XY",
                                             "company_id": E}]}, positional=("vals_list",), context=ctx)[0]
    rec.call("journal_long_code_read", "It keeps the first 5 characters", "account.journal", "read", ids=[longer],
             params={"fields": ["name", "code"]}, context=ctx)

    # -- journal entries ----------------------------------------------------------------------------
    move_fields = ["state", "name", "currency_id", "amount_total", "journal_id", "ref"]
    line_fields = ["account_id", "debit", "credit", "balance", "amount_currency", "currency_id", "name", "partner_id",
                   "reconciled", "amount_residual"]

    def entry(name, note, ref, lines, currency=EUR, context=ctx, expect_error=False):
        vals = {"move_type": "entry", "journal_id": jid, "date": "2026-12-01", "ref": ref, "line_ids": lines}
        if currency:
            vals["currency_id"] = currency
        result = rec.call(name, note, "account.move", "create", params={"vals_list": [vals]}, positional=("vals_list",),
                          context=context, expect_error=expect_error)
        return result[0] if result else None

    fee_ref = f"{label} fee txn_1"
    m = entry("entry_fee_create", "A processor fee as a journal entry: Bank Fees debit, the clearing account credit, "
              "amounts in amount_currency only", fee_ref,
              [[0, 0, {"name": "Stripe fee txn_1", "account_id": fee, "currency_id": EUR, "amount_currency": 0.57,
                       "partner_id": partner}],
               [0, 0, {"name": "Stripe fee txn_1", "account_id": account, "currency_id": EUR, "amount_currency": -0.57}]])
    rec.call("entry_fee_read_draft", "The draft entry", "account.move", "read", ids=[m], params={"fields": move_fields},
             context=ctx)
    rec.call("entry_fee_action_post", "Post it", "account.move", "action_post", ids=[m], context=ctx)
    rec.call("entry_fee_read_posted", "The posted entry", "account.move", "read", ids=[m],
             params={"fields": move_fields}, context=ctx)
    rec.call("entry_fee_lines", "Its journal items", "account.move.line", "search_read",
             params={"domain": [["move_id", "=", m]], "fields": line_fields}, positional=("domain",), context=ctx)
    payout_ref = f"{label} payout po_1"
    m2 = entry("entry_payout_create", "A payout: Liquidity Transfer debit, the clearing account credit", payout_ref,
               [[0, 0, {"name": "Stripe payout po_1", "account_id": transfer, "currency_id": EUR, "amount_currency": 100.0}],
                [0, 0, {"name": "Stripe payout po_1", "account_id": account, "currency_id": EUR,
                        "amount_currency": -100.0}]])
    rec.call("entry_payout_action_post", "Post it", "account.move", "action_post", ids=[m2], context=ctx)
    rec.call("entry_payout_read_posted", "The posted payout", "account.move", "read", ids=[m2],
             params={"fields": move_fields}, context=ctx)
    rec.call("entry_payout_lines", "Its journal items", "account.move.line", "search_read",
             params={"domain": [["move_id", "=", m2]], "fields": line_fields}, positional=("domain",), context=ctx)
    m3 = entry("entry_debit_credit_create", "An entry given with debit/credit, no currency on the move or lines",
               f"{label} dc", [[0, 0, {"name": "dc 1", "account_id": fee, "debit": 2.5}],
                               [0, 0, {"name": "dc 2", "account_id": account, "credit": 2.5}]], currency=None)
    rec.call("entry_debit_credit_read", "The entry", "account.move", "read", ids=[m3], params={"fields": move_fields},
             context=ctx)
    rec.call("entry_debit_credit_lines", "Its journal items (amount_currency from debit/credit)", "account.move.line",
             "search_read", params={"domain": [["move_id", "=", m3]], "fields": line_fields}, positional=("domain",),
             context=ctx)
    unbalanced_ref = f"{label} unbalanced"
    entry("err_entry_unbalanced_create", "WRONG: lines of 1.00 and -0.50 (Odoo checks the balance when the entry is "
          "created, not only when posting)", unbalanced_ref,
          [[0, 0, {"name": "x", "account_id": fee, "currency_id": EUR, "amount_currency": 1.0}],
           [0, 0, {"name": "y", "account_id": account, "currency_id": EUR, "amount_currency": -0.5}]],
          expect_error=True)
    rec.call("entry_unbalanced_search_count", "Nothing was created", "account.move", "search_count",
             params={"domain": [["ref", "=", unbalanced_ref]]}, positional=("domain",), context=ctx)
    other_lines = [[0, 0, {"name": "x", "account_id": fee_main, "currency_id": EUR, "amount_currency": 1.0}],
                   [0, 0, {"name": "y", "account_id": account, "currency_id": EUR, "amount_currency": -1.0}]]
    entry("err_entry_account_other_company", "WRONG: a line on company 1's Bank Fees account in an EU company entry "
          "(context: the EU company only)", f"{label} other", other_lines, expect_error=True)
    entry("err_entry_account_other_company_ctx_both", "WRONG: the same with both companies allowed",
          f"{label} other", other_lines, context={"allowed_company_ids": [E, main["id"]]}, expect_error=True)
    rec.call("entry_search_by_ref", "The fee entry found again by its reference", "account.move", "search_read",
             params={"domain": [["ref", "=", fee_ref], ["move_type", "=", "entry"]],
                     "fields": ["name", "state", "ref", "journal_id", "amount_total"]}, positional=("domain",), context=ctx)
    rec.call("entry_search_by_ref_none", "An unknown reference finds nothing", "account.move", "search_read",
             params={"domain": [["ref", "=", f"{label} nothing"], ["move_type", "=", "entry"]],
                     "fields": ["name", "state", "ref"]}, positional=("domain",), context=ctx)

    # -- payments through the wizard ----------------------------------------------------------------
    inv_fields = ["name", "currency_id", "amount_total", "amount_residual", "payment_state"]
    wiz_fields = ["amount", "currency_id", "journal_id", "payment_difference", "payment_difference_handling",
                  "writeoff_account_id", "payment_method_line_id"]
    pay_fields = ["state", "amount", "currency_id", "journal_id", "move_id", "outstanding_account_id", "is_reconciled",
                  "is_matched", "payment_method_line_id", "reconciled_invoice_ids"]
    pay_line_fields = ["account_id", "name", "debit", "credit", "balance", "amount_currency", "currency_id", "reconciled",
                       "amount_residual"]

    def invoice(key, currency, amount, what):
        inv = rec.call(f"{key}_invoice_create", f"An invoice of {amount:.2f} in {what} in the EU company (EUR), no tax",
                       "account.move", "create",
                       params={"vals_list": [{"move_type": "out_invoice", "partner_id": partner, "invoice_date": "2026-12-01",
                                              "currency_id": currency, "ref": f"{label} {key}",
                                              "invoice_line_ids": [[0, 0, {"name": "Service", "quantity": 1,
                                                                          "price_unit": amount, "tax_ids": [[6, 0, []]]}]]}]},
                       positional=("vals_list",), context=ctx)[0]
        rec.call(f"{key}_invoice_post", "Post it", "account.move", "action_post", ids=[inv], context=ctx)
        rec.call(f"{key}_invoice_read", "The posted invoice", "account.move", "read", ids=[inv],
                 params={"fields": inv_fields}, context=ctx)
        return inv

    def pay(key, note, inv, vals, then_write=None):
        wctx = dict(ctx, active_model="account.move", active_ids=[inv])
        wiz = rec.call(f"{key}_register_create", note, "account.payment.register", "create",
                       params={"vals_list": [vals]}, positional=("vals_list",), context=wctx)[0]
        rec.call(f"{key}_register_read", "The wizard, payment_difference included", "account.payment.register", "read",
                 ids=[wiz], params={"fields": wiz_fields + ["company_id"]}, context=wctx)
        if then_write:
            rec.call(f"{key}_register_write", "The difference written off, as the connector does after reading it",
                     "account.payment.register", "write", ids=[wiz], params={"vals": then_write}, positional=("vals",),
                     context=wctx)
        action = rec.call(f"{key}_action_create_payments", "Create the payment", "account.payment.register",
                          "action_create_payments", ids=[wiz], context=wctx)
        rec.call(f"{key}_invoice_read_after", "The invoice after the payment", "account.move", "read", ids=[inv],
                 params={"fields": ["payment_state", "amount_residual"]}, context=ctx)
        payment = rec.call(f"{key}_payment_read", "The payment", "account.payment", "read", ids=[action["res_id"]],
                           params={"fields": pay_fields}, context=ctx)[0]
        rec.call(f"{key}_payment_move_lines", "The payment's journal items", "account.move.line", "search_read",
                 params={"domain": [["move_id", "=", payment["move_id"][0]]], "fields": pay_line_fields, "order": "id"},
                 positional=("domain",), context=ctx)
        return payment

    inv = invoice("fx", USD, 10.0, "USD")
    pay("fx", "The wizard pays the USD invoice in EUR (9.20) from the clearing journal; the difference to the "
        "exchange loss account", inv,
        {"amount": 9.20, "currency_id": EUR, "journal_id": jid, "payment_date": "2026-12-01",
         "communication": f"{label} ch_fx", "payment_difference_handling": "reconcile", "writeoff_account_id": loss,
         "writeoff_label": "Stripe FX"})
    found = rec.call("fx_exchange_lines_search", "Where the difference went: the customer's items on the exchange loss "
                     "account", "account.move.line", "search_read",
                     params={"domain": [["partner_id", "=", partner], ["account_id", "=", loss]],
                             "fields": ["move_id", "name", "debit", "credit", "balance", "amount_currency", "currency_id",
                                        "date"]}, positional=("domain",), context=ctx)
    exch = found[0]["move_id"][0]
    rec.call("fx_exchange_move_read", "That entry", "account.move", "read", ids=[exch],
             params={"fields": ["name", "ref", "journal_id", "date", "state", "move_type", "currency_id", "amount_total"]},
             context=ctx)
    rec.call("fx_exchange_move_lines", "Its journal items", "account.move.line", "search_read",
             params={"domain": [["move_id", "=", exch]], "fields": pay_line_fields + ["partner_id"], "order": "id"},
             positional=("domain",), context=ctx)

    inv = invoice("gain", USD, 10.0, "USD")
    pay("gain", "The connector's way: the wizard created with 10.40 EUR for the USD invoice of 10.00, then (after "
        "reading payment_difference -0.40) written to reconcile with the exchange gain account", inv,
        {"amount": 10.40, "currency_id": EUR, "journal_id": jid, "payment_date": "2026-12-01",
         "communication": f"{label} ch_gain"},
        then_write={"payment_difference_handling": "reconcile", "writeoff_account_id": gain,
                    "writeoff_label": "Stripe FX"})
    found = rec.call("gain_exchange_lines_search", "The customer's items on the exchange gain account", "account.move.line",
                     "search_read", params={"domain": [["partner_id", "=", partner], ["account_id", "=", gain]],
                                            "fields": ["move_id", "name", "debit", "credit", "balance", "amount_currency",
                                                       "currency_id", "date"]}, positional=("domain",), context=ctx)
    rec.call("gain_exchange_move_lines", "That entry's journal items", "account.move.line", "search_read",
             params={"domain": [["move_id", "=", found[0]["move_id"][0]]], "fields": pay_line_fields + ["partner_id"],
                     "order": "id"}, positional=("domain",), context=ctx)
    rec.call("gain_exchange_move_read", "That entry", "account.move", "read", ids=[found[0]["move_id"][0]],
             params={"fields": ["name", "journal_id", "state", "currency_id", "amount_total", "partner_id"]}, context=ctx)

    inv = invoice("fxfee", USD, 10.0, "USD")
    pay("fxfee", "The wizard pays the USD invoice in EUR (9.20); the difference to Bank Fees (not an exchange "
        "account)", inv,
        {"amount": 9.20, "currency_id": EUR, "journal_id": jid, "payment_date": "2026-12-01",
         "communication": f"{label} ch_fxfee", "payment_difference_handling": "reconcile", "writeoff_account_id": fee,
         "writeoff_label": "Stripe fee"})

    inv = invoice("own", USD, 10.0, "USD")
    pay("own", "The wizard in the invoice's own currency (USD, 9.20) into the clearing journal (method lines with "
        "payment_account_id): the fee to Bank Fees", inv,
        {"amount": 9.20, "currency_id": USD, "journal_id": jid, "payment_date": "2026-12-01",
         "communication": f"{label} ch_own", "payment_difference_handling": "reconcile", "writeoff_account_id": fee,
         "writeoff_label": "Stripe fee"})

    inv = invoice("plain", USD, 10.0, "USD")
    pay("plain", "The same into the second journal, whose method lines have no payment_account_id", inv,
        {"amount": 9.20, "currency_id": USD, "journal_id": plain, "payment_date": "2026-12-01",
         "communication": f"{label} ch_plain", "payment_difference_handling": "reconcile", "writeoff_account_id": fee,
         "writeoff_label": "Stripe fee"})

    inv = invoice("eur", EUR, 25.0, "EUR")
    pay("eur", "A fee-less full payment of a EUR invoice into the EUR clearing journal (amount from the wizard's "
        "default)", inv,
        {"journal_id": jid, "payment_date": "2026-12-01", "communication": f"{label} ch_eur"})

    inv = invoice("partial", EUR, 30.0, "EUR")
    pay("partial", "A partial payment (12.50 of 30.00, difference kept open) into the clearing journal", inv,
        {"amount": 12.5, "journal_id": jid, "payment_date": "2026-12-01", "communication": f"{label} ch_partial"})

    rec.call("journal_lines_residual", "The clearing account's journal items of this run", "account.move.line",
             "search_read", params={"domain": [["account_id", "=", account]],
                                     "fields": ["move_id", "balance", "amount_residual", "reconciled"], "order": "id"},
             positional=("domain",), context=ctx)

    statement_line(rec, major, label, ctx, E, EUR, gid, gfield, jid, account, transfer, entry, pay_line_fields)


def statement_line(rec, major, label, ctx, E, EUR, gid, gfield, jid, account, transfer, entry, line_fields):
    """A payout's arrival on the bank statement, reconciled by finance with the connector's payout entry: the
    statement line's suspense item moved to Liquidity Transfer (entry back to draft, write, post) and reconciled
    with the payout's Liquidity Transfer item; the refusals around it."""
    bank = rec.call("st_journal_search", "The EU company's Bank journal (code BNK1) and its suspense account",
                    "account.journal", "search_read",
                    params={"domain": [["type", "=", "bank"], ["company_id", "=", E], ["code", "=", "BNK1"]],
                            "fields": ["id", "suspense_account_id"]}, positional=("domain",), context=ctx)[0]
    J, suspense = bank["id"], bank["suspense_account_id"][0]
    journal_accounts = ["default_account_id", "suspense_account_id", "currency_id"]
    rec.call("st_journal_read", "Its liquidity (default) and suspense accounts", "account.journal", "read", ids=[J],
             params={"fields": journal_accounts}, context=ctx)
    rec.call("st_suspense_account_read", "The suspense account", "account.account", "read", ids=[suspense],
             params={"fields": ["code", "name", "account_type", "reconcile"]}, context=ctx)
    st_vals = {"journal_id": J, "date": "2026-12-01", "payment_ref": "STRIPE PAYOUT", "amount": 45.62}

    def give_group_back(name, note):
        try:
            rec.call(name, note, "res.users", "write", ids=[rec.uid], params={"vals": {gfield: [[4, gid]]}},
                     positional=("vals",))
        except BaseException:
            # whatever happened, the user keeps the group (other tests on this server need it)
            vals = {gfield: [[4, gid]]}
            if rec.protocol == "jsonrpc":
                rec.exchange("/jsonrpc", {"jsonrpc": "2.0", "method": "call", "id": 0, "params": {
                    "service": "object", "method": "execute_kw",
                    "args": [rec.db, rec.uid, rec.key, "res.users", "write", [[rec.uid], vals], {}]}},
                    {"Content-Type": "application/json"})
            else:
                rec.exchange("/json/2/res.users/write", {"ids": [rec.uid], "vals": vals},
                             {"Content-Type": "application/json", "Authorization": f"bearer {rec.key}",
                              "X-Odoo-Database": rec.db})
            raise

    try:
        rec.call("st_user_group_remove", f"The group taken away for a moment ({gfield} [[3, gid]])", "res.users",
                 "write", ids=[rec.uid], params={"vals": {gfield: [[3, gid]]}}, positional=("vals",))
        rec.call("st_journal_read_without_group", "The journal's accounts read without the group", "account.journal",
                 "read", ids=[J], params={"fields": journal_accounts}, context=ctx)
        rec.call("st_err_line_create_without_group", "WRONG: a bank statement line by a user without the group",
                 "account.bank.statement.line", "create", params={"vals_list": st_vals}, positional=("vals_list",),
                 context=ctx, expect_error=True)
    finally:
        give_group_back("st_user_group_add", "The group given back (the connector's tests write it so)")

    payout_ref = f"{label} payout po_st"
    pm = entry("st_payout_create", "The connector's payout entry: Liquidity Transfer debit 45.62, the clearing "
               "account credit", payout_ref,
               [[0, 0, {"name": "Stripe payout po_st", "account_id": transfer, "currency_id": EUR, "amount_currency": 45.62}],
                [0, 0, {"name": "Stripe payout po_st", "account_id": account, "currency_id": EUR,
                        "amount_currency": -45.62}]])
    rec.call("st_payout_post", "Post it", "account.move", "action_post", ids=[pm], context=ctx)
    transfer_line = rec.call("st_payout_transfer_line", "Its Liquidity Transfer item", "account.move.line", "search_read",
                             params={"domain": [["move_id", "=", pm], ["account_id", "=", transfer]], "fields": ["id"]},
                             positional=("domain",), context=ctx)[0]["id"]

    st = rec.call("st_line_create", "The payout's arrival: a bank statement line in the Bank journal (as a bank "
                  "import makes it)", "account.bank.statement.line", "create", params={"vals_list": st_vals},
                  positional=("vals_list",), context=ctx)
    st = st[0] if isinstance(st, list) else st
    st_fields = ["journal_id", "date", "payment_ref", "amount", "currency_id", "company_id", "partner_id", "state",
                 "is_reconciled"]
    move = rec.call("st_line_read_move", "Its journal entry", "account.bank.statement.line", "read", ids=[st],
                    params={"fields": ["move_id"]}, context=ctx)[0]["move_id"][0]
    rec.call("st_line_read", "The statement line", "account.bank.statement.line", "read", ids=[st],
             params={"fields": st_fields}, context=ctx)
    rec.call("st_move_read", "Its entry", "account.move", "read", ids=[move],
             params={"fields": ["name", "state", "move_type", "journal_id", "date", "ref", "currency_id", "partner_id",
                                "amount_total"]}, context=ctx)
    items = rec.call("st_move_lines", "Its journal items: the liquidity and the suspense item", "account.move.line",
                     "search_read", params={"domain": [["move_id", "=", move]], "fields": line_fields + ["partner_id"],
                                            "order": "id"}, positional=("domain",), context=ctx)
    liquidity = [i["id"] for i in items if i["account_id"][0] != suspense][0]
    suspense_line = rec.call("st_suspense_line_search", "The suspense item", "account.move.line", "search_read",
                             params={"domain": [["move_id", "=", move], ["account_id", "=", suspense]], "fields": ["id"]},
                             positional=("domain",), context=ctx)[0]["id"]
    rec.call("st_transfer_line_read", "The payout's item: its account", "account.move.line", "read", ids=[transfer_line],
             params={"fields": ["account_id"]}, context=ctx)
    rec.call("st_err_reconcile_other_account", "WRONG: the suspense item reconciled with the Liquidity Transfer item",
             "account.move.line", "reconcile", ids=[suspense_line, transfer_line], context=ctx, expect_error=True)
    rec.call("st_err_reconcile_not_reconcilable", "WRONG: the suspense item alone (its account does not allow "
             "reconciliation)", "account.move.line", "reconcile", ids=[suspense_line], context=ctx, expect_error=True)
    rec.call("st_move_button_draft", "The statement line's entry back to draft", "account.move", "button_draft",
             ids=[move], context=ctx)
    rec.call("st_line_read_draft", "The statement line meanwhile", "account.bank.statement.line", "read", ids=[st],
             params={"fields": ["state", "is_reconciled"]}, context=ctx)
    rec.call("st_reconcile_draft_line", "The draft entry's liquidity item reconciled alone (17 refuses an item of a "
             "draft entry; 19 accepts it, with nothing to match)", "account.move.line", "reconcile", ids=[liquidity],
             context=ctx, expect_error=(major == 17))
    rec.call("st_suspense_line_write", "The suspense item moved to Liquidity Transfer", "account.move.line", "write",
             ids=[suspense_line], params={"vals": {"account_id": transfer}}, positional=("vals",), context=ctx)
    rec.call("st_move_action_post", "The entry posted again", "account.move", "action_post", ids=[move], context=ctx)
    rec.call("st_line_read_posted", "The statement line before any reconcile", "account.bank.statement.line", "read",
             ids=[st], params={"fields": ["state", "is_reconciled"]}, context=ctx)
    rec.call("st_reconcile", "The two Liquidity Transfer items reconciled", "account.move.line", "reconcile",
             ids=[suspense_line, transfer_line], context=ctx)
    rec.call("st_line_read_reconciled", "The statement line", "account.bank.statement.line", "read", ids=[st],
             params={"fields": ["is_reconciled"]}, context=ctx)
    rec.call("st_transfer_line_reconciled", "The payout's item", "account.move.line", "read", ids=[transfer_line],
             params={"fields": ["reconciled", "amount_residual"]}, context=ctx)
    rec.call("st_move_lines_reconciled", "The statement line's items", "account.move.line", "search_read",
             params={"domain": [["move_id", "=", move]], "fields": line_fields, "order": "id"}, positional=("domain",),
             context=ctx)
    rec.call("st_err_reconcile_again", "WRONG: the same two items again", "account.move.line", "reconcile",
             ids=[suspense_line, transfer_line], context=ctx, expect_error=True)
    rec.call("st_transfer_balance", "The Liquidity Transfer items of the payout and its arrival, posted only",
             "account.move.line", "search_read",
             params={"domain": [["account_id", "=", transfer], ["parent_state", "=", "posted"], ["move_id", "in", [pm, move]]],
                     "fields": ["balance"], "order": "id"}, positional=("domain",), context=ctx)
    rec.call("st_clearing_balance", "The clearing account's posted items (the draft entry of entry_debit_credit "
             "left out)", "account.move.line", "search_read",
             params={"domain": [["account_id", "=", account], ["parent_state", "=", "posted"]], "fields": ["balance"],
                     "order": "id"}, positional=("domain",), context=ctx)

    st2 = rec.call("st2_line_create", "A second statement line", "account.bank.statement.line", "create",
                   params={"vals_list": dict(st_vals, payment_ref="STRIPE PAYOUT 2", amount=10.0)},
                   positional=("vals_list",), context=ctx)
    st2 = st2[0] if isinstance(st2, list) else st2
    move2 = rec.call("st2_line_read_move", "Its journal entry", "account.bank.statement.line", "read", ids=[st2],
                     params={"fields": ["move_id"]}, context=ctx)[0]["move_id"][0]
    suspense2 = rec.call("st2_suspense_line_search", "Its suspense item", "account.move.line", "search_read",
                         params={"domain": [["move_id", "=", move2], ["account_id", "=", suspense]], "fields": ["id"]},
                         positional=("domain",), context=ctx)[0]["id"]
    rec.call("st2_suspense_line_write_posted", "Its account written while the entry is posted", "account.move.line",
             "write", ids=[suspense2], params={"vals": {"account_id": transfer}}, positional=("vals",), context=ctx)
    rec.call("st2_line_read", "The statement line after that", "account.bank.statement.line", "read", ids=[st2],
             params={"fields": ["state", "is_reconciled"]}, context=ctx)
    rec.call("st2_move_lines", "Its journal items", "account.move.line", "search_read",
             params={"domain": [["move_id", "=", move2]], "fields": line_fields, "order": "id"}, positional=("domain",),
             context=ctx)

    rec.call("st_write_reconciled_line", "The reconciled suspense item's account written back to the suspense account "
             "(17 refuses; 19 takes it and undoes the reconciliation)", "account.move.line", "write", ids=[suspense_line],
             params={"vals": {"account_id": suspense}}, positional=("vals",), context=ctx, expect_error=(major == 17))
    rec.call("st_lines_after_write", "The two items after that", "account.move.line", "search_read",
             params={"domain": [["id", "in", [suspense_line, transfer_line]]],
                     "fields": ["account_id", "reconciled", "amount_residual"], "order": "id"}, positional=("domain",),
             context=ctx)
    rec.call("st_line_read_after_write", "The statement line after that", "account.bank.statement.line", "read",
             ids=[st], params={"fields": ["is_reconciled"]}, context=ctx)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protocol", choices=("jsonrpc", "json2"), required=True)
    ap.add_argument("--out", required=True, help="folder for NN_<name>.json and INDEX.json (emptied first)")
    args = ap.parse_args(argv)
    env = {k: os.environ.get(k) for k in ("ODOO_URL", "ODOO_DB", "ODOO_LOGIN", "ODOO_KEY")}
    missing = [k for k, v in env.items() if not v]
    if missing:
        raise SystemExit("set " + ", ".join(missing))
    version = server_version(env["ODOO_URL"])
    major = int(version.split(".")[0])
    if args.protocol == "json2" and major < 19:
        raise SystemExit("JSON-2 exists from Odoo 19 on")
    os.makedirs(args.out, exist_ok=True)
    for old in os.listdir(args.out):
        if re.match(r"^\d+_.*\.json$|^INDEX\.json$", old):
            os.remove(os.path.join(args.out, old))
    rec = Recorder(env["ODOO_URL"], env["ODOO_DB"], env["ODOO_LOGIN"], env["ODOO_KEY"], args.protocol, args.out)
    run(rec, major)
    rec.finish(version)
    print(f"{rec.n} exchanges recorded in {args.out}")


if __name__ == "__main__":
    sys.exit(main())
