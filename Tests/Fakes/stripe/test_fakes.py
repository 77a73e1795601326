"""Checks of the two Stripe fakes: localstripe on loopback and our own fake_stripe.py.

Run from the repository root: python3 -m unittest Tests/Fakes/stripe/test_fakes.py
localstripe's tests need the virtualenv of scripts/lib/common.sh ensure_localstripe (.build/venv-localstripe);
without it they are skipped, saying so.

OfficialClientTests drive fake_stripe.py with Stripe's official Python library (stripe, pinned in
requirements-localstripe.txt, installed in that virtualenv): the library must parse every answer. They run in
whichever interpreter has the library; under a python3 without it, OfficialClientInVenv runs them with the
virtualenv's python (a subprocess) or is skipped, saying why.
"""

import hashlib
import hmac
import json
import os
import re
import select
import socket
import sys
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock

try:
    import stripe  # Stripe's official Python library: in .build/venv-localstripe, not in a plain python3
    if getattr(stripe, "__file__", None) is None:  # a folder named stripe/ (like this one) on sys.path, not the library
        stripe = None
except ImportError:
    stripe = None

HERE = Path(__file__).resolve().parent
# The fakes' shared self-test helpers (../common/selftest.py); Tests/Fakes is on sys.path only for this import:
# this folder's name would otherwise stand in for the official library's package.
sys.path.insert(0, str(HERE.parent))
try:
    from common import selftest  # noqa: E402
finally:
    del sys.path[0]
ROOT = HERE.parents[2]
VENV_PYTHON = ROOT / ".build" / "venv-localstripe" / "bin" / "python"
KEY = "sk_test_fakes" + os.urandom(6).hex()
FAKE_API_VERSION = "2024-06-20"  # the shapes fake_stripe.py models; connector-stripe pins it too (StripeSettings)
PINS = HERE / "requirements-localstripe.txt"
STRIPE_PIN = re.search(r"^stripe==(\S+)$", PINS.read_text(), re.M).group(1)


def start(command, what):
    """Starts a fake; returns (process, base URL) from its first line, 'listening 127.0.0.1:PORT'."""
    return selftest.start(command, ROOT, what)


stop = selftest.stop


def call(base, method, path, fields=(), key=KEY, headers=None):
    """One HTTP call; fields are (name, value) pairs, form-encoded (POST) or in the query (GET)."""
    data = urllib.parse.urlencode(list(fields)).encode() if fields else None
    url = base + path
    if method == "GET" and data:
        url, data = url + "?" + data.decode(), None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read() or b"null")


def control(base, path, body=None, method="POST"):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + "/__fake__/" + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=15) as answer:
        return json.loads(answer.read())


def non_loopback_address():
    """This machine's address on its default route (no packet is sent), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


class LoopbackOnly:
    base: str

    def test_bound_to_loopback_only(self):
        address = non_loopback_address()
        if address is None:
            self.skipTest("this machine has no non-loopback IPv4 address to try")
        port = int(self.base.rsplit(":", 1)[1])
        with socket.socket() as loopback:
            loopback.settimeout(2)
            loopback.connect(("127.0.0.1", port))
        with socket.socket() as outside, self.assertRaises(OSError, msg=f"{address}:{port} must be refused"):
            outside.settimeout(2)
            outside.connect((address, port))


@unittest.skipUnless(VENV_PYTHON.exists(), "localstripe is not installed: run scripts/lib/common.sh's ensure_localstripe "
                                           "(it makes .build/venv-localstripe)")
class LocalstripeTests(LoopbackOnly, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pickle = Path("/tmp/localstripe.pickle")
        cls.pickle_before = cls.pickle.stat().st_mtime_ns if cls.pickle.exists() else None
        cls.process, cls.base = start([str(VENV_PYTHON), str(HERE / "localstripe_loopback.py"), "--port", "0"], "localstripe")

    @classmethod
    def tearDownClass(cls):
        stop(cls.process)

    def post(self, path, *fields):
        status, _, body = call(self.base, "POST", path, fields)
        self.assertEqual(200, status, f"{path}: {body}")
        return body

    def test_subscription_flow_lists_events_oldest_first_and_writes_no_pickle(self):
        customer = self.post("/v1/customers", ("name", "Globex"), ("email", "ap@globex.test"))
        product = self.post("/v1/products", ("name", "Pro plan"))
        plan = "pro-" + os.urandom(4).hex()
        self.post("/v1/plans", ("id", plan), ("amount", "12100"), ("currency", "eur"), ("interval", "month"),
                  ("product", product["id"]))
        card = self.post("/v1/payment_methods", ("type", "card"), ("card[number]", "4242424242424242"),
                         ("card[exp_month]", "12"), ("card[exp_year]", "2030"), ("card[cvc]", "123"))
        self.post(f"/v1/payment_methods/{card['id']}/attach", ("customer", customer["id"]))
        self.post(f"/v1/customers/{customer['id']}", ("invoice_settings[default_payment_method]", card["id"]))
        subscription = self.post("/v1/subscriptions", ("customer", customer["id"]), ("items[0][plan]", plan))
        self.assertTrue(subscription["latest_invoice"].startswith("in_"))

        status, _, events = call(self.base, "GET", "/v1/events", [("limit", "100")])
        self.assertEqual(200, status, events)
        types = [e["type"] for e in events["data"]]
        self.assertEqual("customer.created", types[0], "localstripe lists the oldest event first")
        self.assertIn("customer.subscription.created", types)
        self.assertTrue(any(t.startswith("invoice.") for t in types), types)
        created = [e["created"] for e in events["data"]]
        self.assertEqual(sorted(created), created)
        self.assertEqual("2017-08-15", events["data"][0]["api_version"])

        after = self.pickle.stat().st_mtime_ns if self.pickle.exists() else None
        self.assertEqual(self.pickle_before, after, "/tmp/localstripe.pickle must not be written")

    def test_other_event_parameters_are_refused(self):
        status, _, _ = call(self.base, "GET", "/v1/events", [("types[]", "customer.created")])
        self.assertEqual(400, status, "localstripe refuses types[] (our fake_stripe.py has it)")

    def test_invoice_charge_and_refund_lists_take_a_created_range(self):
        customer = self.post("/v1/customers", ("name", "Initech"))
        card = self.post("/v1/payment_methods", ("type", "card"), ("card[number]", "4242424242424242"),
                         ("card[exp_month]", "12"), ("card[exp_year]", "2030"), ("card[cvc]", "123"))
        self.post(f"/v1/payment_methods/{card['id']}/attach", ("customer", customer["id"]))
        charge = self.post("/v1/charges", ("customer", customer["id"]), ("amount", "2500"), ("currency", "eur"),
                           ("source", card["id"]))
        refund = self.post("/v1/refunds", ("charge", charge["id"]), ("amount", "1000"))
        for path, made in (("/v1/charges", charge), ("/v1/refunds", refund)):
            at = str(made["created"])
            for bounds, found in (([("created[gte]", at), ("created[lte]", at)], True), ([("created[gt]", at)], False),
                                  ([("created", at)], True), ([("created[lt]", at)], False)):
                status, _, body = call(self.base, "GET", path, [("limit", "100")] + bounds)
                self.assertEqual(200, status, f"{path} {bounds}: {body}")
                self.assertEqual(found, made["id"] in [o["id"] for o in body["data"]], f"{path} {bounds}")
        status, _, body = call(self.base, "GET", "/v1/invoices", [("created[gte]", "1"), ("created[lte]", "9999999999")])
        self.assertEqual(200, status, body)
        status, _, body = call(self.base, "GET", "/v1/charges", [("created[since]", "1")])
        self.assertEqual(400, status, "an unknown bound is refused, as Stripe does")


class FakeStripeTests(LoopbackOnly, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.process, cls.base = start([sys.executable, str(HERE / "fake_stripe.py"), "--port", "0", "--api-key", KEY],
                                      "fake_stripe.py")

    @classmethod
    def tearDownClass(cls):
        stop(cls.process)

    def setUp(self):
        control(self.base, "reset")

    def api(self, method, path, *fields, **headers):
        return call(self.base, method, path, fields, headers={k.replace("_", "-"): v for k, v in headers.items()})

    def ok(self, method, path, *fields, **headers):
        status, _, body = self.api(method, path, *fields, **headers)
        self.assertEqual(200, status, f"{method} {path}: {body}")
        return body

    def test_keep_alive_with_one_write_per_answer(self):
        port = int(self.base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            for _ in range(3):
                sock.sendall(f"GET /v1/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\r\n".encode())
                select.select([sock], [], [], 5)
                data = sock.recv(65536)  # the whole answer in the first read: written at once, Nagle off
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(re.search(rb"\r\nContent-Length: (\d+)", head).group(1))
                self.assertEqual(length, len(body), data)
                self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
        calls = control(self.base, "calls", method="GET")["calls"]
        self.assertEqual(1, len({c["connection"] for c in calls}), "three calls on one connection")

    def test_refuses_a_missing_or_wrong_key_in_stripes_error_shape(self):
        status, _, body = call(self.base, "GET", "/v1/customers", key=None)
        self.assertEqual(401, status)
        self.assertEqual("invalid_request_error", body["error"]["type"])
        status, _, body = call(self.base, "GET", "/v1/customers", key="sk_test_wrong")
        self.assertEqual(401, status)
        self.assertNotIn("sk_test_wrong", json.dumps(body))

    def test_events_newest_first_paged_across_a_page_boundary(self):
        control(self.base, "clock", {"now": 1_700_000_000})
        names = [f"Customer {i}" for i in range(5)]
        for name in names:
            self.ok("POST", "/v1/customers", ("name", name))
            control(self.base, "clock", {"advance": 10})
        first = self.ok("GET", "/v1/events", ("limit", "2"))
        self.assertEqual(["Customer 4", "Customer 3"], [e["data"]["object"]["name"] for e in first["data"]])
        self.assertTrue(first["has_more"])
        self.assertEqual("list", first["object"])
        self.assertEqual("/v1/events", first["url"])
        second = self.ok("GET", "/v1/events", ("limit", "2"), ("starting_after", first["data"][-1]["id"]))
        self.assertEqual(["Customer 2", "Customer 1"], [e["data"]["object"]["name"] for e in second["data"]])
        self.assertTrue(second["has_more"])
        last = self.ok("GET", "/v1/events", ("limit", "2"), ("starting_after", second["data"][-1]["id"]))
        self.assertEqual(["Customer 0"], [e["data"]["object"]["name"] for e in last["data"]])
        self.assertFalse(last["has_more"])
        newer = self.ok("GET", "/v1/events", ("limit", "2"), ("ending_before", last["data"][0]["id"]))
        self.assertEqual(["Customer 2", "Customer 1"], [e["data"]["object"]["name"] for e in newer["data"]])
        self.assertTrue(newer["has_more"])
        window = self.ok("GET", "/v1/events", ("created[gte]", "1700000010"), ("created[lt]", "1700000030"))
        self.assertEqual(["Customer 2", "Customer 1"], [e["data"]["object"]["name"] for e in window["data"]])
        self.ok("POST", "/v1/products", ("name", "Pro"))
        typed = self.ok("GET", "/v1/events", ("types[]", "product.created"), ("types[]", "price.created"))
        self.assertEqual(["product.created"], [e["type"] for e in typed["data"]])
        wild = self.ok("GET", "/v1/events", ("type", "customer.*"), ("limit", "100"))
        self.assertEqual(5, len(wild["data"]))
        status, _, body = self.api("GET", "/v1/events", ("limit", "101"))
        self.assertEqual((400, "limit"), (status, body["error"]["param"]))

    def test_idempotency_replay_conflict_and_in_flight(self):
        key = "idem-" + os.urandom(4).hex()
        status, _, first = self.api("POST", "/v1/customers", ("name", "Once"), Idempotency_Key=key)
        self.assertEqual(200, status)
        status, headers, again = self.api("POST", "/v1/customers", ("name", "Once"), Idempotency_Key=key)
        self.assertEqual((200, first["id"]), (status, again["id"]))
        self.assertEqual("true", headers["Idempotent-Replayed"])
        status, _, body = self.api("POST", "/v1/customers", ("name", "Other"), Idempotency_Key=key)
        self.assertEqual((400, "idempotency_error"), (status, body["error"]["type"]))
        created = self.ok("GET", "/v1/events", ("type", "customer.created"))
        self.assertEqual(1, len(created["data"]))
        self.assertEqual(key, created["data"][0]["request"]["idempotency_key"])

        control(self.base, "fault", {"kind": "delay", "seconds": 0.6})
        slow_key, results = "idem-slow-" + os.urandom(4).hex(), []
        worker = threading.Thread(target=lambda: results.append(
            self.api("POST", "/v1/customers", ("name", "Slow"), Idempotency_Key=slow_key)))
        worker.start()
        time.sleep(0.2)
        status, _, body = self.api("POST", "/v1/customers", ("name", "Slow"), Idempotency_Key=slow_key)
        worker.join()
        self.assertEqual((409, "idempotency_key_in_use"), (status, body["error"].get("code")))
        self.assertEqual(200, results[0][0])

        calls = control(self.base, "calls", method="GET")["calls"]
        self.assertIn(slow_key, [c["idempotency_key"] for c in calls])

    def test_queued_faults_429_with_retry_after_lock_timeout_and_a_replayed_500(self):
        control(self.base, "fault", [{"kind": "rate_limit", "count": 2, "retry_after": 3, "should_retry": True},
                                     {"kind": "lock_timeout", "path": "/v1/customers", "should_retry": False}])
        for _ in range(2):
            status, headers, body = self.api("GET", "/v1/customers")
            self.assertEqual((429, "rate_limit"), (status, body["error"]["code"]))
            self.assertEqual(("3", "true"), (headers["Retry-After"], headers["Stripe-Should-Retry"]))
        status, headers, body = self.api("POST", "/v1/customers", ("name", "Locked"))
        self.assertEqual((429, "lock_timeout", "false"), (status, body["error"]["code"], headers["Stripe-Should-Retry"]))
        self.ok("GET", "/v1/customers")

        control(self.base, "fault", {"kind": "api_error"})
        key = "idem-500-" + os.urandom(4).hex()
        status, _, body = self.api("POST", "/v1/customers", ("name", "Broken"), Idempotency_Key=key)
        self.assertEqual((500, "api_error"), (status, body["error"]["type"]))
        status, headers, _ = self.api("POST", "/v1/customers", ("name", "Broken"), Idempotency_Key=key)
        self.assertEqual((500, "true"), (status, headers["Idempotent-Replayed"]), "Stripe replays a 500 under its key")

        control(self.base, "fault", {"kind": "invalid_request", "method": "POST"})
        key = "idem-400-" + os.urandom(4).hex()
        status, _, body = self.api("POST", "/v1/customers", ("name", "Refused"), Idempotency_Key=key)
        self.assertEqual((400, "parameter_invalid_string"), (status, body["error"]["code"]))
        status, headers, _ = self.api("POST", "/v1/customers", ("name", "Refused"), Idempotency_Key=key)
        self.assertEqual((200, None), (status, headers.get("Idempotent-Replayed")), "a validation failure is not stored")

    def test_payment_and_refund_balance_transactions_carry_the_fee(self):
        customer = self.ok("POST", "/v1/customers", ("name", "Payer"))
        intent = self.ok("POST", "/v1/payment_intents", ("amount", "10000"), ("currency", "eur"),
                         ("customer", customer["id"]), ("payment_method", "pm_card_visa"), ("confirm", "true"),
                         ("expand[]", "latest_charge.balance_transaction"))
        self.assertEqual("succeeded", intent["status"])
        txn = intent["latest_charge"]["balance_transaction"]
        self.assertEqual((10000, 320, 9680), (txn["amount"], txn["fee"], txn["net"]))  # 2.9 % + 30
        self.assertEqual("stripe_fee", txn["fee_details"][0]["type"])
        self.assertEqual(txn, self.ok("GET", f"/v1/balance_transactions/{txn['id']}"))
        refund = self.ok("POST", "/v1/refunds", ("payment_intent", intent["id"]), ("amount", "2500"))
        back = self.ok("GET", f"/v1/balance_transactions/{refund['balance_transaction']}")
        self.assertEqual((-2500, -2500), (back["amount"], back["net"]))
        charge = self.ok("GET", f"/v1/charges/{intent['latest_charge']['id']}")
        self.assertEqual((2500, False), (charge["amount_refunded"], charge["refunded"]))
        types = [e["type"] for e in self.ok("GET", "/v1/events", ("limit", "100"))["data"]]
        for wanted in ("charge.succeeded", "payment_intent.succeeded", "refund.created", "charge.refunded"):
            self.assertIn(wanted, types)

    def test_invoice_with_lines_and_tax_finalized_and_paid(self):
        customer = self.ok("POST", "/v1/customers", ("name", "Taxed"))
        price = self.ok("POST", "/v1/prices", ("currency", "eur"), ("unit_amount", "5000"), ("product_data[name]", "Seat"),
                        ("recurring[interval]", "month"))
        self.assertEqual({"interval": "month", "interval_count": 1}, {k: price["recurring"][k] for k in ("interval", "interval_count")})
        vat = self.ok("POST", "/v1/tax_rates", ("display_name", "VAT"), ("percentage", "21"), ("inclusive", "false"))
        invoice = control(self.base, "invoice", {"customer": customer["id"], "paid": True,
                                                 "lines": [{"price": price["id"], "quantity": 3, "tax_rates": [vat["id"]]}]})
        self.assertEqual(("paid", 15000, 3150, 18150, 18150),
                         (invoice["status"], invoice["subtotal"], invoice["tax"], invoice["total"], invoice["amount_paid"]))
        self.assertEqual(3150, invoice["lines"]["data"][0]["tax_amounts"][0]["amount"])
        types = [e["type"] for e in self.ok("GET", "/v1/events", ("limit", "100"))["data"]]
        self.assertLess(types.index("invoice.paid"), types.index("invoice.finalized"), "newest first")

    def test_signed_webhooks_with_two_secrets_then_stale_and_forged_sends(self):
        received = []

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.headers["Stripe-Signature"], body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        try:
            old, new = "whsec_old" + os.urandom(8).hex(), "whsec_new" + os.urandom(8).hex()
            control(self.base, "webhooks", {"url": f"http://127.0.0.1:{receiver.server_address[1]}/hooks", "secrets": [old, new]})
            customer = self.ok("POST", "/v1/customers", ("name", "Hooked"))
            deadline = time.time() + 5
            while not received and time.time() < deadline:
                time.sleep(0.02)
            self.assertTrue(received, "the customer.created event was not delivered")
            header, body = received[0]
            parts = [p.split("=", 1) for p in header.split(",")]
            timestamp = int(dict(parts)["t"])
            v1 = [v for k, v in parts if k == "v1"]
            self.assertEqual(2, len(v1), header)
            for secret, signature in zip((old, new), v1):
                expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
                self.assertTrue(hmac.compare_digest(expected, signature))
            self.assertLess(abs(time.time() - timestamp), 60)
            event = json.loads(body)
            self.assertEqual(("customer.created", customer["id"]), (event["type"], event["data"]["object"]["id"]))

            stale = control(self.base, "webhooks/send", {"event": event["id"], "age": 600})
            self.assertAlmostEqual(timestamp - 600, stale["timestamp"], delta=2, msg=stale)
            forged = control(self.base, "webhooks/send", {"event": event["id"], "forge": True})
            self.assertEqual(200, forged["status"])
            header, body = received[-1]
            parts = [p.split("=", 1) for p in header.split(",")]
            signed = f"{dict(parts)['t']}.".encode() + body
            for secret in (old, new):
                good = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
                self.assertNotIn(good, [v for k, v in parts if k == "v1"])
        finally:
            receiver.shutdown()
            receiver.server_close()


def start_receiver(received):
    """A webhook receiver on 127.0.0.1 that keeps (Stripe-Signature, body) of each POST and answers 200."""

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers.get("Stripe-Signature"), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    return receiver


def wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


if stripe is not None:
    class OfficialClientTests(unittest.TestCase):
        """fake_stripe.py through stripe-python (the pinned version), pointed at it with stripe.api_base: every
        answer must parse into the library's objects, lists and error classes."""

        @classmethod
        def setUpClass(cls):
            cls.process, cls.base = start([sys.executable, str(HERE / "fake_stripe.py"), "--port", "0", "--api-key", KEY],
                                          "fake_stripe.py")
            stripe.api_base = cls.base
            # stripe-python 16.1.0 would ask for its own version (stripe.api_version, 2026-10-28.endive); the checks
            # ask for the one the fake models and connector-stripe sends
            stripe.api_version = FAKE_API_VERSION

        @classmethod
        def tearDownClass(cls):
            stop(cls.process)

        def setUp(self):
            control(self.base, "reset")
            stripe.api_key = KEY
            stripe.max_network_retries = 0  # the library retries only where a test asks it to

        def calls(self, method=None):
            return [c for c in control(self.base, "calls", method="GET")["calls"] if method in (None, c["method"])]

        def test_the_pinned_library_version(self):
            self.assertEqual(STRIPE_PIN, stripe.VERSION, "requirements-localstripe.txt pins the library these checks use")

        def test_customer_create_retrieve_update_list_and_its_events(self):
            created = stripe.Customer.create(name="Globex", email="ap@globex.test", address={"country": "BE", "city": "Gent"},
                                             metadata={"erp_id": "42"})
            self.assertIsInstance(created, stripe.Customer)
            self.assertTrue(created.id.startswith("cus_"))
            self.assertEqual(("BE", "Gent", "42"), (created.address.country, created.address.city, created.metadata["erp_id"]))
            self.assertTrue(created.last_response.request_id.startswith("req_"))
            fetched = stripe.Customer.retrieve(created.id)
            self.assertEqual(created.to_dict(), fetched.to_dict())
            updated = stripe.Customer.modify(created.id, name="Globex Corp", metadata={"erp_id": ""})
            self.assertEqual(("Globex Corp", {}), (updated.name, updated.metadata.to_dict()))
            self.assertEqual([created.id], [c.id for c in stripe.Customer.list(email="ap@globex.test").data])
            event = stripe.Event.list(type="customer.updated").data[0]
            self.assertIsInstance(event, stripe.Event)
            self.assertIsInstance(event.data.object, stripe.Customer)
            self.assertEqual({"name": "Globex", "metadata": {"erp_id": "42"}}, event.data.previous_attributes.to_dict())

        def test_events_auto_paging_newest_first_then_backwards_and_filters(self):
            control(self.base, "clock", {"now": 1_700_000_000})
            for i in range(7):
                stripe.Customer.create(name=f"Customer {i}")
                control(self.base, "clock", {"advance": 10})
            control(self.base, "calls", method="DELETE")
            names = [e.data.object.name for e in stripe.Event.list(limit=2).auto_paging_iter()]
            self.assertEqual([f"Customer {i}" for i in reversed(range(7))], names)
            pages = [c["query"] for c in self.calls("GET")]
            self.assertEqual(4, len(pages), pages)
            self.assertEqual(3, sum("starting_after" in q for q in pages), pages)
            oldest = stripe.Event.list(limit=100).data[-1]
            later = [e.data.object.name for e in stripe.Event.list(limit=2, ending_before=oldest.id).auto_paging_iter()]
            self.assertEqual([f"Customer {i}" for i in range(1, 7)], later, "ending_before pages toward the newest")
            window = stripe.Event.list(types=["customer.created"], created={"gte": 1_700_000_020, "lt": 1_700_000_040})
            self.assertEqual(["Customer 3", "Customer 2"], [e.data.object.name for e in window.data])
            self.assertEqual(window.data[0].to_dict(), stripe.Event.retrieve(window.data[0].id).to_dict())

        def test_charges_payment_intents_refunds_and_balance_transactions(self):
            customer = stripe.Customer.create(name="Payer")
            charge = stripe.Charge.create(amount=10_000, currency="eur", customer=customer.id, source="tok_visa",
                                          expand=["balance_transaction"])
            self.assertIsInstance(charge, stripe.Charge)
            txn = charge.balance_transaction
            self.assertIsInstance(txn, stripe.BalanceTransaction)
            self.assertEqual((10_000, 320, 9_680, "stripe_fee"), (txn.amount, txn.fee, txn.net, txn.fee_details[0].type))
            self.assertEqual(txn.to_dict(), stripe.BalanceTransaction.retrieve(txn.id).to_dict())
            self.assertEqual(txn.id, stripe.Charge.retrieve(charge.id).balance_transaction)
            intent = stripe.PaymentIntent.create(amount=5_000, currency="eur", customer=customer.id, payment_method="pm_card_visa")
            self.assertEqual("requires_confirmation", intent.status)
            intent = stripe.PaymentIntent.confirm(intent.id, expand=["latest_charge.balance_transaction"])
            self.assertEqual("succeeded", intent.status)
            self.assertIsInstance(intent.latest_charge, stripe.Charge)
            self.assertEqual(175, intent.latest_charge.balance_transaction.fee)  # 2.9 % of 50.00 + 0.30
            refund = stripe.Refund.create(payment_intent=intent.id, amount=1_000)
            self.assertIsInstance(refund, stripe.Refund)
            self.assertEqual([(-1_000, 0)], [(t.amount, t.fee) for t in stripe.BalanceTransaction.list(source=refund.id).data])
            self.assertEqual(1_000, stripe.Charge.retrieve(intent.latest_charge.id).amount_refunded)
            charges = list(stripe.Charge.list(customer=customer.id, limit=1).auto_paging_iter())
            self.assertEqual([intent.latest_charge.id, charge.id], [c.id for c in charges])
            intents = stripe.PaymentIntent.list(customer=customer.id, expand=["data.latest_charge"]).data
            self.assertEqual([(intent.id, 5_000)], [(i.id, i.latest_charge.amount) for i in intents])

        def test_invoice_with_items_and_tax_finalized_paid_and_voided(self):
            customer = stripe.Customer.create(name="Taxed", email="ap@taxed.test")
            product = stripe.Product.create(name="Seat")
            price = stripe.Price.create(product=product.id, unit_amount=5_000, currency="eur", recurring={"interval": "month"})
            self.assertEqual(("month", 1), (price.recurring.interval, price.recurring.interval_count))
            vat = stripe.TaxRate.create(display_name="VAT", percentage=21, inclusive=False)
            invoice = stripe.Invoice.create(customer=customer.id, default_tax_rates=[vat.id])
            self.assertIsInstance(stripe.InvoiceItem.create(customer=customer.id, price=price.id, quantity=3, invoice=invoice.id),
                                  stripe.InvoiceItem)
            stripe.InvoiceItem.create(customer=customer.id, amount=2_000, currency="eur", invoice=invoice.id)
            lines = list(stripe.Invoice.list_lines(invoice.id, limit=1).auto_paging_iter())
            self.assertEqual([(15_000, 3_150), (2_000, 420)], [(line.amount, line.tax_amounts[0].amount) for line in lines])
            self.assertIsInstance(lines[0], stripe.InvoiceLineItem)
            invoice = stripe.Invoice.finalize_invoice(invoice.id)
            self.assertEqual(("open", 20_570), (invoice.status, invoice.amount_due))
            invoice = stripe.Invoice.pay(invoice.id)
            self.assertEqual(("paid", 20_570), (invoice.status, invoice.amount_paid))
            draft = stripe.Invoice.create(customer=customer.id)
            stripe.InvoiceItem.create(customer=customer.id, amount=300, currency="eur", invoice=draft.id)
            stripe.Invoice.finalize_invoice(draft.id)
            self.assertEqual("void", stripe.Invoice.void_invoice(draft.id).status)
            paid = stripe.Invoice.list(customer=customer.id, status="paid")
            self.assertEqual([invoice.id], [i.id for i in paid.auto_paging_iter()])
            embedded = stripe.Event.list(type="invoice.paid").data[0].data.object.lines
            self.assertEqual([15_000, 2_000], [line.amount for line in embedded.auto_paging_iter()])

        def raised(self, call, fault=None):
            if fault:
                control(self.base, "fault", fault)
            with self.assertRaises(stripe.error.StripeError) as caught:
                call()
            return caught.exception

        def test_error_answers_become_the_librarys_error_classes(self):
            error = self.raised(stripe.Customer.list, {"kind": "rate_limit", "retry_after": 3})
            self.assertIs(stripe.error.RateLimitError, type(error))
            # stripe-python builds RateLimitError without its code: the code is in error.error (the parsed body)
            self.assertEqual((429, "rate_limit", "3"), (error.http_status, error.error.code, error.headers["Retry-After"]))
            self.assertTrue(error.request_id.startswith("req_"))
            error = self.raised(stripe.Customer.list, {"kind": "lock_timeout"})
            self.assertEqual((stripe.error.RateLimitError, "lock_timeout"), (type(error), error.error.code))
            error = self.raised(stripe.Customer.list, {"kind": "unauthorized"})
            self.assertEqual((stripe.error.AuthenticationError, 401), (type(error), error.http_status))
            stripe.api_key = "sk_test_wrong"
            error = self.raised(stripe.Customer.list)
            self.assertEqual((stripe.error.AuthenticationError, 401), (type(error), error.http_status))
            self.assertNotIn("sk_test_wrong", str(error.json_body))
            stripe.api_key = KEY
            error = self.raised(lambda: stripe.Customer.create(nope="x"))
            self.assertEqual((stripe.error.InvalidRequestError, 400, "nope", "parameter_unknown"),
                             (type(error), error.http_status, error.param, error.code))
            error = self.raised(lambda: stripe.Event.list(limit=101))
            self.assertEqual((stripe.error.InvalidRequestError, "limit"), (type(error), error.param))
            error = self.raised(lambda: stripe.InvoiceItem.create(customer="cus_missing", amount=1, currency="eur"))
            self.assertEqual((stripe.error.InvalidRequestError, 400, "customer", "resource_missing"),
                             (type(error), error.http_status, error.param, error.code))
            error = self.raised(lambda: stripe.Customer.retrieve("cus_missing"))
            self.assertEqual((stripe.error.InvalidRequestError, 404, "resource_missing"), (type(error), error.http_status, error.code))
            error = self.raised(lambda: stripe.Customer.create(name="x"), {"kind": "invalid_request"})
            self.assertEqual((stripe.error.InvalidRequestError, "parameter_invalid_string"), (type(error), error.code))
            for kind, status in (("api_error", 500), ("unavailable", 503)):
                error = self.raised(stripe.Customer.list, {"kind": kind})
                self.assertEqual((stripe.error.APIError, status), (type(error), error.http_status))
            for status, cls in ((402, stripe.error.CardError), (403, stripe.error.PermissionError), (502, stripe.error.APIError)):
                error = self.raised(stripe.Customer.list, {"kind": "status", "status": status})
                self.assertEqual((cls, status), (type(error), error.http_status))
            error = self.raised(stripe.Customer.list, {"kind": "retry_after", "status": 503, "retry_after": 9})
            self.assertEqual((stripe.error.APIError, "9"), (type(error), error.headers["Retry-After"]))
            error = self.raised(stripe.Customer.list, {"kind": "drop"})
            self.assertIs(stripe.error.APIConnectionError, type(error))
            error = self.raised(stripe.Customer.list, {"kind": "garbage"})
            self.assertIs(stripe.error.APIError, type(error))
            self.assertIn("Invalid response body", str(error))

        def test_idempotent_replay_and_the_librarys_own_keys(self):
            key = "order-" + os.urandom(4).hex()
            first = stripe.Customer.create(name="Once", idempotency_key=key)
            again = stripe.Customer.create(name="Once", idempotency_key=key)
            self.assertEqual(first.id, again.id)
            self.assertIsNone(first.last_response.headers.get("Idempotent-Replayed"))
            self.assertEqual("true", again.last_response.headers["Idempotent-Replayed"])
            self.assertEqual(1, len(stripe.Event.list(type="customer.created").data))
            error = self.raised(lambda: stripe.Customer.create(name="Other", idempotency_key=key))
            self.assertEqual((stripe.error.IdempotencyError, 400), (type(error), error.http_status))
            stripe.Customer.create(name="Keyless")
            posts = self.calls("POST")
            self.assertEqual([key, key, key], [c["idempotency_key"] for c in posts[:3]])
            self.assertTrue(posts[3]["idempotency_key"], "stripe-python puts a key of its own on every POST")
            self.assertEqual([False, True, False, False], [c["replayed"] for c in posts])

            control(self.base, "fault", {"kind": "delay", "seconds": 0.6, "method": "POST"})
            slow_key, results = "slow-" + os.urandom(4).hex(), []
            worker = threading.Thread(target=lambda: results.append(stripe.Customer.create(name="Slow", idempotency_key=slow_key)))
            worker.start()
            self.assertTrue(wait_for(lambda: any(c["idempotency_key"] == slow_key and c["fault"] == "delay"
                                                for c in self.calls())), "the slow call is in flight")
            error = self.raised(lambda: stripe.Customer.create(name="Slow", idempotency_key=slow_key))
            worker.join()
            self.assertEqual((stripe.error.APIError, 409, "idempotency_key_in_use"), (type(error), error.http_status, error.error.code))
            self.assertEqual(["Slow"], [c.name for c in results])

        def test_the_librarys_retries_reuse_the_key_and_meet_stripes_replays(self):
            stripe.max_network_retries = 2
            with mock.patch.object(stripe._http_client.HTTPClient, "_sleep_time_seconds", return_value=0.0):
                control(self.base, "fault", {"kind": "rate_limit", "method": "POST"})
                self.raised(lambda: stripe.Customer.create(name="Not retried"))  # a 429 alone is not retried
                control(self.base, "fault", {"kind": "rate_limit", "method": "POST", "should_retry": True})
                stripe.Customer.create(name="Retried")
                control(self.base, "fault", {"kind": "drop", "phase": "after", "method": "POST"})
                lost = stripe.Customer.create(name="Answer lost")
                self.assertEqual("true", lost.last_response.headers["Idempotent-Replayed"])
                control(self.base, "fault", {"kind": "api_error", "method": "POST"})
                error = self.raised(lambda: stripe.Customer.create(name="Broken"))
                self.assertEqual((stripe.error.APIError, "true"), (type(error), error.headers["Idempotent-Replayed"]))
            posts = self.calls("POST")
            self.assertEqual([(429, False)], [(c["status"], c["replayed"]) for c in posts[:1]])
            tries = [(c["status"], c["replayed"]) for c in posts[1:]]
            self.assertEqual([(429, False), (200, False), (None, False), (200, True), (500, False), (500, True), (500, True)], tries)
            keys = [c["idempotency_key"] for c in posts[1:]]
            self.assertEqual([keys[0]] * 2 + [keys[2]] * 2 + [keys[4]] * 3, keys, "each retry under the first try's key")
            names = [c.name for c in stripe.Customer.list(limit=100).auto_paging_iter()]
            self.assertEqual(["Answer lost", "Retried"], names, "each created once; the 429s, the 500 created none")

        def test_webhook_deliveries_verify_with_the_librarys_signature_check(self):
            received = []
            receiver = start_receiver(received)
            self.addCleanup(receiver.server_close)
            self.addCleanup(receiver.shutdown)
            old, new = "whsec_old" + os.urandom(8).hex(), "whsec_new" + os.urandom(8).hex()
            control(self.base, "webhooks", {"url": f"http://127.0.0.1:{receiver.server_address[1]}/hooks", "secrets": [old, new]})
            customer = stripe.Customer.create(name="Hooked")
            self.assertTrue(wait_for(lambda: received), "the customer.created event was not delivered")
            header, body = received[0]
            for secret in (old, new):
                event = stripe.Webhook.construct_event(body, header, secret)
                self.assertIsInstance(event, stripe.Event)
                self.assertEqual(("customer.created", customer.id), (event.type, event.data.object.id))
            control(self.base, "webhooks/send", {"event": event.id, "age": 600})
            control(self.base, "webhooks/send", {"event": event.id, "forge": True})
            for header, body in received[1:3]:
                with self.assertRaises(stripe.error.SignatureVerificationError):
                    stripe.Webhook.construct_event(body, header, new, tolerance=300)

        def test_keep_alive_and_the_new_style_client(self):
            for i in range(5):
                created = stripe.Customer.create(name=f"Kept {i}")
            self.assertEqual(1, len({c["connection"] for c in self.calls()}), "requests' session keeps one connection")
            self.assertEqual({FAKE_API_VERSION}, {c["stripe_version"] for c in self.calls()})
            self.assertEqual(FAKE_API_VERSION, created.last_response.headers["Stripe-Version"])
            client = stripe.StripeClient(KEY, base_addresses={"api": self.base}, stripe_version=FAKE_API_VERSION,
                                         max_network_retries=0)
            created = client.v1.customers.create(params={"name": "New style", "metadata": {"a": "b"}})
            self.assertEqual(created.id, client.v1.customers.retrieve(created.id).id)
            names = [e.data.object.name for e in client.v1.events.list(params={"limit": 2}).auto_paging_iter()]
            self.assertEqual(["New style"] + [f"Kept {i}" for i in reversed(range(5))], names)
            plain = stripe.StripeClient(KEY, base_addresses={"api": self.base}, stripe_version=FAKE_API_VERSION,
                                        http_client=stripe.UrllibClient(), max_network_retries=0)
            self.assertEqual("b", plain.v1.customers.retrieve(created.id).metadata["a"])


@unittest.skipIf(stripe is not None, "the official client runs in this interpreter (OfficialClientTests)")
class OfficialClientInVenv(unittest.TestCase):
    """Runs OfficialClientTests with the virtualenv's python, where stripe (the official library) is."""

    def test_the_official_stripe_library_parses_every_answer(self):
        selftest.run_official_client_checks(self, VENV_PYTHON, "stripe", "ensure_localstripe", "Tests/Fakes/stripe/requirements-localstripe.txt",
                                            False, "CONNECTOR_HOST_REQUIRE_LOCALSTRIPE", "test_fakes.OfficialClientTests", HERE, 9)

if __name__ == "__main__":
    unittest.main()
