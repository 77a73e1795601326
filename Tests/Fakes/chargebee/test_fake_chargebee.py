"""Checks of fake_chargebee.py: raw HTTP (stdlib only) and Chargebee's official Python client.

Run from the repository root: python3 -m unittest Tests/Fakes/chargebee/test_fake_chargebee.py   (about 10 s)

RawHttpTests need nothing but python3. OfficialClientTests drive the fake with the official `chargebee` package
(pinned in requirements-chargebee.txt; scripts/lib/common.sh ensure_chargebee_client installs it into
.build/venv-chargebee): every answer, errors included, must parse in the client. They run in whichever interpreter
has the client; under a python3 without it, OfficialClientInVenv runs them with the virtualenv's python (a
subprocess). Without the virtualenv that check is skipped, saying why, or fails when
CONNECTOR_HOST_REQUIRE_CHARGEBEE_CLIENT=1 (scripts/test sets it).

The client builds its base URL as ``{protocol}://{site}.{chargebee_domain}/api/v2`` and uses https whenever the
class attribute ``Chargebee.verify_ca_certs`` is true (its default), so it cannot target http://127.0.0.1:PORT by
configuration alone: the test sets ``verify_ca_certs = False``, ``protocol="http"`` and then replaces only
``env.api_endpoint`` with the fake's base URL.
"""

import base64
import json
import os
import re
import sys
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

try:
    import chargebee  # the official client: in .build/venv-chargebee, not in a plain python3
    if getattr(chargebee, "__file__", None) is None or not hasattr(chargebee, "Chargebee"):
        chargebee = None  # a folder named chargebee/ (like this one) on sys.path
except ImportError:
    chargebee = None

HERE = Path(__file__).resolve().parent
# The fakes' shared self-test helpers (../common/selftest.py); Tests/Fakes is on sys.path only for this import:
# this folder's name would otherwise stand in for the official client's package.
sys.path.insert(0, str(HERE.parent))
try:
    from common import selftest  # noqa: E402
finally:
    del sys.path[0]
ROOT = HERE.parents[2]
FAKE = HERE / "fake_chargebee.py"
VENV_PYTHON = ROOT / ".build" / "venv-chargebee" / "bin" / "python"
REQUIRE_CLIENT = os.environ.get("CONNECTOR_HOST_REQUIRE_CHARGEBEE_CLIENT") == "1"
API_KEY = "test_" + os.urandom(8).hex()
COMMAND = [sys.executable, str(FAKE), "--port", "0", "--api-key", API_KEY, "--rate-limit", "0"]


def start():
    return selftest.start(COMMAND, ROOT, "fake_chargebee.py")


stop = selftest.stop


class Receiver:
    """A webhook target on loopback: keeps (headers, JSON body) of each POST; answers ``status``."""

    def __init__(self, status=200):
        self.hits, self.status = [], status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.hits.append((dict(self.headers), json.loads(body)))
                self.send_response(outer.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/chargebee"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class FakeCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.process, cls.base = start()

    @classmethod
    def tearDownClass(cls):
        stop(cls.process)

    def setUp(self):
        self.control("POST", "reset", {})

    def control(self, method, name, spec=None):
        data = None if spec is None else json.dumps(spec).encode()
        req = urllib.request.Request(f"{self.base}/__fake__/{name}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def api(self, method, path, params=None, key=API_KEY, headers=None, password=""):
        """(status, JSON body, headers) of one API call; params are (key, value) pairs or a dict."""
        query = urllib.parse.urlencode(params or {})
        url = f"{self.base}/api/v2{path}" + (f"?{query}" if query and method == "GET" else "")
        data = query.encode() if method == "POST" else None
        auth = base64.b64encode(f"{key}:{password}".encode()).decode()
        all_headers = {"Authorization": f"Basic {auth}"} if key is not None else {}
        if method == "POST":
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        all_headers.update(headers or {})
        req = urllib.request.Request(url, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read()), resp.headers
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read()), e.headers

    def assertError(self, answer, status, code, param=None):
        got_status, body, _ = answer
        self.assertEqual(status, got_status, body)
        self.assertEqual(code, body["api_error_code"], body)
        for field in ("message", "type", "error_code", "http_status_code"):
            self.assertIn(field, body)
        self.assertEqual(status, body["http_status_code"])
        if param:
            self.assertEqual(param, body.get("param"), body)


class RawHttpTests(FakeCase):
    def test_auth_basic_with_the_api_key_and_an_empty_password(self):
        self.assertEqual(200, self.api("GET", "/customers")[0])
        self.assertError(self.api("GET", "/customers", key="wrong"), 401, "api_authentication_failed")
        self.assertError(self.api("GET", "/customers", key=None), 401, "api_authentication_failed")
        self.assertError(self.api("GET", "/customers", password="x"), 401, "api_authentication_failed")
        self.assertError(self.api("GET", "/customerz"), 404, "resource_not_found")

    def test_bracket_form_create_and_shapes(self):
        status, body, _ = self.api("POST", "/customers", [
            ("id", "acme-1"), ("first_name", "Ada"), ("email", "ada@example.com"),
            ("billing_address[line1]", "1 Main"), ("billing_address[country]", "FR"),
            ("card[number]", "4111111111111111"), ("card[expiry_month]", "12"), ("card[expiry_year]", "2030")])
        self.assertEqual(200, status, body)
        self.assertEqual({"line1": "1 Main", "country": "FR"},
                         {k: body["customer"]["billing_address"][k] for k in ("line1", "country")})
        self.assertEqual("customer", body["customer"]["object"])
        self.assertEqual("1111", body["card"]["last4"])
        self.assertError(self.api("POST", "/customers", {"id": "acme-1"}), 400, "duplicate_entry", "id")
        self.assertError(self.api("POST", "/customers", {"nickname": "x"}), 400, "param_wrong_value", "nickname")
        self.assertError(self.api("POST", "/customers", {"billing_address[planet]": "x"}), 400, "param_wrong_value",
                         "billing_address[planet]")
        status, body, _ = self.api("POST", "/customers/acme-1/subscription_for_items", [
            ("subscription_items[item_price_id][0]", "pro-USD-monthly"), ("subscription_items[quantity][0]", "2"),
            ("subscription_items[item_price_id][1]", "seats-USD-monthly"), ("subscription_items[quantity][1]", "3")])
        self.assertEqual(200, status, body)
        invoice = body["invoice"]
        self.assertEqual([3000, 1500], [li["amount"] for li in invoice["line_items"]])
        self.assertEqual((4500, 4500, 0, "paid", "USD"), (invoice["total"], invoice["amount_paid"],
                                                          invoice["amount_due"], invoice["status"],
                                                          invoice["currency_code"]))
        txns = self.api("GET", "/transactions")[1]["list"]
        self.assertEqual([("payment", 4500, "success")],
                         [(t["transaction"]["type"], t["transaction"]["amount"], t["transaction"]["status"]) for t in txns])
        self.assertNotIn("fee_amount", txns[0]["transaction"])
        self.assertError(self.api("POST", "/customers/acme-1/subscription_for_items",
                                  {"subscription_items[item_price_id][0]": "nope"}), 404, "resource_not_found")
        self.assertError(self.api("GET", "/customers/nobody"), 404, "resource_not_found")

    def test_no_card_or_auto_collection_off_leaves_the_invoice_due(self):
        self.api("POST", "/customers", {"id": "c1"})
        self.api("POST", "/customers", {"id": "c2", "auto_collection": "off"})
        one = self.api("POST", "/customers/c1/subscription_for_items", {"subscription_items[item_price_id][0]": "pro-USD-monthly"})[1]
        two = self.api("POST", "/customers/c2/subscription_for_items", {"subscription_items[item_price_id][0]": "pro-USD-monthly"})[1]
        self.assertEqual(("payment_due", 1500), (one["invoice"]["status"], one["invoice"]["amount_due"]))
        self.assertEqual("posted", two["invoice"]["status"])
        status, body, _ = self.api("POST", f"/invoices/{one['invoice']['id']}/record_payment",
                                   {"transaction[amount]": "1500", "transaction[payment_method]": "bank_transfer",
                                    "transaction[reference_number]": "BT-1"})
        self.assertEqual(200, status, body)
        self.assertEqual(("paid", 0), (body["invoice"]["status"], body["invoice"]["amount_due"]))
        self.assertError(self.api("POST", f"/invoices/{two['invoice']['id']}/record_payment",
                                  {"transaction[amount]": "100"}), 400, "param_wrong_value", "transaction[payment_method]")

    def test_paging_and_incremental_filters(self):
        self.control("POST", "clock", {"now": 1_700_000_000})
        self.control("POST", "seed", {"customers": 25, "step_seconds": 10})
        seen, offset, pages = [], None, 0
        while True:
            params = {"limit": "10", "sort_by[asc]": "updated_at"} | ({"offset": offset} if offset else {})
            status, body, _ = self.api("GET", "/customers", params)
            self.assertEqual(200, status, body)
            seen += [r["customer"]["id"] for r in body["list"]]
            pages += 1
            offset = body.get("next_offset")
            if not offset:
                break
        self.assertEqual((25, 25, 3), (len(seen), len(set(seen)), pages))
        after = self.api("GET", "/customers", {"updated_at[after]": str(1_700_000_000 + 200), "limit": "100"})[1]
        self.assertEqual(4, len(after["list"]))  # at +210, +220, +230, +240
        between = self.api("GET", "/customers", {"updated_at[between]": "[1700000010, 1700000030]"})[1]
        self.assertEqual(3, len(between["list"]))
        self.api("POST", f"/customers/{seen[0]}/delete")
        self.assertEqual(24, len(self.api("GET", "/customers", {"limit": "100"})[1]["list"]))
        with_deleted = self.api("GET", "/customers", {"limit": "100", "include_deleted": "true"})[1]["list"]
        self.assertEqual([True], [r["customer"]["deleted"] for r in with_deleted if r["customer"]["id"] == seen[0]])
        self.assertError(self.api("GET", "/customers", {"limit": "101"}), 400, "param_wrong_value", "limit")
        self.assertError(self.api("GET", "/customers", {"offset": "garbage"}), 400, "param_wrong_value", "offset")
        self.assertError(self.api("GET", "/customers", {"updated_at[gt]": "1"}), 400, "param_wrong_value",
                         "updated_at[gt]")
        self.assertError(self.api("GET", "/customers", {"colour[is]": "red"}), 400, "param_wrong_value", "colour")
        self.assertError(self.api("GET", "/customers", {"sort_by[asc]": "email"}), 400, "param_wrong_value",
                         "sort_by[asc]")
        self.assertError(self.api("GET", "/credit_notes", {"sort_by[asc]": "updated_at"}), 400,
                         "param_wrong_value", "sort_by[asc]")
        self.assertError(self.api("GET", "/events", {"include_deleted": "true"}), 400, "param_wrong_value")
        self.assertError(self.api("GET", "/customers", {"updated_at[after]": "yesterday"}), 400, "param_wrong_value")

    def test_bulk_seed_invoices_payments_credit_notes_and_events(self):
        started = time.monotonic()
        status, body = self.control("POST", "seed", {"customers": 100, "invoices": 1000, "credit_notes": 50,
                                                     "refund": True})
        self.assertEqual(200, status, body)
        self.assertLess(time.monotonic() - started, 20)
        self.assertEqual((100, 1000, 1000, 1050, 50), tuple(body["created"][k] for k in (
            "customers", "subscriptions", "invoices", "transactions", "credit_notes")))
        ids, offset = [], None
        while True:
            params = {"limit": "100", "type[is]": "refund"} | ({"offset": offset} if offset else {})
            page = self.api("GET", "/transactions", params)[1]
            ids += [r["transaction"]["id"] for r in page["list"]]
            offset = page.get("next_offset")
            if not offset:
                break
        self.assertEqual(50, len(set(ids)))
        notes = self.api("GET", "/credit_notes", {"limit": "100", "sort_by[asc]": "date"})[1]["list"]
        self.assertEqual(50, len(notes))
        note = notes[0]["credit_note"]
        self.assertEqual(("refundable", "refunded"), (note["type"], note["status"]))
        invoice = self.api("GET", f"/invoices/{note['reference_invoice_id']}")[1]["invoice"]
        self.assertEqual(note["id"], invoice["issued_credit_notes"][0]["cn_id"])
        events = self.api("GET", "/events", {"limit": "5", "event_type[in]": '["payment_refunded"]'})[1]
        event = events["list"][0]["event"]
        self.assertEqual(("event", "v2", "payment_refunded"), (event["object"], event["api_version"], event["event_type"]))
        self.assertEqual({"transaction", "credit_note", "invoice"}, set(event["content"]))
        self.assertIsInstance(event["occurred_at"], int)

    def test_zero_decimal_multi_decimal_taxes_and_fees(self):
        self.control("POST", "site", {"multi_decimal": True, "tax_rate": 10, "fee_percent": 2.9})
        self.api("POST", "/customers", {"id": "jp", "preferred_currency_code": "JPY", "card[number]": "4242424242424242"})
        body = self.api("POST", "/customers/jp/subscription_for_items",
                        {"subscription_items[item_price_id][0]": "pro-JPY-monthly"})[1]
        invoice = body["invoice"]
        self.assertEqual((1800, 180, 1980, "JPY"), (invoice["sub_total"], invoice["tax"], invoice["total"],
                                                     invoice["currency_code"]))
        self.assertEqual("1800", invoice["line_items"][0]["unit_amount_in_decimal"])
        self.assertEqual([180], [t["amount"] for t in invoice["taxes"]])
        price = self.api("GET", "/item_prices/pro-USD-monthly")[1]["item_price"]
        self.assertEqual((1500, "15.00"), (price["price"], price["price_in_decimal"]))
        txn = self.api("GET", "/transactions")[1]["list"][0]["transaction"]
        self.assertEqual(round(1980 * 0.029), txn["fee_amount"])
        self.assertError(self.api("POST", "/customers/jp/subscription_for_items",
                                  {"subscription_items[item_price_id][0]": "pro-USD-monthly"}), 400, "param_wrong_value")

    def test_product_catalog_versions(self):
        self.assertEqual(200, self.api("GET", "/items")[0])
        self.assertError(self.api("GET", "/plans"), 400, "configuration_incompatible")
        self.control("POST", "site", {"product_catalog": "1.0"})
        self.assertError(self.api("GET", "/items"), 400, "configuration_incompatible")
        self.assertError(self.api("GET", "/item_prices/pro-USD-monthly"), 400, "configuration_incompatible")
        self.api("POST", "/customers", {"id": "c"})
        self.assertError(self.api("POST", "/customers/c/subscription_for_items",
                                  {"subscription_items[item_price_id][0]": "pro-USD-monthly"}), 400,
                         "configuration_incompatible")
        self.assertEqual([], self.api("GET", "/plans")[1]["list"])

    def test_idempotency(self):
        first = self.api("POST", "/customers", {"first_name": "A"}, headers={"chargebee-idempotency-key": "key-1"})
        again = self.api("POST", "/customers", {"first_name": "A"}, headers={"chargebee-idempotency-key": "key-1"})
        self.assertEqual(first[1], again[1])
        self.assertEqual("true", again[2].get("chargebee-idempotency-replayed"))
        self.assertIsNone(first[2].get("chargebee-idempotency-replayed"))
        self.assertEqual(1, len(self.api("GET", "/customers")[1]["list"]))
        self.assertError(self.api("POST", "/customers", {"first_name": "B"},
                                  headers={"chargebee-idempotency-key": "key-1"}), 409, "invalid_request")
        self.control("POST", "clock", {"advance": 31 * 60})  # past the 30-minute window: a new call
        later = self.api("POST", "/customers", {"first_name": "B"}, headers={"chargebee-idempotency-key": "key-1"})
        self.assertEqual(200, later[0])
        self.assertNotEqual(first[1]["customer"]["id"], later[1]["customer"]["id"])

    def test_rate_limit(self):
        self.control("POST", "clock", {"now": 1_700_000_010})
        self.control("POST", "site", {"rate_limit": 3})
        for _ in range(3):
            self.assertEqual(200, self.api("GET", "/customers")[0])
        answer = self.api("GET", "/customers")
        self.assertError(answer, 429, "api_request_limit_exceeded")
        self.assertEqual("30", answer[2]["Retry-After"])  # to the end of the minute
        self.control("POST", "clock", {"advance": 60})
        self.assertEqual(200, self.api("GET", "/customers")[0])

    def test_webhooks_with_basic_auth(self):
        receiver = Receiver()
        self.addCleanup(receiver.close)
        self.api("POST", "/customers", {"id": "w1"})
        self.api("POST", "/customers/w1", {"email": "w1@example.com"})
        status, body = self.control("POST", "webhooks", {"url": receiver.url, "username": "hook", "password": "pw"})
        self.assertEqual(200, status, body)
        self.assertEqual([("customer_created", 200), ("customer_changed", 200)],
                         [(s["event_type"], s["status"]) for s in body["sent"]])
        headers, event = receiver.hits[0]
        self.assertEqual("Basic " + base64.b64encode(b"hook:pw").decode(), headers["Authorization"])
        self.assertEqual(("customer_created", "w1", "v2"),
                         (event["event_type"], event["content"]["customer"]["id"], event["api_version"]))
        self.assertFalse([h for h in headers if "signature" in h.lower()])
        self.assertEqual([], self.control("POST", "webhooks", {"url": receiver.url})[1]["sent"])
        receiver.status = 500
        again = self.control("POST", "webhooks", {"url": receiver.url, "events": [event["id"]]})[1]["sent"]
        self.assertEqual([500], [s["status"] for s in again])
        stored = self.api("GET", f"/events/{event['id']}")[1]["event"]
        self.assertEqual("failed", stored["webhook_status"])

    def test_faults_and_clock(self):
        self.control("POST", "fault", {"kind": "status", "status": 503, "path": "/api/v2/invoices"})
        self.assertError(self.api("GET", "/invoices"), 503, "site_not_ready")
        self.assertEqual(200, self.api("GET", "/invoices")[0])
        self.control("POST", "clock", {"now": 1_650_000_000})
        customer = self.api("POST", "/customers", {"id": "t"})[1]["customer"]
        self.assertEqual((1_650_000_000, 1_650_000_000), (customer["created_at"], customer["updated_at"]))
        self.control("POST", "clock", {"advance": 5})
        updated = self.api("POST", "/customers/t", {"first_name": "T"})[1]["customer"]
        self.assertEqual(1_650_000_005, updated["updated_at"])
        self.assertGreater(updated["resource_version"], customer["resource_version"])


if chargebee is not None:
    class OfficialClientTests(FakeCase):
        def setUp(self):
            super().setUp()
            chargebee.Chargebee.verify_ca_certs = False  # else the client forces https
            self.cb = self.client(API_KEY)

        def client(self, key):
            cb = chargebee.Chargebee(api_key=key, site="acme-test", protocol="http")
            cb.env.api_endpoint = f"{self.base}/api/v2"  # the only patch: the base URL
            return cb

        def test_customers_create_retrieve_list_with_paging(self):
            made = self.cb.Customer.create({"id": "sdk-1", "first_name": "Ada", "email": "ada@example.com",
                                            "billing_address": {"line1": "1 Main", "country": "FR"},
                                            "meta_data": json.dumps({"crm": "x"})})  # the client would send a dict as its repr
            self.assertEqual(("sdk-1", "1 Main"), (made.customer.id, made.customer.billing_address.line1))
            self.assertEqual("Ada", self.cb.Customer.retrieve("sdk-1").customer.first_name)
            # An update takes the SDK's UpdateParams; the address and the VAT number go through update_billing_info.
            self.assertEqual("Ada L.", self.cb.Customer.update("sdk-1", {"first_name": "Ada L."}).customer.first_name)
            with self.assertRaises(chargebee.InvalidRequestError):
                self.cb.Customer.update("sdk-1", {"vat_number": "FR40303265045"})
            billed = self.cb.Customer.update_billing_info("sdk-1", {"vat_number": "FR40303265045", "billing_address": {"city": "Lyon"}})
            self.assertEqual(("FR40303265045", "Lyon", "1 Main"),
                             (billed.customer.vat_number, billed.customer.billing_address.city, billed.customer.billing_address.line1))
            for i in range(11):
                self.cb.Customer.create({"first_name": f"N{i}"})
            first = self.cb.Customer.list({"limit": 10, "sort_by": {"asc": "updated_at"}})
            self.assertEqual(10, len(first.list))
            self.assertIsNotNone(first.next_offset)
            second = self.cb.Customer.list({"limit": 10, "sort_by": {"asc": "updated_at"}, "offset": first.next_offset})
            self.assertEqual(2, len(second.list))
            self.assertIsNone(second.next_offset)
            deleted = self.cb.Customer.delete("sdk-1")
            self.assertTrue(deleted.customer.deleted)

        def test_subscription_invoices_credit_notes_transactions_events_incremental(self):
            self.control("POST", "clock", {"now": 1_700_000_000})
            self.cb.Customer.create({"id": "sdk-2", "card": {"number": "4111111111111111", "expiry_month": 12,
                                                            "expiry_year": 2030}})
            self.control("POST", "clock", {"now": 1_700_000_100})
            made = self.cb.Subscription.create_with_items("sdk-2", {"subscription_items": [
                {"item_price_id": "pro-EUR-monthly", "quantity": 2}, {"item_price_id": "seats-EUR-monthly"}]})
            self.assertEqual((3250, "paid"), (made.invoice.total, made.invoice.status))
            self.cb.CreditNote.create({"reference_invoice_id": made.invoice.id, "total": 250, "type": "refundable",
                                       "reason_code": "order_change"})
            window = {"after": 1_700_000_050}
            invoices = self.cb.Invoice.list({"updated_at": window, "sort_by": {"asc": "updated_at"},
                                             "include_deleted": True, "limit": 100})
            self.assertEqual([made.invoice.id], [e.invoice.id for e in invoices.list])
            self.assertEqual(1, len(self.cb.Invoice.list({"updated_at": {"between": [1_700_000_000, 1_700_000_200]}}).list))
            notes = self.cb.CreditNote.list({"date": window, "sort_by": {"asc": "date"}, "include_deleted": True})
            self.assertEqual([made.invoice.id], [e.credit_note.reference_invoice_id for e in notes.list])
            txns = self.cb.Transaction.list({"updated_at": window, "sort_by": {"asc": "updated_at"}})
            self.assertEqual([("payment", 3250)], [(e.transaction.type, e.transaction.amount) for e in txns.list])
            events = self.cb.Event.list({"occurred_at": {"after": 1_700_000_050}, "sort_by": {"asc": "occurred_at"},
                                         "event_type": {"in": ["invoice_generated", "payment_succeeded"]}})
            self.assertEqual(["invoice_generated", "payment_succeeded"], [e.event.event_type for e in events.list])
            self.assertEqual(made.invoice.id, events.list[0].event.content["invoice"]["id"])
            self.assertEqual(1_700_000_100, events.list[0].event.occurred_at)

        def test_idempotency_replay(self):
            headers = {"chargebee-idempotency-key": "sdk-key-1"}
            one = self.cb.Customer.create({"first_name": "Once"}, headers=dict(headers))
            two = self.cb.Customer.create({"first_name": "Once"}, headers=dict(headers))
            self.assertEqual(one.customer.id, two.customer.id)
            self.assertTrue(two.is_idempotency_replayed)
            self.assertFalse(one.is_idempotency_replayed)

        def test_errors_parsed_by_the_client(self):
            with self.assertRaises(chargebee.APIError) as caught:
                self.client("wrong-key").Customer.list()
            self.assertEqual((401, "api_authentication_failed"), (caught.exception.http_code, caught.exception.api_error_code))
            with self.assertRaises(chargebee.InvalidRequestError) as caught:
                self.cb.Customer.list({"colour": {"is": "red"}})
            self.assertEqual(("param_wrong_value", "colour"), (caught.exception.api_error_code, caught.exception.param))
            self.control("POST", "site", {"rate_limit": 1})
            self.cb.Customer.list()
            with self.assertRaises(chargebee.APIError) as caught:
                self.cb.Customer.list()
            self.assertEqual((429, "api_request_limit_exceeded"), (caught.exception.http_code, caught.exception.api_error_code))
            self.assertIn("retry-after", {k.lower() for k in caught.exception.http_headers})


@unittest.skipIf(chargebee is not None, "the official client runs in this interpreter (OfficialClientTests)")
class OfficialClientInVenv(unittest.TestCase):
    """Runs OfficialClientTests with .build/venv-chargebee's python, where the chargebee package is."""

    def test_the_official_chargebee_client_parses_every_answer(self):
        selftest.run_official_client_checks(self, VENV_PYTHON, "chargebee", "ensure_chargebee_client", "Tests/Fakes/chargebee/requirements-chargebee.txt",
                                            REQUIRE_CLIENT, "CONNECTOR_HOST_REQUIRE_CHARGEBEE_CLIENT", "test_fake_chargebee.OfficialClientTests", HERE, at_least=4)


if __name__ == "__main__":
    unittest.main()
