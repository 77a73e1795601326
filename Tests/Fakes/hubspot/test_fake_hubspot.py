"""Checks of fake_hubspot.py: raw HTTP (what the official client cannot reach) and HubSpot's official Python client.

Run from the repository root: python3 -m unittest Tests/Fakes/hubspot/test_fake_hubspot.py   (about 15 s)

RawHttpTests need nothing but python3. OfficialClientTests drive the fake with hubspot-api-client (pinned in
requirements-hubspot.txt; scripts/lib/common.sh ensure_hubspot_client installs it into .build/venv-hubspot): every
answer must parse in the client's models. They run in whichever interpreter has the client; under a python3
without it, OfficialClientInVenv runs them with the virtualenv's python (a subprocess). Without the virtualenv
that check is skipped, saying why, or fails when CONNECTOR_HOST_REQUIRE_HUBSPOT_CLIENT=1 (scripts/test sets it).
"""

import base64
import hashlib
import hmac
import importlib.util
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
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

try:
    import hubspot  # HubSpot's official client: in .build/venv-hubspot, not in a plain python3
    if getattr(hubspot, "__file__", None) is None:  # a folder named hubspot/ (like this one) on sys.path
        hubspot = None
except ImportError:
    hubspot = None

HERE = Path(__file__).resolve().parent
# The fakes' shared self-test helpers (../common/selftest.py); Tests/Fakes is on sys.path only for this import:
# this folder's name would otherwise stand in for the official client's package.
sys.path.insert(0, str(HERE.parent))
try:
    from common import selftest  # noqa: E402
finally:
    del sys.path[0]
ROOT = HERE.parents[2]
FAKE = HERE / "fake_hubspot.py"
VENV_PYTHON = ROOT / ".build" / "venv-hubspot" / "bin" / "python"
PINS = HERE / "requirements-hubspot.txt"
CLIENT_PIN = re.search(r"^hubspot-api-client==(\S+)$", PINS.read_text(), re.M).group(1)
REQUIRE_CLIENT = os.environ.get("CONNECTOR_HOST_REQUIRE_HUBSPOT_CLIENT") == "1"

TOKEN = "pat-na1-test-" + os.urandom(6).hex()
CLIENT_ID = "client-" + os.urandom(4).hex()
CLIENT_SECRET = "secret-" + os.urandom(8).hex()
REFRESH = "refresh-" + os.urandom(8).hex()
COMMAND = [sys.executable, str(FAKE), "--port", "0", "--private-app-token", TOKEN, "--client-id", CLIENT_ID,
           "--client-secret", CLIENT_SECRET, "--refresh-token", REFRESH, "--unique-property", "companies:odoo_id",
           "--property", "contacts:odoo_ref"]


def load_fake_module():
    """fake_hubspot.py as a module, without putting Tests/Fakes (or this folder) on sys.path."""
    spec = importlib.util.spec_from_file_location("fake_hubspot_under_test", FAKE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start():
    return selftest.start(COMMAND, ROOT, "fake_hubspot.py")


stop = selftest.stop


def api(base, method, path, body=None, token=TOKEN, form=None, raw=None, content_type="application/json"):
    """One call; returns (status, headers, parsed JSON or None)."""
    data = raw if raw is not None else urllib.parse.urlencode(form).encode() if form is not None else \
        json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded" if form is not None else content_type)
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            text = answer.read()
            return answer.status, answer.headers, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        text = error.read()
        return error.code, error.headers, json.loads(text) if text else None


def control(base, name, body=None, method="POST"):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}/__fake__/{name}", data=data, method=method)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


class Receiver:
    """A webhook target on loopback: keeps (path, headers, raw body) of each POST, answers ``status``."""

    def __init__(self, status=200):
        self.received, self.names, self.status = [], [], status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.received.append((self.path, self.headers, body))  # a Message: .get() ignores case
                outer.names.append(list(self.headers.keys()))
                reply = b'' if outer.status == 204 else b'{"ok":true}'
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hubspot/webhook?source=fake"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def ms_of(iso_text):
    return int(datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp() * 1000)


class FakeCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.process, cls.base = start()

    @classmethod
    def tearDownClass(cls):
        stop(cls.process)

    def setUp(self):
        control(self.base, "reset")

    def call(self, method, path, body=None, **kw):
        return api(self.base, method, path, body, **kw)

    def ok(self, method, path, body=None, status=200, **kw):
        got, headers, answer = self.call(method, path, body, **kw)
        self.assertEqual(status, got, f"{method} {path}: {answer}")
        return answer

    def search(self, type_name, body, status=200):
        return self.ok("POST", f"/crm/v3/objects/{type_name}/search", body, status=status)

    def assert_error(self, answer, category, status_text="error"):
        self.assertEqual(status_text, answer["status"])
        self.assertEqual(category, answer["category"])
        self.assertTrue(answer["message"])
        self.assertRegex(answer["correlationId"], r"^[0-9a-f-]{36}$")


class RawHttpTests(FakeCase):
    """What the official client hides or cannot reach: headers, exact error bodies, limits, faults, controls."""

    def test_auth_missing_wrong_and_revoked_tokens_are_401(self):
        for token in (None, "pat-na1-wrong"):
            status, headers, answer = self.call("GET", "/crm/v3/objects/contacts", token=token)
            self.assertEqual(401, status)
            self.assert_error(answer, "INVALID_AUTHENTICATION")
            self.assertIsNone(headers.get("X-HubSpot-RateLimit-Max"), "a refused call is not counted")
        self.ok("GET", "/crm/v3/objects/contacts")
        self.assertEqual({"revoked": True}, control(self.base, "tokens/revoke", {"token": TOKEN}))
        status, _, answer = self.call("GET", "/crm/v3/objects/contacts")
        self.assertEqual((401, "INVALID_AUTHENTICATION"), (status, answer["category"]))

    def test_oauth_access_token_expires_by_the_clock_with_hubspots_body_and_refresh_gives_new_tokens(self):
        control(self.base, "clock", {"now": 1_773_183_881})
        issued = control(self.base, "tokens", {"expires_in": 60})
        self.assertEqual(60, issued["expires_in"])
        self.ok("GET", "/crm/v3/objects/companies", token=issued["access_token"])
        control(self.base, "clock", {"advance": 61})
        status, _, answer = self.call("GET", "/crm/v3/objects/companies", token=issued["access_token"])
        self.assertEqual(401, status)
        self.assert_error(answer, "EXPIRED_AUTHENTICATION")
        self.assertEqual("The OAuth token used to make this call expired 1 second(s) ago.", answer["message"])
        self.assertEqual({"expire time": ["2026-03-10T23:05:41.000Z"]}, answer["context"])

        form = {"grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                "refresh_token": REFRESH}
        first = self.ok("POST", "/oauth/v1/token", token=None, form=form)
        self.assertEqual({"token_type", "access_token", "refresh_token", "expires_in", "hub_id", "scopes", "user_id",
                          "token_use"}, set(first))
        self.assertEqual(("bearer", 1800, "access_token"), (first["token_type"], first["expires_in"], first["token_use"]))
        self.assertNotEqual(REFRESH, first["refresh_token"], "each refresh answers a new refresh token")
        self.ok("GET", "/crm/v3/objects/companies", token=first["access_token"])
        second = self.ok("POST", "/oauth/v1/token", token=None, form=form)  # the old refresh token stays valid
        self.assertNotEqual(first["access_token"], second["access_token"])
        control(self.base, "clock", {"advance": 1799})
        self.ok("GET", "/crm/v3/objects/companies", token=first["access_token"])
        control(self.base, "clock", {"advance": 1})
        self.assertEqual(401, self.call("GET", "/crm/v3/objects/companies", token=first["access_token"])[0])

        for field, value, expected in (("client_secret", "wrong", "BAD_CLIENT_SECRET"), ("client_id", "x", "BAD_CLIENT_ID"),
                                       ("refresh_token", "unknown", "BAD_REFRESH_TOKEN"),
                                       ("grant_type", "password", "BAD_GRANT_TYPE")):
            status, _, answer = self.call("POST", "/oauth/v1/token", token=None, form={**form, field: value})
            self.assertEqual((400, expected), (status, answer["status"]), answer)
            self.assertIn("correlationId", answer)
        status, _, _ = self.call("POST", "/oauth/v1/token", form, token=None)  # JSON, not a form
        self.assertEqual(415, status)

        control(self.base, "oauth", {"rotate_refresh_tokens": True})
        rotated = self.ok("POST", "/oauth/v1/token", token=None, form={**form, "refresh_token": second["refresh_token"]})
        status, _, answer = self.call("POST", "/oauth/v1/token", token=None,
                                      form={**form, "refresh_token": second["refresh_token"]})
        self.assertEqual((400, "BAD_REFRESH_TOKEN"), (status, answer["status"]), "rotation: the used one is gone")
        control(self.base, "tokens/revoke", {"token": rotated["refresh_token"]})
        status, _, _ = self.call("POST", "/oauth/v1/token", token=None, form={**form, "refresh_token": rotated["refresh_token"]})
        self.assertEqual(400, status)
        info = self.ok("GET", f"/oauth/v1/access-tokens/{rotated['access_token']}", token=None)
        self.assertEqual((12345678, 1800), (info["hub_id"], info["expires_in"]))

    def test_rate_limit_headers_per_token_and_a_429_storm(self):
        status, headers, _ = self.call("GET", "/crm/v3/objects/contacts")
        self.assertEqual(("190", "189", "10000"), (headers["X-HubSpot-RateLimit-Max"], headers["X-HubSpot-RateLimit-Remaining"],
                                                   headers["X-HubSpot-RateLimit-Interval-Milliseconds"]))
        self.assertEqual("625000", headers["X-HubSpot-RateLimit-Daily"])
        control(self.base, "ratelimit", {"max": 3, "reset": True})
        remaining = [self.call("GET", "/crm/v3/objects/contacts")[1]["X-HubSpot-RateLimit-Remaining"] for _ in range(3)]
        self.assertEqual(["2", "1", "0"], remaining)
        for _ in range(3):  # a storm: every further call is refused, none counted
            status, headers, answer = self.call("GET", "/crm/v3/objects/contacts")
            self.assertEqual(429, status)
            self.assertEqual({"status", "message", "errorType", "correlationId", "policyName", "requestId", "category"},
                             set(answer))
            self.assertEqual(("error", "RATE_LIMIT", "TEN_SECONDLY_ROLLING"),
                             (answer["status"], answer["errorType"], answer["policyName"]))
            self.assertTrue(1 <= int(headers["Retry-After"]) <= 10, headers["Retry-After"])
            self.assertEqual(("3", "0"), (headers["X-HubSpot-RateLimit-Max"], headers["X-HubSpot-RateLimit-Remaining"]))
        other = "pat-na1-other"
        control(self.base, "tokens", {"private_app_token": other})
        self.assertEqual(200, self.call("GET", "/crm/v3/objects/contacts", token=other)[0], "limits are per token")
        control(self.base, "ratelimit", {"max": 190, "reset": True})
        self.assertEqual(200, self.call("GET", "/crm/v3/objects/contacts")[0])
        control(self.base, "ratelimit", {"daily": 1, "reset": True})
        self.ok("GET", "/crm/v3/objects/contacts")
        status, headers, answer = self.call("GET", "/crm/v3/objects/contacts")
        self.assertEqual((429, "DAILY", "0"), (status, answer["policyName"], headers["X-HubSpot-RateLimit-Daily-Remaining"]))

    def test_search_has_its_own_per_second_limit_and_no_rate_limit_headers(self):
        body = {"limit": 1}
        for _ in range(5):
            status, headers, _ = self.call("POST", "/crm/v3/objects/contacts/search", body)
            self.assertEqual(200, status)
            self.assertFalse([h for h in headers if h.lower().startswith("x-hubspot-ratelimit")], dict(headers))
        status, headers, answer = self.call("POST", "/crm/v3/objects/contacts/search", body)
        self.assertEqual((429, "SECONDLY", "RATE_LIMIT"), (status, answer["policyName"], answer["errorType"]))
        self.assertEqual("1", headers["Retry-After"])
        self.assertEqual("189", self.call("GET", "/crm/v3/objects/contacts")[1]["X-HubSpot-RateLimit-Remaining"],
                         "searches do not count against the 10-second window")
        time.sleep(1.05)
        self.assertEqual(200, self.call("POST", "/crm/v3/objects/contacts/search", body)[0])

    def test_search_request_limits_are_400(self):
        control(self.base, "ratelimit", {"search_per_second": 1000})
        f = {"propertyName": "email", "operator": "HAS_PROPERTY"}
        refused = {
            "limit 201": {"limit": 201},
            "6 filterGroups": {"filterGroups": [{"filters": [f]}] * 6},
            "11 filters in a group": {"filterGroups": [{"filters": [f] * 11}]},
            "26 filters in all": {"filterGroups": [{"filters": [f] * 6}] * 4 + [{"filters": [f] * 2}]},
            "two sorts": {"sorts": [{"propertyName": "email"}, {"propertyName": "createdate"}]},
            "after 10000": {"after": "10000"},
            "after 12000": {"after": 12000},
            "an unknown field": {"filter": [f]},
            "an unknown operator": {"filterGroups": [{"filters": [{**f, "operator": "LIKE"}]}]},
            "an unknown property": {"filterGroups": [{"filters": [{**f, "propertyName": "nope"}]}]},
            "a time that is not ms": {"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GT",
                                                                    "value": "yesterday"}]}]},
            "IN without values": {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "IN", "value": "x"}]}]},
            "BETWEEN without highValue": {"filterGroups": [{"filters": [{"propertyName": "createdate", "operator": "BETWEEN",
                                                                        "value": "0"}]}]},
        }
        for what, body in refused.items():
            with self.subTest(what):
                status, _, answer = self.call("POST", "/crm/v3/objects/contacts/search", body)
                self.assertEqual(400, status, f"{what}: {answer}")
                self.assert_error(answer, "VALIDATION_ERROR")
        allowed = {"limit 200": {"limit": 200}, "5 groups of 5": {"filterGroups": [{"filters": [f] * 5}] * 5},
                   "after 9999": {"after": "9999"}, "sorts as strings": {"sorts": ["-createdate"]},
                   "ISO time": {"filterGroups": [{"filters": [{"propertyName": "createdate", "operator": "LT",
                                                               "value": "2030-01-01T00:00:00Z"}]}]}}
        for what, body in allowed.items():
            with self.subTest(what):
                self.search("contacts", body)

    def test_search_operators_sorts_paging_and_archived(self):
        control(self.base, "ratelimit", {"search_per_second": 1000})
        control(self.base, "clock", {"now": 1_700_000_000})
        seeded = control(self.base, "seed", {"objects": [
            {"type": "deals", "ref": "a", "properties": {"dealname": "Alpha Big deal", "dealstage": "closedwon", "amount": "1500.50"}},
            {"type": "deals", "ref": "b", "properties": {"dealname": "Beta small", "dealstage": "qualifiedtobuy", "amount": "99"}},
            {"type": "deals", "ref": "c", "properties": {"dealname": "Gamma big", "dealstage": "closedwon"},
             "updatedAt": 1_700_000_005_000},
            {"type": "deals", "ref": "d", "properties": {"dealname": "Delta", "dealstage": "closedlost", "amount": "20000"},
             "archived": True},
        ]})
        a, b, c = (seeded["refs"][k] for k in "abc")

        def ids(*filters, groups=None, sorts=None):
            body = {"filterGroups": groups if groups is not None else [{"filters": list(filters)}], "limit": 200}
            if sorts:
                body["sorts"] = sorts
            return [r["id"] for r in self.search("deals", body)["results"]]

        F = lambda name, op, **kw: {"propertyName": name, "operator": op, **kw}  # noqa: E731
        self.assertEqual([a, c], ids(F("dealstage", "EQ", value="CLOSEDWON")), "EQ ignores case; archived never found")
        self.assertEqual([b], ids(F("dealstage", "NEQ", value="closedwon")))
        self.assertEqual([a], ids(F("amount", "GT", value="100")), "numbers compare as numbers")
        self.assertEqual([a, b], ids(F("amount", "BETWEEN", value="99", highValue="1500.50")))
        self.assertEqual([a, b], ids(F("dealstage", "IN", values=["closedwon", "qualifiedtobuy"]), F("amount", "HAS_PROPERTY")))
        self.assertEqual([c], ids(F("amount", "NOT_HAS_PROPERTY")))
        self.assertEqual([a, c], ids(F("dealname", "CONTAINS_TOKEN", value="big")))
        self.assertEqual([b], ids(F("dealname", "NOT_CONTAINS_TOKEN", value="big")))
        self.assertEqual([a], ids(F("dealname", "CONTAINS_TOKEN", value="alph*")))
        self.assertEqual([b], ids(F("dealstage", "NOT_IN", values=["closedwon"])))
        self.assertEqual([a, b], ids(groups=[{"filters": [F("amount", "LT", value="100")]},
                                             {"filters": [F("dealname", "CONTAINS_TOKEN", value="alpha")]}]), "groups are OR")
        self.assertEqual([c], ids(F("hs_lastmodifieddate", "GT", value=str(1_700_000_000_000))))
        self.assertEqual([c], ids(F("hs_lastmodifieddate", "GTE", value="2023-11-14T22:13:25Z")), "ISO accepted")
        self.assertEqual([c, a, b], ids(sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "DESCENDING"}]))
        self.assertEqual([b, a, c], ids(sorts=[{"propertyName": "amount", "direction": "ASCENDING"}]), "unset sorts last")
        self.assertEqual([c, a, b], ids(sorts=["-hs_lastmodifieddate"]), "the string form; equal values in id order")

        first = self.search("deals", {"limit": 2, "properties": ["dealname"]})
        self.assertEqual(3, first["total"])
        self.assertEqual({"createdate", "dealname", "hs_lastmodifieddate", "hs_object_id"}, set(first["results"][0]["properties"]))
        self.assertEqual({"next": {"after": "2"}}, first["paging"])
        last = self.search("deals", {"limit": 2, "after": first["paging"]["next"]["after"]})
        self.assertEqual(([c], None), ([r["id"] for r in last["results"]], last.get("paging")))
        default = self.search("deals", {"limit": 1})["results"][0]["properties"]
        self.assertEqual({"amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate",
                          "hs_object_id", "pipeline"}, set(default))

    def test_writes_refuse_what_hubspot_refuses(self):
        status, _, answer = self.call("POST", "/crm/v3/objects/contacts", {"properties": {"email": "a@b.test", "shoe_size": "42"}})
        self.assertEqual(400, status)
        self.assert_error(answer, "VALIDATION_ERROR")
        self.assertTrue(answer["message"].startswith("Property values were not valid: [{"), answer["message"])
        listed = json.loads(answer["message"].split(": ", 1)[1])
        self.assertEqual([("shoe_size", "PROPERTY_DOESNT_EXIST")], [(x["name"], x["error"]) for x in listed])
        self.assertEqual({"propertyName": ["shoe_size"]}, answer["context"])
        refused = [
            ("contacts", {"email": "a@b.test", "firstname": 7}, "INVALID_TYPE"),
            ("contacts", {"email": "not-an-email"}, "INVALID_EMAIL"),
            ("contacts", {"hs_object_id": "5"}, "READ_ONLY_VALUE"),
            ("contacts", {"lastmodifieddate": "5"}, "READ_ONLY_VALUE"),
            ("contacts", {"lifecyclestage": "friend"}, "INVALID_OPTION"),
            ("deals", {"dealname": "No stage"}, "REQUIRED_PROPERTY"),
            ("deals", {"dealname": "X", "dealstage": "closedwon", "amount": "1,5"}, "INVALID_DECIMAL"),
            ("deals", {"dealname": "X", "dealstage": "closedwon", "closedate": "soon"}, "INVALID_DATE"),
            ("line_items", {"name": "X", "hs_product_id": "999999"}, "INVALID_PROPERTY_VALUE"),
        ]
        for type_name, props, code in refused:
            with self.subTest(code=code, props=props):
                status, _, answer = self.call("POST", f"/crm/v3/objects/{type_name}", {"properties": props})
                self.assertEqual(400, status, answer)
                self.assertEqual(code, answer["errors"][0]["code"])
        status, _, answer = self.call("POST", "/crm/v3/objects/contacts", {"properties": {}, "extra": 1})
        self.assertEqual(400, status)
        self.assertIn('Unrecognized field "extra"', answer["message"])
        self.assertEqual(400, self.call("POST", "/crm/v3/objects/tickets", {"properties": {}})[0], "a type the fake lacks")
        self.assertEqual(0, control(self.base, "state", method="GET")["counts"]["contacts"], "nothing was written")

        self.ok("POST", "/crm/v3/objects/contacts", {"properties": {"email": "Ann@B.test"}}, status=201)
        status, _, answer = self.call("POST", "/crm/v3/objects/contacts", {"properties": {"email": "ann@b.test"}})
        self.assertEqual(409, status)
        self.assert_error(answer, "CONFLICT")
        self.assertRegex(answer["message"], r"^Contact already exists\. Existing ID: \d+$")

        too_many = {"inputs": [{"properties": {"name": f"C{i}"}} for i in range(101)]}
        status, _, answer = self.call("POST", "/crm/v3/objects/companies/batch/create", too_many)
        self.assertEqual(400, status, "at most 100 inputs per batch")
        self.assertEqual(201, self.call("POST", "/crm/v3/objects/companies/batch/create",
                                        {"inputs": too_many["inputs"][:100]})[0])
        mixed = [{"properties": {"name": "Good"}}, {"properties": {"name": "Bad", "nope": "x"}}]
        status, _, _ = self.call("POST", "/crm/v3/objects/companies/batch/create", {"inputs": mixed})
        self.assertEqual(400, status, "without objectWriteTraceIds one bad input fails the call")
        traced = [{**m, "objectWriteTraceId": f"t{i}"} for i, m in enumerate(mixed)]
        status, _, answer = self.call("POST", "/crm/v3/objects/companies/batch/create", {"inputs": traced})
        self.assertEqual((207, 1, 1, "t0"), (status, answer["numErrors"], len(answer["results"]),
                                            answer["results"][0]["objectWriteTraceId"]))
        self.assertEqual(101, control(self.base, "state", method="GET")["counts"]["companies"])
        status, _, answer = self.call("POST", "/crm/v3/objects/companies/batch/upsert",
                                      {"inputs": [{"idProperty": "name", "id": "Good", "properties": {}}]})
        self.assertEqual(400, status, "idProperty must be a unique property")
        status, _, answer = self.call("POST", "/crm/v3/objects/contacts/batch/update",
                                      {"inputs": [{"id": "1", "properties": {}}, {"id": "1", "properties": {}}]})
        self.assertEqual(400, status, "duplicate ids")

    def test_every_write_stamps_the_modified_dates_from_the_clock(self):
        control(self.base, "clock", {"now": 1_714_636_800})
        contact = self.ok("POST", "/crm/v3/objects/contacts", {"properties": {"email": "c@d.test"}}, status=201)
        p = contact["properties"]
        self.assertEqual(["2024-05-02T08:00:00.000Z"] * 5, [p["createdate"], p["lastmodifieddate"], p["hs_lastmodifieddate"],
                                                             contact["createdAt"], contact["updatedAt"]])
        self.assertEqual(contact["id"], p["hs_object_id"])
        control(self.base, "clock", {"advance": 90.5})
        same = self.ok("PATCH", f"/crm/v3/objects/contacts/{contact['id']}", {"properties": {"email": "c@d.test"}})
        self.assertEqual(["2024-05-02T08:01:30.500Z"] * 3, [same["properties"]["lastmodifieddate"],
                                                            same["properties"]["hs_lastmodifieddate"], same["updatedAt"]])
        self.assertEqual("2024-05-02T08:00:00.000Z", same["createdAt"])
        by_email = self.ok("GET", "/crm/v3/objects/contacts/C%40D.test?idProperty=email&properties=email")
        self.assertEqual(contact["id"], by_email["id"])
        control(self.base, "clock", {"advance": 10})
        company = self.ok("POST", "/crm/v3/objects/companies", {"properties": {"name": "Acme"}}, status=201)
        self.assertNotIn("lastmodifieddate", company["properties"])
        changed = control(self.base, "set", {"type": "companies", "id": company["id"], "properties": {"city": "Gent"}, "at": "2024-06-01T00:00:00Z"})
        self.assertEqual(("Gent", "2024-06-01T00:00:00.000Z"), (changed["properties"]["city"], changed["updatedAt"]))
        pending = control(self.base, "webhooks", method="GET")["pending"]
        self.assertEqual({"changeSource": "CRM_UI", "propertyName": "city", "propertyValue": "Gent"},
                         {k: pending[-1][k] for k in ("changeSource", "propertyName", "propertyValue")})

    def test_list_paging_archive_and_archived_list(self):
        ids = control(self.base, "seed", {"contacts": 25})["created"]["contacts"]
        seen, after, pages = [], None, 0
        while True:
            page = self.ok("GET", "/crm/v3/objects/contacts?limit=10&properties=email" + (f"&after={after}" if after else ""))
            seen += [r["id"] for r in page["results"]]
            pages += 1
            if "paging" not in page:
                break
            after = page["paging"]["next"]["after"]
            self.assertTrue(page["paging"]["next"]["link"].endswith(f"?after={after}"))
        self.assertEqual((ids, 3), (seen, pages))
        self.assertEqual(400, self.call("GET", "/crm/v3/objects/contacts?limit=101")[0])
        self.ok("DELETE", f"/crm/v3/objects/contacts/{ids[0]}", status=204)
        self.ok("POST", "/crm/v3/objects/contacts/batch/archive", {"inputs": [{"id": ids[1]}, {"id": "424242"}]}, status=204)
        archived = self.ok("GET", "/crm/v3/objects/contacts?archived=true")
        self.assertEqual(ids[:2], [r["id"] for r in archived["results"]])
        self.assertTrue(all(r["archived"] and r["archivedAt"] for r in archived["results"]))
        self.assertEqual(404, self.call("GET", f"/crm/v3/objects/contacts/{ids[0]}")[0])
        self.assertTrue(self.ok("GET", f"/crm/v3/objects/contacts/{ids[0]}?archived=true")["archived"])
        self.assertEqual(404, self.call("PATCH", f"/crm/v3/objects/contacts/{ids[0]}", {"properties": {}})[0])
        self.assertEqual(23, len(self.ok("GET", "/crm/v3/objects/contacts?limit=100")["results"]))
        status, _, answer = self.call("POST", "/crm/v3/objects/contacts/batch/read",
                                      {"inputs": [{"id": ids[0]}, {"id": ids[2]}], "properties": ["email"]})
        self.assertEqual((207, [ids[2]], {"ids": [ids[0]]}), (status, [r["id"] for r in answer["results"]],
                                                              answer["errors"][0]["context"]))
        control(self.base, "set", {"type": "contacts", "id": ids[0], "archived": False})
        self.assertFalse(self.ok("GET", f"/crm/v3/objects/contacts/{ids[0]}")["archived"])

    def test_associations_are_kept_in_both_directions(self):
        seeded = control(self.base, "seed", {"objects": [
            {"type": "companies", "ref": "acme", "properties": {"name": "Acme"}},
            {"type": "contacts", "ref": "ann", "properties": {"email": "ann@acme.test"}, "associations": [{"ref": "acme"}]},
            {"type": "deals", "ref": "deal", "properties": {"dealname": "D", "dealstage": "closedwon"}},
            {"type": "line_items", "ref": "line", "properties": {"name": "L", "quantity": "2", "price": "5"}}]})
        acme, ann, deal, line = (seeded["refs"][k] for k in ("acme", "ann", "deal", "line"))
        back = self.ok("GET", f"/crm/v4/objects/companies/{acme}/associations/contacts")
        self.assertEqual([{"toObjectId": ann, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 280, "label": None}]}],
                         back["results"])
        self.ok("PUT", f"/crm/v4/objects/deals/{deal}/associations/default/contacts/{ann}")
        created = self.ok("POST", "/crm/v4/associations/line_items/deals/batch/create", {"inputs": [
            {"from": {"id": line}, "to": {"id": deal}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 20}]}]},
            status=201)
        self.assertEqual([{"fromObjectTypeId": "0-8", "fromObjectId": line, "toObjectTypeId": "0-3", "toObjectId": deal,
                           "labels": []}], created["results"])
        self.assertEqual([[19]], [[t["typeId"] for t in r["associationTypes"]]
                                  for r in self.ok("GET", f"/crm/v4/objects/deals/{deal}/associations/line_items")["results"]])
        self.assertEqual([[4]], [[t["typeId"] for t in r["associationTypes"]]
                                 for r in self.ok("GET", f"/crm/v4/objects/contacts/{ann}/associations/deals")["results"]])
        listed = self.ok("GET", f"/crm/v3/objects/contacts/{ann}?associations=companies,deals")
        self.assertEqual({"companies": {"results": [{"id": acme, "type": "contact_to_company_unlabeled"}]},
                          "deals": {"results": [{"id": deal, "type": "contact_to_deal"}]}}, listed["associations"])
        wrong = {"inputs": [{"from": {"id": line}, "to": {"id": deal}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                                                   "associationTypeId": 279}]}]}
        self.assertEqual(400, self.call("POST", "/crm/v4/associations/line_items/deals/batch/create", wrong)[0])
        self.assertEqual(404, self.call("PUT", f"/crm/v4/objects/deals/{deal}/associations/default/contacts/999")[0])
        inline = self.ok("POST", "/crm/v3/objects/contacts", {"properties": {"email": "bob@acme.test"}, "associations": [
            {"to": {"id": acme}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]}, status=201)
        self.assertEqual(2, len(self.ok("GET", f"/crm/v4/objects/companies/{acme}/associations/contacts")["results"]))
        self.ok("DELETE", f"/crm/v4/objects/companies/{acme}/associations/contacts/{inline['id']}", status=204)
        self.assertEqual([], self.ok("GET", f"/crm/v4/objects/contacts/{inline['id']}/associations/companies")["results"])
        read = self.call("POST", "/crm/v4/associations/contacts/companies/batch/read",
                         {"inputs": [{"id": ann}, {"id": inline["id"]}]})
        self.assertEqual((207, "crm.associations.NO_ASSOCIATIONS_FOUND"), (read[0], read[2]["errors"][0]["subCategory"]))
        primary = self.ok("PUT", f"/crm/v4/objects/contacts/{ann}/associations/companies/{acme}",
                          [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}], status=201)
        self.assertEqual((ann, acme, ["Primary"]), (primary["fromObjectId"], primary["toObjectId"], primary["labels"]))
        self.assertEqual([[2, 280]], [[t["typeId"] for t in r["associationTypes"]] for r in
                                      self.ok("GET", f"/crm/v4/objects/companies/{acme}/associations/contacts")["results"]])
        self.ok("POST", "/crm/v4/associations/contacts/companies/batch/associate/default",
                {"inputs": [{"from": {"id": inline["id"]}, "to": {"id": acme}}]})
        self.assertEqual(2, len(self.ok("GET", f"/crm/v4/objects/companies/{acme}/associations/contacts")["results"]))
        self.ok("POST", "/crm/v4/associations/companies/contacts/batch/archive",
                {"inputs": [{"from": {"id": acme}, "to": [{"id": ann}, {"id": inline["id"]}]}]}, status=204)
        self.assertEqual([], self.ok("GET", f"/crm/v4/objects/contacts/{ann}/associations/companies")["results"])

    def test_faults_matched_by_method_and_path(self):
        control(self.base, "fault", [{"kind": "status", "status": 503, "retry_after": 7, "method": "POST",
                                      "path": "/crm/v3/objects/contacts/search"},
                                     {"kind": "rate_limit", "path": "/crm/v3/objects/deals"},
                                     {"kind": "expired_token", "path": "/crm/v3/objects/products"}])
        self.assertEqual(200, self.call("GET", "/crm/v3/objects/contacts")[0], "another method and path: no fault")
        status, headers, answer = self.call("POST", "/crm/v3/objects/contacts/search", {})
        self.assertEqual((503, "7"), (status, headers["Retry-After"]))
        self.assert_error(answer, "INTERNAL_ERROR")
        status, headers, answer = self.call("GET", "/crm/v3/objects/deals")
        self.assertEqual((429, "TEN_SECONDLY_ROLLING", "0"), (status, answer["policyName"], headers["X-HubSpot-RateLimit-Remaining"]))
        status, _, answer = self.call("GET", "/crm/v3/objects/products")
        self.assertEqual((401, "EXPIRED_AUTHENTICATION"), (status, answer["category"]))
        self.assertEqual(200, self.call("GET", "/crm/v3/objects/products")[0], "each fault hits once")
        control(self.base, "fault", {"kind": "garbage", "path": "/crm/v3/objects/companies"})
        request = urllib.request.Request(self.base + "/crm/v3/objects/companies", headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            with self.assertRaises(ValueError):
                json.loads(answer.read())
        control(self.base, "fault", {"kind": "drop", "path": "/crm/v3/objects/companies"})
        with self.assertRaises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(request, timeout=5).read()
        control(self.base, "fault", {"kind": "delay", "ms": 300, "path": "/crm/v3/objects/companies"})
        started = time.monotonic()
        self.assertEqual(200, self.call("GET", "/crm/v3/objects/companies")[0])
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        control(self.base, "fault", {"kind": "status", "status": 502, "phase": "after", "method": "POST"})
        self.assertEqual(502, self.call("POST", "/crm/v3/objects/companies", {"properties": {"name": "Lost answer"}})[0])
        self.assertEqual(1, control(self.base, "state", method="GET")["counts"]["companies"], "the call ran, its answer was lost")
        calls = control(self.base, "calls", method="GET")["calls"]
        self.assertEqual([None, "status", "rate_limit", "expired_token", None], [c["fault"] for c in calls[:5]])

    def test_webhooks_from_recorded_changes_signed_v3_and_v1_and_the_targets_answer(self):
        receiver = Receiver(status=204)
        self.addCleanup(receiver.close)
        control(self.base, "clock", {"now": 1_700_000_000})
        contact = self.ok("POST", "/crm/v3/objects/contacts", {"properties": {"email": "hook@x.test", "firstname": "Ho"}}, status=201)
        control(self.base, "clock", {"advance": 1})
        self.ok("PATCH", f"/crm/v3/objects/contacts/{contact['id']}", {"properties": {"firstname": "Hook"}})
        self.ok("DELETE", f"/crm/v3/objects/contacts/{contact['id']}", status=204)
        secret = "whsecret-" + os.urandom(4).hex()
        answer = control(self.base, "webhooks", {"url": receiver.url, "client_secret": secret})
        self.assertEqual((5, 204, 1), (answer["sent"], answer["status"], len(answer["deliveries"])))
        path, headers, body = receiver.received[0]
        self.assertEqual("/hubspot/webhook?source=fake", path)
        events = json.loads(body)
        self.assertEqual(["contact.creation", "contact.propertyChange", "contact.propertyChange", "contact.propertyChange",
                          "contact.deletion"], [e["subscriptionType"] for e in events])
        first = events[0]
        self.assertEqual({"eventId", "subscriptionId", "portalId", "appId", "occurredAt", "subscriptionType", "attemptNumber",
                          "objectId", "changeFlag", "changeSource", "sourceId"}, set(first))
        self.assertEqual((int(contact["id"]), "CREATED", 1_700_000_000_000, 12345678, 0),
                         (first["objectId"], first["changeFlag"], first["occurredAt"], first["portalId"], first["attemptNumber"]))
        self.assertEqual(("firstname", "Hook", 1_700_000_001_000),
                         (events[3]["propertyName"], events[3]["propertyValue"], events[3]["occurredAt"]))
        self.assertEqual("DELETED", events[4]["changeFlag"])
        timestamp = headers["X-HubSpot-Request-Timestamp"]
        self.assertEqual("1700000001000", timestamp, "X-HubSpot-Request-Timestamp: the fake's clock, in ms")
        v3 = base64.b64encode(hmac.new(secret.encode(), b"POST" + receiver.url.encode() + body + timestamp.encode(),
                                       hashlib.sha256).digest()).decode()
        self.assertEqual(v3, headers["X-HubSpot-Signature-v3"])
        self.assertEqual(("v1", hashlib.sha256(secret.encode() + body).hexdigest()),
                         (headers["X-HubSpot-Signature-Version"], headers["X-HubSpot-Signature"]))
        self.assertEqual(("application/json", "10000"), (headers["Content-Type"], headers["X-HubSpot-Timeout-Millis"]))
        self.assertTrue(headers["User-Agent"].startswith("HubSpot Connect 2.0"))
        self.assertTrue({"X-HubSpot-Signature", "X-HubSpot-Signature-Version", "X-HubSpot-Signature-v3",
                         "X-HubSpot-Request-Timestamp"} <= set(receiver.names[0]), "header names as HubSpot writes them")
        self.assertEqual([], control(self.base, "webhooks", method="GET")["pending"], "sent changes are not sent again")

        receiver.status = 500
        answer = control(self.base, "webhooks", {"url": receiver.url, "events": [
            {"subscriptionType": "company.propertyChange", "objectId": 5, "propertyName": "name", "propertyValue": "Ünïcode"}],
            "signature_version": "v2", "attempt_number": 3, "client_secret": secret})
        self.assertEqual((1, 500, '{"ok":true}'), (answer["sent"], answer["status"], answer["body"]))
        _, headers, body = receiver.received[1]
        self.assertIn("Ünïcode".encode(), body, "raw UTF-8, not escaped")
        self.assertEqual(3, json.loads(body)[0]["attemptNumber"])
        self.assertEqual(("v2", hashlib.sha256(secret.encode() + b"POST" + receiver.url.encode() + body).hexdigest()),
                         (headers["X-HubSpot-Signature-Version"], headers["X-HubSpot-Signature"]))
        seeded = control(self.base, "seed", {"contacts": 150})["created"]["contacts"]
        self.assertEqual(0, control(self.base, "webhooks", {"url": receiver.url})["sent"], "generated records record nothing")
        for i, id in enumerate(seeded):
            control(self.base, "set", {"type": "contacts", "id": id, "properties": {"phone": str(i)}})
        answer = control(self.base, "webhooks", {"url": receiver.url, "subscriptionTypes": ["contact.propertyChange"]})
        self.assertEqual((150, [100, 50]), (answer["sent"], [d["events"] for d in answer["deliveries"]]), "at most 100 a POST")
        self.assertEqual(400, api(self.base, "POST", "/__fake__/webhooks", {"url": "http://192.0.2.1/x"}, token=None)[0])

    def test_signing_matches_the_reference_vectors(self):
        fake = load_fake_module()
        secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
        self.assertEqual("Uqayf9EATYg43PeNmeE17hOa4lFz6HGJNBfbAk94Uf0=",
                         fake.sign_v3(secret, "POST", "https://example.com/hubspot/webhook", b'[{"eventId":1}]', 1700000000000))
        self.assertEqual("eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e",
                         fake.sign_v2(secret, "GET", "https://www.example.com/webhook_uri", b""))
        self.assertEqual("9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900",
                         fake.sign_v2(secret, "POST", "https://www.example.com/webhook_uri", b'{"example_field":"example_value"}'))
        self.assertEqual("54b2530692e3a3982727206aeee670ed1d85319cad55d4ddbafcf41725ebf2b3",
                         fake.sign_v1(secret, b'{"example_field":"example_value"}'))
        self.assertNotIn(str(HERE.parent), sys.path, "importing the fake leaves Tests/Fakes off sys.path")

    def test_seeding_ten_thousand_is_fast_and_search_stays_fast(self):
        control(self.base, "ratelimit", {"search_per_second": 1000})
        started = time.monotonic()
        counts = control(self.base, "seed", {"companies": 2500, "contacts": 5000, "deals": 2500, "products": 100,
                                             "line_items": 400, "associate": True})["counts"]
        self.assertLess(time.monotonic() - started, 3.0)
        self.assertEqual(10_500, sum(counts.values()))
        started = time.monotonic()
        answer = self.search("contacts", {"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE",
                                                                        "value": "0"}]}],
                                          "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                                          "limit": 200, "after": "4600"})
        self.assertLess(time.monotonic() - started, 0.5)
        self.assertEqual((5000, 200, "4800"), (answer["total"], len(answer["results"]), answer["paging"]["next"]["after"]))

    def test_controls_refuse_bad_bodies_and_reset_clears(self):
        self.assertEqual(400, api(self.base, "POST", "/__fake__/seed", {"tickets": 3}, token=None)[0])
        self.assertEqual(400, api(self.base, "POST", "/__fake__/ratelimit", {"max": -1}, token=None)[0])
        self.assertEqual(400, api(self.base, "POST", "/__fake__/set", {"type": "contacts", "id": "1"}, token=None)[0])
        control(self.base, "properties", {"type": "deals", "name": "odoo_id", "unique": True})
        first = self.ok("POST", "/crm/v3/objects/deals/batch/upsert", {"inputs": [
            {"idProperty": "odoo_id", "id": "sale.order-1", "properties": {"dealname": "SO1", "dealstage": "closedwon"}}]})
        self.assertEqual((True, "sale.order-1"), (first["results"][0]["new"], first["results"][0]["properties"]["odoo_id"]))
        prop = self.ok("GET", "/crm/v3/properties/deals/odoo_id")
        self.assertTrue(prop["hasUniqueValue"])
        made = self.ok("POST", "/crm/v3/properties/contacts", {"name": "erp_key", "label": "ERP key", "type": "string",
                                                               "fieldType": "text", "groupName": "contactinformation",
                                                               "hasUniqueValue": True}, status=201)
        self.assertEqual("erp_key", made["name"])
        self.ok("POST", "/crm/v3/objects/contacts/batch/upsert", {"inputs": [{"idProperty": "erp_key", "id": "k1", "properties": {}}]})
        control(self.base, "reset")
        self.assertEqual(400, self.call("POST", "/crm/v3/objects/deals/batch/upsert", {"inputs": [
            {"idProperty": "odoo_id", "id": "x", "properties": {"dealname": "SO1", "dealstage": "closedwon"}}]})[0],
            "reset forgets properties added by control")
        self.assertEqual(200, self.call("POST", "/crm/v3/objects/companies/batch/upsert", {"inputs": [
            {"idProperty": "odoo_id", "id": "x", "properties": {"name": "Kept"}}]})[0], "the CLI's stay")


if hubspot is not None:
    from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest, PublicFetchAssociationsBatchRequest
    from hubspot.crm.companies import BatchInputSimplePublicObjectBatchInputUpsert, SimplePublicObjectBatchInputUpsert
    from hubspot.crm.contacts import (ApiException, BatchReadInputSimplePublicObjectId, PublicObjectSearchRequest,
                                      SimplePublicObjectId, SimplePublicObjectInput, SimplePublicObjectInputForCreate)
    from hubspot.exceptions import InvalidSignatureTimestampError
    from hubspot.utils.signature import Signature

    class OfficialClientTests(FakeCase):
        """fake_hubspot.py through hubspot-api-client (the pinned version): every answer parses into its models."""

        def client(self, token=TOKEN):
            # HubSpot(**config) hands every key to each API's Configuration (discovery_base._default_api_factory:
            # setattr(configuration, key, value)), so host= sets api_client.configuration.host of every API.
            return hubspot.HubSpot(access_token=token, host=self.base)

        def test_the_pinned_client_and_every_api_pointed_at_the_fake(self):
            from importlib.metadata import version
            self.assertEqual(CLIENT_PIN, version("hubspot-api-client"))
            c = self.client()
            for api_object in (c.crm.contacts.basic_api, c.crm.companies.batch_api, c.crm.deals.search_api,
                               c.crm.associations.v4.basic_api, c.crm.associations.v4.batch_api, c.oauth.tokens_api):
                self.assertEqual(self.base, api_object.api_client.configuration.host)

        def test_create_get_update_archive(self):
            basic = self.client().crm.contacts.basic_api
            created = basic.create(simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
                properties={"email": "ann@acme.test", "firstname": "Ann", "odoo_ref": "res.partner,7"}, associations=[]))
            self.assertEqual(("Ann", created.id), (created.properties["firstname"], created.properties["hs_object_id"]))
            self.assertEqual(0, created.created_at.utcoffset().total_seconds())
            fetched = basic.get_by_id(created.id, properties=["email", "phone", "odoo_ref"])
            self.assertEqual({"email": "ann@acme.test", "phone": None, "odoo_ref": "res.partner,7"},
                             {k: fetched.properties[k] for k in ("email", "phone", "odoo_ref")})
            updated = basic.update(created.id, simple_public_object_input=SimplePublicObjectInput(properties={"lastname": "Lee"}))
            self.assertEqual("Lee", updated.properties["lastname"])
            self.assertGreaterEqual(updated.updated_at, created.updated_at)
            page = basic.get_page(limit=10, properties=["email"])
            self.assertEqual([created.id], [r.id for r in page.results])
            basic.archive(created.id)
            with self.assertRaises(ApiException) as caught:
                basic.get_by_id(created.id)
            self.assertEqual((404, "OBJECT_NOT_FOUND"), (caught.exception.status, json.loads(caught.exception.body)["category"]))
            archived = basic.get_page(archived=True)
            self.assertEqual([(created.id, True)], [(r.id, r.archived) for r in archived.results])
            self.assertIsNotNone(archived.results[0].archived_at)
            with self.assertRaises(ApiException) as caught:
                basic.create(simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
                    properties={"shoe_size": "42"}, associations=[]))
            body = json.loads(caught.exception.body)
            self.assertEqual((400, "VALIDATION_ERROR"), (caught.exception.status, body["category"]))

        def test_batch_upsert_and_batch_read_by_unique_property(self):
            c = self.client()
            request = BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
                SimplePublicObjectBatchInputUpsert(id_property="odoo_id", id=f"res.partner-{i}", properties={"name": f"P{i}"})
                for i in range(3)])
            first = c.crm.companies.batch_api.upsert(batch_input_simple_public_object_batch_input_upsert=request)
            self.assertEqual(("COMPLETE", [True] * 3), (first.status, [r.new for r in first.results]))
            request.inputs[0].properties = {"name": "P0 renamed"}
            again = c.crm.companies.batch_api.upsert(batch_input_simple_public_object_batch_input_upsert=request)
            self.assertEqual(([False] * 3, first.results[0].id), ([r.new for r in again.results], again.results[0].id))
            self.assertEqual("P0 renamed", again.results[0].properties["name"])
            from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInputUpsert as ContactsUpsert
            from hubspot.crm.contacts import SimplePublicObjectBatchInputUpsert as ContactUpsert
            c.crm.contacts.batch_api.upsert(batch_input_simple_public_object_batch_input_upsert=ContactsUpsert(inputs=[
                ContactUpsert(id_property="email", id="zed@x.test", properties={"firstname": "Zed"})]))
            read = c.crm.contacts.batch_api.read(batch_read_input_simple_public_object_id=BatchReadInputSimplePublicObjectId(
                id_property="email", inputs=[SimplePublicObjectId(id="ZED@x.test")], properties=["firstname"],
                properties_with_history=[]))
            self.assertEqual(["Zed"], [r.properties["firstname"] for r in read.results])

        def test_search_pages_to_the_10000_cap_then_a_new_window_gets_the_rest(self):
            control(self.base, "ratelimit", {"search_per_second": 1000})
            control(self.base, "seed", {"contacts": 10_050, "step_ms": 1})
            search = self.client().crm.contacts.search_api

            def window(since, after):
                return search.do_search(public_object_search_request=PublicObjectSearchRequest(
                    filter_groups=[{"filters": [{"propertyName": "lastmodifieddate", "operator": "GT", "value": str(since)}]}],
                    sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                    properties=["email", "lastmodifieddate"], limit=200, after=after))

            seen, after, last = [], "0", None
            while True:
                page = window(0, after)
                self.assertEqual(10_050, page.total)
                seen += [r.id for r in page.results]
                last = page.results[-1].properties["lastmodifieddate"]
                after = page.paging.next.after
                if int(after) >= 10_000:
                    break
            self.assertEqual((10_000, "10000"), (len(seen), after))
            with self.assertRaises(ApiException) as caught:
                window(0, after)
            self.assertEqual((400, "VALIDATION_ERROR"), (caught.exception.status, json.loads(caught.exception.body)["category"]))
            rest = window(ms_of(last), "0")
            self.assertEqual((50, None), (rest.total, rest.paging))
            seen += [r.id for r in rest.results]
            self.assertEqual(10_050, len(set(seen)))

        def test_associations_v4_read(self):
            seeded = control(self.base, "seed", {"objects": [
                {"type": "companies", "ref": "acme", "properties": {"name": "Acme"}},
                {"type": "contacts", "ref": "ann", "properties": {"email": "ann@acme.test"}, "associations": [{"ref": "acme"}]},
                {"type": "contacts", "ref": "bob", "properties": {"email": "bob@acme.test"}}]})
            acme, ann, bob = (seeded["refs"][k] for k in ("acme", "ann", "bob"))
            v4 = self.client().crm.associations.v4
            page = v4.basic_api.get_page("contacts", ann, "companies", limit=500)
            self.assertEqual([(acme, 279, "HUBSPOT_DEFINED")],
                             [(r.to_object_id, r.association_types[0].type_id, r.association_types[0].category) for r in page.results])
            v4.basic_api.create_default(from_object_type="companies", from_object_id=acme, to_object_type="contacts",
                                        to_object_id=bob)
            batch = v4.batch_api.get_page("companies", "contacts", batch_input_public_fetch_associations_batch_request=
                                          BatchInputPublicFetchAssociationsBatchRequest(inputs=[PublicFetchAssociationsBatchRequest(id=acme)]))
            self.assertEqual([(acme, [ann, bob], {280})], [(r._from.id, [t.to_object_id for t in r.to],
                                                            {x.type_id for t in r.to for x in t.association_types}) for r in batch.results])
            missing = v4.batch_api.get_page("contacts", "companies", batch_input_public_fetch_associations_batch_request=
                                            BatchInputPublicFetchAssociationsBatchRequest(inputs=[PublicFetchAssociationsBatchRequest(id=bob)]))
            self.assertEqual(([bob], 0), ([r._from.id for r in missing.results], getattr(missing, "num_errors", 0) or 0),
                             "bob → acme was made from the company's side")

        def test_oauth_refresh_with_the_clients_tokens_api(self):
            tokens = self.client().oauth.tokens_api
            answer = tokens.create(grant_type="refresh_token", client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                   refresh_token=REFRESH)
            self.assertEqual((1800, "bearer"), (answer.expires_in, answer.token_type))
            self.assertNotEqual(REFRESH, answer.refresh_token)
            basic = self.client(answer.access_token).crm.companies.basic_api
            self.assertEqual([], basic.get_page().results)
            control(self.base, "clock", {"advance": 1800})
            from hubspot.crm.companies import ApiException as CompaniesApiException  # each API has its own class
            with self.assertRaises(CompaniesApiException) as caught:
                basic.get_page()
            body = json.loads(caught.exception.body)
            self.assertEqual((401, "EXPIRED_AUTHENTICATION"), (caught.exception.status, body["category"]))
            again = tokens.create(grant_type="refresh_token", client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                  refresh_token=REFRESH)
            self.assertEqual([], self.client(again.access_token).crm.companies.basic_api.get_page().results)
            from hubspot.oauth import ApiException as OAuthApiException
            with self.assertRaises(OAuthApiException) as caught:
                tokens.create(grant_type="refresh_token", client_id=CLIENT_ID, client_secret="wrong", refresh_token=REFRESH)
            self.assertEqual((400, "BAD_CLIENT_SECRET"), (caught.exception.status, json.loads(caught.exception.body)["status"]))

        def test_the_clients_signature_check_accepts_the_fakes_webhooks(self):
            receiver = Receiver()
            self.addCleanup(receiver.close)
            self.client().crm.contacts.basic_api.create(simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
                properties={"email": "sig@x.test", "firstname": "Zoë"}, associations=[]))
            control(self.base, "webhooks", {"url": receiver.url, "keep": True})
            control(self.base, "webhooks", {"url": receiver.url, "signature_version": "v2", "keep": True})
            control(self.base, "webhooks", {"url": receiver.url, "forge": True, "keep": True})
            control(self.base, "webhooks", {"url": receiver.url, "age": 600})
            (_, h1, b1), (_, h2, b2), (_, h3, b3), (_, h4, b4) = receiver.received
            for headers, body in ((h1, b1), (h2, b2)):
                text = body.decode("utf-8")
                self.assertTrue(Signature.is_valid(headers["X-HubSpot-Signature-v3"], CLIENT_SECRET, text, receiver.url,
                                                   "POST", "v3", headers["X-HubSpot-Request-Timestamp"]))
                version = headers["X-HubSpot-Signature-Version"]
                self.assertTrue(Signature.is_valid(headers["X-HubSpot-Signature"], CLIENT_SECRET, text, receiver.url, "POST",
                                                   version), version)
            self.assertEqual(["v1", "v2"], [h1["X-HubSpot-Signature-Version"], h2["X-HubSpot-Signature-Version"]])
            self.assertFalse(Signature.is_valid(h3["X-HubSpot-Signature-v3"], CLIENT_SECRET, b3.decode(), receiver.url, "POST",
                                                "v3", h3["X-HubSpot-Request-Timestamp"]))
            self.assertFalse(Signature.is_valid(h3["X-HubSpot-Signature"], CLIENT_SECRET, b3.decode(), signature_version="v1"))
            with self.assertRaises(InvalidSignatureTimestampError):
                Signature.is_valid(h4["X-HubSpot-Signature-v3"], CLIENT_SECRET, b4.decode(), receiver.url, "POST", "v3",
                                   h4["X-HubSpot-Request-Timestamp"])

        def test_rate_limit_and_fault_answers_reach_the_client(self):
            from hubspot.crm.deals import ApiException as DealsApiException
            from urllib3.util.retry import Retry
            # urllib3's default Retry (the client passes retry=None on) waits Retry-After and tries a 429 again
            control(self.base, "fault", {"kind": "rate_limit", "retry_after": 1, "path": "/crm/v3/objects/deals"})
            started = time.monotonic()
            self.assertEqual([], self.client().crm.deals.basic_api.get_page().results)
            self.assertGreaterEqual(time.monotonic() - started, 0.9)
            self.assertEqual([429, 200], [c["status"] for c in control(self.base, "calls", method="GET")["calls"]])
            basic = hubspot.HubSpot(access_token=TOKEN, host=self.base, retry=Retry(total=0)).crm.deals.basic_api
            control(self.base, "fault", {"kind": "rate_limit", "retry_after": 4, "path": "/crm/v3/objects/deals"})
            with self.assertRaises(DealsApiException) as caught:
                basic.get_page()
            self.assertEqual((429, "4"), (caught.exception.status, caught.exception.headers["Retry-After"]))
            self.assertEqual("RATE_LIMIT", json.loads(caught.exception.body)["errorType"])
            control(self.base, "fault", {"kind": "status", "status": 502, "path": "/crm/v3/objects/deals"})
            with self.assertRaises(DealsApiException) as caught:
                basic.get_page()
            self.assertEqual(502, caught.exception.status)
            self.assertEqual([], basic.get_page().results)


@unittest.skipIf(hubspot is not None, "the official client runs in this interpreter (OfficialClientTests)")
class OfficialClientInVenv(unittest.TestCase):
    """Runs OfficialClientTests with .build/venv-hubspot's python, where hubspot-api-client is."""

    def test_the_official_hubspot_client_parses_every_answer(self):
        selftest.run_official_client_checks(self, VENV_PYTHON, "hubspot", "ensure_hubspot_client", "Tests/Fakes/hubspot/requirements-hubspot.txt",
                                            REQUIRE_CLIENT, "CONNECTOR_HOST_REQUIRE_HUBSPOT_CLIENT", "test_fake_hubspot.OfficialClientTests", HERE, at_least=8)


if __name__ == "__main__":
    unittest.main()
