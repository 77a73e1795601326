"""Checks of the two Stripe fakes: localstripe on loopback and our own fake_stripe.py.

Run from the repository root: python3 -m unittest Tests/Fakes/stripe/test_fakes.py
localstripe's tests need the virtualenv of scripts/lib/common.sh ensure_localstripe (.build/venv-localstripe);
without it they are skipped, saying so.
"""

import hashlib
import hmac
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
VENV_PYTHON = ROOT / ".build" / "venv-localstripe" / "bin" / "python"
KEY = "sk_test_fakes" + os.urandom(6).hex()


def start(command, what):
    """Starts a fake; returns (process, base URL) from its first line, 'listening 127.0.0.1:PORT'."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    ready, _, _ = select.select([process.stdout], [], [], 15)
    line = process.stdout.readline().decode().strip() if ready else ""
    if not line.startswith("listening 127.0.0.1:"):
        process.kill()
        raise RuntimeError(f"{what} did not start: first line {line!r}")
    return process, "http://" + line.split(" ", 1)[1]


def stop(process):
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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


if __name__ == "__main__":
    unittest.main()
